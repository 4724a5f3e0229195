#!/usr/bin/env bash
# test-migration on a restored production-like dump: a generated schema of 2,000 tables
# dumped with `pg_dump -Fc`, then `retort test-migration --from-dump --each --keep-going`
# of 20 pending revisions (each adds a column and an index to one table and removes
# them on the way down). Reports the median total, and from one run's own report the
# restore time and the schema checks per revision, each against one `retort dump-schema`
# of the same schema (the cost of one whole-schema inspection) measured in the same run.
# The restore runs with the automatic number of pg_restore jobs (one for a dump that is
# mostly schema, like this one) and once more with --restore-jobs 2; a second dump that
# holds data (TM2K_DATA_TABLES tables of TM2K_DATA_ROWS rows, two indexes each) is
# restored by `retort restore-dump` with -j 1 and with the automatic choice (parallel).
#
#   scripts/bench-test-migration-dump.sh RETORT_BINARY SERVER_URL
#
# SERVER_URL: a superuser URL of a throwaway server (`scripts/pg-local.sh start`); the
# script creates and drops the database schema2k there, and test-migration uses the
# server for its scratch databases. TM2K_TABLES, TM2K_REVISIONS and TM2K_RUNS change the
# shape. Results: target/bench/testmig2k*.json and target/bench/testmig2k.txt.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 RETORT_BINARY SERVER_URL" >&2
    exit 2
fi
RETORT="$(realpath -- "$1")"
URL="$2"
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

TABLES="${TM2K_TABLES:-2000}"
REVISIONS="${TM2K_REVISIONS:-20}"
RUNS="${TM2K_RUNS:-3}"
DATA_TABLES="${TM2K_DATA_TABLES:-8}"
DATA_ROWS="${TM2K_DATA_ROWS:-600000}"
OUT="$PWD/target/bench"
WORK="$OUT/testmig2k"
log() { printf 'bench-test-migration-dump: %s\n' "$*" >&2; }

for tool in hyperfine jq psql pg_dump; do
    command -v "$tool" >/dev/null || { log "needs $tool on PATH"; exit 2; }
done
((REVISIONS <= TABLES)) || { log "TM2K_REVISIONS must not exceed TM2K_TABLES"; exit 2; }

rm -rf -- "$WORK"
mkdir -p -- "$WORK/versions" "$OUT"
db_url="${URL%/*}/schema2k"
data_url="${URL%/*}/data2k"
cleanup() {
    for db in schema2k data2k data2k_restored; do
        psql -X -q -d "$URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT
psql -X -q -d "$URL" -c 'DROP DATABASE IF EXISTS schema2k WITH (FORCE)' -c 'CREATE DATABASE schema2k'
log "loading $TABLES tables and dumping them (pg_dump -Fc)"
scripts/gen-schema.sh "$TABLES" | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$db_url" >/dev/null
pg_dump -Fc -f "$WORK/prod.dump" -d "$db_url"

# REVISIONS revisions spread over the schema: a column and an index on one table each.
step=$((TABLES / REVISIONS))
parent=""
for ((i = 1; i <= REVISIONS; i++)); do
    id=$(printf '%04d_%012x' "$i" "$((i * 2654435761 % 281474976710656))")
    t="bench.t$((i * step))"
    {
        printf -- '-- revision: %s\n-- down_revision: %s\n-- message: note %d\n\n' "$id" "$parent" "$i"
        printf -- '-- migrate:upgrade\nALTER TABLE %s ADD COLUMN note_%d text;\n' "$t" "$i"
        printf 'CREATE INDEX t%d_note_%d_idx ON %s (note_%d);\n\n' "$((i * step))" "$i" "$t" "$i"
        printf -- '-- migrate:downgrade\nDROP INDEX bench.t%d_note_%d_idx;\n' "$((i * step))" "$i"
        printf 'ALTER TABLE %s DROP COLUMN note_%d;\n' "$t" "$i"
    } >"$WORK/versions/${id}_note_$i.sql"
    parent="$id"
done
"$RETORT" -q --versions "$WORK/versions" rehash >/dev/null

psql -X -q -d "$URL" -c 'CHECKPOINT' >/dev/null
log "$TABLES tables, $REVISIONS revisions: test-migration --from-dump --each --keep-going ($RUNS runs)"
hyperfine --shell=none --warmup 0 --runs "$RUNS" --style basic --export-json "$OUT/testmig2k.json" \
    -n "retort dump-schema ($TABLES tables)" "$RETORT --database-url $db_url dump-schema" \
    -n "retort test-migration --from-dump --each --keep-going ($TABLES tables, $REVISIONS revisions)" \
    "$RETORT -q --versions $WORK/versions test-migration --from-dump $WORK/prod.dump --each --keep-going --scratch server --scratch-url $URL" >&2
# Where the time goes, from one run's own report.
"$RETORT" --json --versions "$WORK/versions" test-migration --from-dump "$WORK/prod.dump" \
    --each --keep-going --scratch server --scratch-url "$URL" >"$OUT/testmig2k-report.json"
jq -e '.passed' "$OUT/testmig2k-report.json" >/dev/null || { log "FAIL: the generated revisions did not pass"; exit 1; }

dump_s=$(jq -r '.results[0].median' "$OUT/testmig2k.json")
total_s=$(jq -r '.results[1].median' "$OUT/testmig2k.json")
"$RETORT" --json --versions "$WORK/versions" test-migration --from-dump "$WORK/prod.dump" \
    --restore-jobs 2 --each --keep-going --scratch server --scratch-url "$URL" >"$OUT/testmig2k-report-j2.json"
restore_ms=$(jq -r '.source.restore.duration_ms' "$OUT/testmig2k-report.json")
restore_jobs=$(jq -r '.source.restore.jobs' "$OUT/testmig2k-report.json")
restore2_ms=$(jq -r '.source.restore.duration_ms' "$OUT/testmig2k-report-j2.json")

# A dump with data: one pg_restore job against the automatic choice.
log "$DATA_TABLES tables of $DATA_ROWS rows: restore-dump with one job and with the automatic choice"
psql -X -q -d "$URL" -c 'DROP DATABASE IF EXISTS data2k' -c 'CREATE DATABASE data2k'
for ((i = 1; i <= DATA_TABLES; i++)); do
    printf 'CREATE TABLE d%d (id bigint PRIMARY KEY, a int, b text);\n' "$i"
    printf 'INSERT INTO d%d SELECT g, g %% 1000, md5(g::text) FROM generate_series(1, %d) g;\n' "$i" "$DATA_ROWS"
    printf 'CREATE INDEX ON d%d (a); CREATE INDEX ON d%d (b);\n' "$i" "$i"
done | psql -X -q -v ON_ERROR_STOP=1 -d "$data_url" >/dev/null
pg_dump -Fc -f "$WORK/data.dump" -d "$data_url"
data_mb=$(du -m "$WORK/data.dump" | cut -f1)
"$RETORT" --database-url "$URL" --json restore-dump "$WORK/data.dump" --into data2k_restored --replace \
    >"$OUT/testmig2k-data-auto.json"
data_jobs=$(jq -r '.jobs' "$OUT/testmig2k-data-auto.json")
hyperfine --shell=none --warmup 0 --runs "$RUNS" --style basic --export-json "$OUT/testmig2k-data.json" \
    -n "retort restore-dump -j 1 ($data_mb MB)" \
    "$RETORT -q --database-url $URL restore-dump $WORK/data.dump --into data2k_restored --replace -j 1" \
    -n "retort restore-dump, automatic jobs ($data_mb MB)" \
    "$RETORT -q --database-url $URL restore-dump $WORK/data.dump --into data2k_restored --replace" >&2
data1_s=$(jq -r '.results[0].median' "$OUT/testmig2k-data.json")
dataauto_s=$(jq -r '.results[1].median' "$OUT/testmig2k-data.json")
check_ms=$(jq -r '.report.check_ms' "$OUT/testmig2k-report.json")
inspections=$(jq -r '.report.inspections | "\(.whole) whole, \(.scoped) scoped (\(.relations_read) relations read again), \(.unchanged) unchanged"' "$OUT/testmig2k-report.json")
{
    printf '%s tables restored from pg_dump -Fc, %s revisions: test-migration --from-dump --each --keep-going (%s runs)\n' "$TABLES" "$REVISIONS" "$RUNS"
    awk -v d="$dump_s" -v t="$total_s" -v r="$restore_ms" -v c="$check_ms" -v n="$REVISIONS" \
        -v j="$restore_jobs" -v r2="$restore2_ms" 'BEGIN {
        dm = d * 1000
        printf "  %-52s %10.1f ms\n", "retort dump-schema (one whole-schema inspection)", dm
        printf "  %-52s %10.1f ms\n", "test-migration, total (median)", t * 1000
        printf "  %-52s %10.1f ms   %.1fx one dump-schema\n", "restore, automatic: " j " job(s) (one run)", r, r / dm
        printf "  %-52s %10.1f ms   %.1fx one dump-schema\n", "restore, --restore-jobs 2 (one run)", r2, r2 / dm
        printf "  %-52s %10.1f ms   %.2fx one dump-schema\n", "schema checks per revision (one run)", c / n, c / n / dm
    }'
    printf '  inspections: %s\n' "$inspections"
    awk -v one="$data1_s" -v auto="$dataauto_s" -v j="$data_jobs" -v mb="$data_mb" -v t="$DATA_TABLES" -v rows="$DATA_ROWS" 'BEGIN {
        printf "  a dump with data (%d tables of %d rows, %d MB), restore-dump (medians):\n", t, rows, mb
        printf "  %-52s %10.1f ms\n", "one pg_restore job", one * 1000
        printf "  %-52s %10.1f ms   %.2fx faster\n", "automatic: " j " jobs", auto * 1000, one / auto
    }'
} >"$OUT/testmig2k.txt"
cat "$OUT/testmig2k.txt"
