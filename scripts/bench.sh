#!/usr/bin/env bash
# `make bench`: times retort's offline commands on generated chains with hyperfine
# and reports medians and ratios against baselines measured in the same run.
#
#   1. 10,000 revisions: `retort history`, `heads`, `verify --files`, against
#      `cat versions/*.sql` (the bare cost of reading every file once).
#   2. 1,000 revisions: `retort history` against `alembic history` on an equivalent
#      Alembic project (Alembic installed into a private venv from PyPI; skipped with a
#      note, never faked, when that is impossible), and `retort lint --all` (under 1 s).
#   3. 1,000 revisions on a throwaway PostgreSQL: `retort upgrade` and `downgrade base`
#      against psql running the same per-revision transactions from one file, and
#      against psql running retort's own `--sql` script (same bookkeeping).
#   4. A generated schema of 5,000 tables: `retort dump-schema` against
#      `pg_dump --schema-only`, time and peak memory.
#   5. A 200-revision chain: `retort test-migration --each` (on the bench server and on
#      a private cluster) against psql sending the same stairway SQL without checks;
#      time per revision and the share of CPU spent in retort versus waiting.
#   5b. A 2,000-table dump (pg_dump -Fc) with 20 pending revisions: `retort
#      test-migration --from-dump --each --keep-going`; the restore and the schema checks
#      per revision against one `retort dump-schema` (scripts/bench-test-migration-dump.sh).
#   6. `new-migration --autogenerate` on the 5,000-table schema with one column
#      changed: total time and the split between loading, inspecting and diffing.
#   7. `retort fleet upgrade` of 200 databases x 20 revisions at concurrency 1, 4, 8
#      (scripts/bench-fleet.sh), and 40 x 5 revisions that wait in pg_sleep.
#   8. 3 and 4 again on PostgreSQL 13 and 18 (BENCH_MAJORS), each on a private server of
#      that major with its own psql and pg_dump (scripts/bench-majors.sh).
#   9. A backfill of 2,000,000 rows (BENCH_BATCH_ROWS) as a `-- migrate:batch` section
#      of size 10,000 run by `retort upgrade`, against one UPDATE through psql, each
#      beside a pgbench workload of single-row updates on random ids: rows per second
#      (and the ratio) and the workload's longest wait for the backfill's row locks
#      (scripts/bench-batch.sh; BENCH_BATCH_RUNS runs, default 3; appended to the summary).
#  10. `retort fleet upgrade --queue` with 1, 2 and 4 worker processes sharing 400 tenant
#      schemas x 5 revisions that wait 50 ms in pg_sleep, --concurrency 4 each: wall time
#      until every worker has exited, targets/s and the speed-up over one worker; then
#      every tenant's history checked (scripts/bench-fleet-queue.sh; appended to the
#      summary).
#  11. `retort fleet upgrade --schemas` of 10,000 tenant schemas of one database x 5
#      revisions at concurrency 8: targets per second and the peak of server connections
#      during the run, which the shared connections keep at the concurrency
#      (scripts/bench-fleet-schemas.sh; FLEET_SCHEMAS overrides the count; appended to
#      the summary).
#
# Results: target/bench/*.json (hyperfine exports) and target/bench/summary.txt.
# Fails when `retort history` on 10,000 revisions has a median of 1 s or more, or
# when `retort upgrade` is more than 1.5x psql, or dump-schema more than 0.5x pg_dump,
# or `retort lint --all` on 1,000 revisions takes 1 s or more, or when autogenerate on
# 5,000 tables spends 1 s or more inspecting and diffing (median of its runs).
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

OUT="$PWD/target/bench"
RUNS="${BENCH_RUNS:-20}"
log() { printf 'bench: %s\n' "$*" >&2; }

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"
        return 1
    fi
}

if ! command -v hyperfine >/dev/null 2>&1; then
    log "installing hyperfine with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >&2
fi
command -v jq >/dev/null 2>&1 || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >&2

cargo build --release --quiet
RETORT="$PWD/target/release/retort"

rm -rf -- "$OUT"
mkdir -p -- "$OUT"
big="$OUT/chain10k"
small="$OUT/chain1k"
scripts/gen-chain.sh 10000 "$big/versions"
scripts/gen-chain.sh 1000 "$small/versions"
"$RETORT" -q --versions "$big/versions" rehash >/dev/null
"$RETORT" -q --versions "$small/versions" rehash >/dev/null

median() { jq -r ".results[$2].median" "$OUT/$1.json"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

hf() {
    local name="$1"
    shift
    hyperfine --shell=none --warmup 3 --runs "$RUNS" --style basic --export-json "$OUT/$name.json" "$@" >&2
}

log "10,000 revisions"
# --versions everywhere: target/bench lies inside this repository, whose own
# retort.toml would otherwise be discovered.
hf chain10k \
    -n 'cat versions/*.sql' "sh -c 'cat $big/versions/*.sql'" \
    -n 'retort history' "$RETORT --versions $big/versions history" \
    -n 'retort heads' "$RETORT --versions $big/versions heads" \
    -n 'retort verify --files' "$RETORT --versions $big/versions verify --files"
# hyperfine discards each command's stdout (as `> /dev/null` would); formatting costs
# are included, terminal rendering is not.

log "1,000 revisions: retort lint"
# Every statement goes through PostgreSQL's parser (pg_query); the target is well under
# a second for the whole chain.
hf lint1k -i -n 'retort lint --all (1,000 revisions)' "$RETORT --versions $small/versions lint --all --json"

alembic_note=""
ALEMBIC=""
if python3 -m venv "$OUT/venv" >&2 2>/dev/null && "$OUT/venv/bin/pip" install -q alembic >&2; then
    ALEMBIC="$OUT/venv/bin/alembic"
else
    alembic_note="alembic could not be installed (no python3 venv or PyPI); comparison skipped"
    log "$alembic_note"
fi

if [[ -n "$ALEMBIC" ]]; then
    alembic_dir="$OUT/alembic1k"
    mkdir -p -- "$alembic_dir"
    (cd "$alembic_dir" && "$ALEMBIC" init migrations >/dev/null)
    sed -i "s|^script_location = .*|script_location = $alembic_dir/migrations|" "$alembic_dir/alembic.ini"
    # Same graph as chain1k: 1,000 linear revisions, each creating one table.
    python3 - "$alembic_dir/migrations/versions" <<'PY'
import os, sys
d = sys.argv[1]
prev = None
for i in range(1, 1001):
    rid = "%012x" % (i * 2654435761 % 281474976710656)
    with open(os.path.join(d, f"{rid}_create_table_t{i}.py"), "w") as f:
        f.write(f'''"""create table t{i}

Revision ID: {rid}
Revises: {prev or ''}
Create Date: 2026-11-22 10:00:00

"""
from alembic import op

revision = {rid!r}
down_revision = {prev!r}
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE t{i} (id bigint PRIMARY KEY, note text)")


def downgrade():
    op.execute("DROP TABLE t{i}")
''')
    prev = rid
PY
    log "1,000 revisions: retort vs alembic"
    hf chain1k \
        -n 'alembic history' "$ALEMBIC -c $alembic_dir/alembic.ini history" \
        -n 'retort history' "$RETORT --versions $small/versions history"
else
    log "1,000 revisions: retort only"
    hf chain1k -n 'retort history' "$RETORT --versions $small/versions history"
fi

# ---------------------------------------------------------------------------
# Online: upgrade / downgrade of 1,000 small revisions against psql doing the same
# per-revision transactions, on a throwaway server of our own.
# ---------------------------------------------------------------------------
export RETORT_PG_STATE="$OUT/pg-state"
url="$(scripts/pg-local.sh start)"
trap 'RETORT_PG_STATE="$OUT/pg-state" scripts/pg-local.sh stop' EXIT
PSQL="$(command -v psql || ls /usr/lib/postgresql/*/bin/psql | tail -n 1)"
bench_url="${url%/postgres}/bench"
recreate="$PSQL -X -q -d $url -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench'"

# psql baseline: BEGIN; <upgrade section>; COMMIT; per revision, in one psql process.
section() { # FILE upgrade|downgrade
    awk -v want="$2" '/^-- migrate:/ { on = ($2 == "migrate:" want) ; next } on' "$1"
}
: >"$OUT/psql-up.sql"
for f in "$small"/versions/[0-9]*.sql; do
    printf 'BEGIN;\n%s\nCOMMIT;\n' "$(section "$f" upgrade)" >>"$OUT/psql-up.sql"
done
: >"$OUT/psql-down.sql"
for f in $(ls -r "$small"/versions/[0-9]*.sql); do
    printf 'BEGIN;\n%s\nCOMMIT;\n' "$(section "$f" downgrade)" >>"$OUT/psql-down.sql"
done
"$RETORT" --versions "$small/versions" upgrade --sql head >"$OUT/retort-up.sql"
"$RETORT" --versions "$small/versions" downgrade --sql head:base >"$OUT/retort-down.sql"

log "1,000 revisions: upgrade against psql"
hf upgrade1k --prepare "sh -c \"$recreate\"" \
    -n 'psql: revision SQL, BEGIN/COMMIT each' "$PSQL -X -q -v ON_ERROR_STOP=1 -d $bench_url -f $OUT/psql-up.sql" \
    -n 'psql: retort upgrade --sql script' "$PSQL -X -q -v ON_ERROR_STOP=1 -d $bench_url -f $OUT/retort-up.sql" \
    -n 'retort upgrade' "$RETORT -q --versions $small/versions --database-url $bench_url upgrade"

log "1,000 revisions: downgrade against psql"
hf downgrade1k \
    --prepare "sh -c \"$recreate && $RETORT -q --versions $small/versions --database-url $bench_url upgrade\"" \
    -n 'psql: revision SQL, BEGIN/COMMIT each' "$PSQL -X -q -v ON_ERROR_STOP=1 -d $bench_url -f $OUT/psql-down.sql" \
    -n 'psql: retort downgrade --sql script' "$PSQL -X -q -v ON_ERROR_STOP=1 -d $bench_url -f $OUT/retort-down.sql" \
    -n 'retort downgrade base' "$RETORT -q --versions $small/versions --database-url $bench_url downgrade base"

# ---------------------------------------------------------------------------
# dump-schema against pg_dump --schema-only on 5,000 tables (plus their identity
# sequences, indexes, foreign keys, 500 views and 500 functions).
# ---------------------------------------------------------------------------
PG_DUMP="$(dirname -- "$(readlink -f -- "$PSQL")")/pg_dump"
[[ -x "$PG_DUMP" ]] || PG_DUMP="$(command -v pg_dump)"
schema_url="${url%/postgres}/schema5k"
log "loading a schema of 5,000 tables (takes a while)"
$PSQL -X -q -d "$url" -c 'DROP DATABASE IF EXISTS schema5k WITH (FORCE)' -c 'CREATE DATABASE schema5k'
scripts/gen-schema.sh 5000 | $PSQL -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$schema_url" >/dev/null
log "5,000 tables: dump-schema against pg_dump --schema-only"
hf schema5k \
    -n 'pg_dump --schema-only' "$PG_DUMP --schema-only -d $schema_url" \
    -n 'retort dump-schema' "$RETORT --database-url $schema_url dump-schema"
# Peak memory (maximum resident set size) of one run of each.
peak_kb() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1; }
pg_dump_kb=$(peak_kb "$PG_DUMP" --schema-only -d "$schema_url")
retort_kb=$(peak_kb "$RETORT" --database-url "$schema_url" dump-schema)
retort_objects=$("$RETORT" --database-url "$schema_url" dump-schema | grep -c '^CREATE' || true)

# ---------------------------------------------------------------------------
# test-migration --each on a generated 200-revision chain: three steps and three
# schema inspections per revision. Baseline: psql sending the same stairway SQL
# (upgrade, downgrade, upgrade; each its own transaction) without any schema check.
# ---------------------------------------------------------------------------
chain200="$OUT/chain200"
scripts/gen-chain.sh 200 "$chain200/versions"
"$RETORT" -q --versions "$chain200/versions" rehash >/dev/null
: >"$OUT/psql-stairway.sql"
for f in "$chain200"/versions/[0-9]*.sql; do
    up="$(section "$f" upgrade)"
    down="$(section "$f" downgrade)"
    printf 'BEGIN;\n%s\nCOMMIT;\nBEGIN;\n%s\nCOMMIT;\nBEGIN;\n%s\nCOMMIT;\n' "$up" "$down" "$up" >>"$OUT/psql-stairway.sql"
done
TM_RUNS="${BENCH_TM_RUNS:-5}"
log "200 revisions: test-migration --each ($TM_RUNS runs)"
hyperfine --shell=none --warmup 1 --runs "$TM_RUNS" --style basic --export-json "$OUT/testmig200.json" \
    --prepare "sh -c \"$recreate\"" \
    -n 'psql: the stairway SQL alone' "$PSQL -X -q -v ON_ERROR_STOP=1 -d $bench_url -f $OUT/psql-stairway.sql" \
    -n 'retort test-migration --each, existing server' "$RETORT -q --versions $chain200/versions test-migration --each --scratch server --scratch-url $url" \
    -n 'retort test-migration --each, private cluster' "$RETORT -q --versions $chain200/versions test-migration --each --scratch local" >&2
# Where the time goes, from one run's own report.
"$RETORT" --json --versions "$chain200/versions" test-migration --each --scratch server --scratch-url "$url" >"$OUT/testmig200-report.json"

log "2,000-table dump: test-migration --from-dump --each --keep-going"
scripts/bench-test-migration-dump.sh "$RETORT" "$url" >/dev/null

# ---------------------------------------------------------------------------
# autogenerate on the 5,000-table schema with one column changed: the chain is one
# revision creating the schema, the models are the same schema with one column's type
# changed. Both are loaded into scratch databases of the bench server concurrently,
# inspected, diffed. The -v timing lines give the split.
# ---------------------------------------------------------------------------
# The earlier sections leave a 5,000-table database and the upgrade database behind,
# with their writes still to be checkpointed: dropped and flushed first, so that the
# autogenerate figures measure autogenerate, not the cleanup of earlier sections.
"$PSQL" -X -q -d "$url" -c 'DROP DATABASE IF EXISTS schema5k WITH (FORCE)' \
    -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CHECKPOINT'
auto="$OUT/autogen5k"
mkdir -p "$auto/versions" "$auto/models"
# A retort.toml of its own: target/bench lies inside this repository, whose retort.toml
# (and models/) would otherwise be found.
printf 'versions = "versions"\nmodels = "models"\n' >"$auto/retort.toml"
{
    printf -- '-- revision: 0001_000000000001\n-- down_revision:\n-- message: create the bench schema\n\n-- migrate:upgrade\n'
    scripts/gen-schema.sh 5000
    printf '\n-- migrate:downgrade\nDROP SCHEMA bench CASCADE;\n'
} >"$auto/versions/0001_000000000001_create_the_bench_schema.sql"
# One column changed: t2500.amount from numeric(12,2) to numeric(14,2).
scripts/gen-schema.sh 5000 | awk '/^CREATE TABLE bench.t2500 / { t = 1 } t && /amount numeric\(12,2\)/ { sub(/numeric\(12,2\)/, "numeric(14,2)"); t = 0 } { print }' >"$auto/models/schema.sql"
cmp -s <(scripts/gen-schema.sh 5000) "$auto/models/schema.sql" && { log "FAIL: the models do not differ from the chain"; exit 1; }
AG_RUNS="${BENCH_AG_RUNS:-3}"
log "5,000 tables: new-migration --autogenerate with one column changed ($AG_RUNS runs)"
# Each timed run writes its -v phase timings (stderr) to a file of its own, so the
# split comes from the very runs hyperfine times.
rm -rf "$OUT/autogen5k-runs" && mkdir -p "$OUT/autogen5k-runs"
hyperfine --shell=bash --warmup 0 --runs "$AG_RUNS" --style basic --export-json "$OUT/autogen5k.json" \
    -n 'retort new-migration --autogenerate (5,000 tables, 1 column changed)' \
    "rm -rf $auto/run && mkdir -p $auto/run && cp -r $auto/versions $auto/models $auto/retort.toml $auto/run/ && cd $auto/run && $RETORT -v new-migration -m 'widen amount' --autogenerate --scratch server --scratch-url $url >/dev/null 2>$OUT/autogen5k-runs/\$(date +%s%N).txt" >&2
grep -q 'numeric(14,2)' "$auto"/run/versions/0002_*.sql || { log "FAIL: the autogenerated revision lacks the change"; exit 1; }
# The target: inspection plus diff under 1 s, the median of the runs. Each source is
# inspected as soon as it is loaded, so the inspection waited for is what runs after
# the later load ends.
ag_targets=()
for timing in "$OUT"/autogen5k-runs/*.txt; do
    ins=$(sed -n 's/.*; \([0-9]*\) ms of inspection after the last load.*/\1/p' "$timing")
    dif=$(sed -n 's/.*both directions in \([0-9]*\) ms.*/\1/p' "$timing")
    [[ -n "$ins" && -n "$dif" ]] || { log "FAIL: no phase timings in $timing"; exit 1; }
    ag_targets+=("$((ins + dif)) $timing $ins $dif")
done
((${#ag_targets[@]} == AG_RUNS)) || { log "FAIL: ${#ag_targets[@]} timing files for $AG_RUNS runs"; exit 1; }
# The median run by inspection + diff; its timing lines are the ones reported.
read -r ag_target ag_median_run ag_inspect ag_diff < <(printf '%s\n' "${ag_targets[@]}" | sort -n | sed -n "$(((AG_RUNS + 1) / 2))p")
cp "$ag_median_run" "$OUT/autogen5k-timing.txt"
ag_all=$(printf '%s\n' "${ag_targets[@]}" | awk '{ printf "%s%s ms", (NR > 1 ? ", " : ""), $1 }')
log "autogenerate: inspection ${ag_inspect} ms + diff ${ag_diff} ms = ${ag_target} ms, median of ${ag_all} (target < 1000 ms)"

# ---------------------------------------------------------------------------
# fleet upgrade: 200 databases x 20 revisions at concurrency 1, 4 and 8 (throughput and
# the scaling curve), then 40 x 5 revisions that each wait 50 ms in pg_sleep, standing in
# for work that waits rather than burns this small server's CPU.
# ---------------------------------------------------------------------------
log "fleet: 200 databases x 20 revisions at concurrency 1, 4, 8"
psql -q -X -d "$url" -c 'CHECKPOINT' >/dev/null
scripts/bench-fleet.sh "$RETORT" "$url" >/dev/null
log "fleet: 40 databases x 5 revisions waiting 50 ms each, at concurrency 1, 4, 8"
FLEET_TAG=-wait FLEET_TARGETS=40 FLEET_REVISIONS=5 FLEET_SLEEP=0.05 \
    scripts/bench-fleet.sh "$RETORT" "$url" >/dev/null


{
    printf 'retort benchmarks (%s runs each, medians; %s)\n' "$RUNS" "$(date -u +%FT%TZ)"
    printf 'machine: %s cores, %s\n\n' "$(nproc)" "$(uname -sr)"
    base=$(median chain10k 0)
    printf '10,000 revisions\n'
    printf '  %-26s %12s\n' 'cat versions/*.sql' "$(ms "$base")"
    for i in 1 2 3; do
        name=$(jq -r ".results[$i].command" "$OUT/chain10k.json")
        m=$(median chain10k "$i")
        printf '  %-26s %12s   %s of cat\n' "$name" "$(ms "$m")" "$(ratio "$m" "$base")"
    done
    printf '\n1,000 revisions\n'
    if [[ -n "$ALEMBIC" ]]; then
        a=$(median chain1k 0)
        r=$(median chain1k 1)
        printf '  %-26s %12s\n' 'alembic history' "$(ms "$a")"
        printf '  %-26s %12s   alembic is %s slower\n' 'retort history' "$(ms "$r")" "$(ratio "$a" "$r")"
    else
        printf '  %-26s %12s   (%s)\n' 'retort history' "$(ms "$(median chain1k 0)")" "$alembic_note"
    fi
    for kind in upgrade downgrade; do
        printf '\n1,000 revisions, %s (each run on a fresh database)\n' "$kind"
        base=$(median "${kind}1k" 0)
        for i in 0 1 2; do
            name=$(jq -r ".results[$i].command" "$OUT/${kind}1k.json")
            m=$(median "${kind}1k" "$i")
            printf '  %-40s %10s   %s of psql\n' "$name" "$(ms "$m")" "$(ratio "$m" "$base")"
        done
    done
    printf '\n5,000 tables (%s CREATE statements in the dump), schema dump\n' "$retort_objects"
    base=$(median schema5k 0)
    m=$(median schema5k 1)
    printf '  %-40s %10s   peak RSS %6d KiB\n' 'pg_dump --schema-only' "$(ms "$base")" "$pg_dump_kb"
    printf '  %-40s %10s   peak RSS %6d KiB   %s of pg_dump\n' 'retort dump-schema' "$(ms "$m")" "$retort_kb" "$(ratio "$m" "$base")"
    printf '\n200 revisions, test-migration --each (%s runs; upgrade, downgrade, compare, upgrade, compare per revision)\n' "$TM_RUNS"
    base=$(median testmig200 0)
    for i in 0 1 2; do
        name=$(jq -r ".results[$i].command" "$OUT/testmig200.json")
        m=$(median testmig200 "$i")
        # user+system CPU of the retort process against wall time: the rest is waiting,
        # on the server (and, for the private cluster, on initdb and its start-up).
        share=$(jq -r ".results[$i] | (.user + .system) / .mean * 100" "$OUT/testmig200.json")
        printf '  %-48s %10s   %6.2f ms/revision   %5.1f%% CPU in the client   %s of psql\n' \
            "$name" "$(ms "$m")" "$(awk -v m="$m" 'BEGIN { print m * 1000 / 200 }')" "$share" "$(ratio "$m" "$base")"
    done
    jq -r '"  one run'"'"'s report: upgrades \(.report.upgrade_ms) ms, downgrades \(.report.downgrade_ms) ms, upgrades again \(.report.again_ms) ms, schema inspections and comparisons \(.report.check_ms) ms; \(.total_ms) ms in all for \(.report.revisions | length) revisions (the rest: scratch database, connection, loading the chain)"' "$OUT/testmig200-report.json"
    printf '\n'
    sed 's/^/  /' "$OUT/testmig2k.txt"
    printf '\n1,000 revisions, lint (every statement parsed by pg_query)\n'
    printf '  %-48s %10s   target < 1 s\n' 'retort lint --all' "$(ms "$(median lint1k 0)")"
    printf '\n5,000 tables, new-migration --autogenerate with one column changed (%s runs)\n' "$AG_RUNS"
    printf '  %-48s %10s\n' 'total (median)' "$(ms "$(median autogen5k 0)")"
    sed -n 's/^/  /p' "$OUT/autogen5k-timing.txt" | grep -E 'loading|diffed'
    printf '  %-48s %10s   median of %s runs: %s\n' 'inspection + diff (target < 1000 ms)' "${ag_target} ms" "$AG_RUNS" "$ag_all"
    printf '  the generated upgrade:\n'
    sed -n '/^-- migrate:upgrade/,/^-- migrate:downgrade/p' "$auto"/run/versions/0002_*.sql | grep -v '^-- migrate' | sed '/^$/d; s/^/    /'
    for tag in "" -wait; do
        printf '\n'
        sed 's/^/  /' "$OUT/fleet$tag.txt"
    done
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"

# The upgrade and dump-schema comparisons on other majors (BENCH_MAJORS, default 13
# and 18; empty to skip), each on its own server: target/bench/majors.txt.
majors="${BENCH_MAJORS-13 18}"
if [[ -n "$majors" ]]; then
    # shellcheck disable=SC2086 # a list of majors
    scripts/bench-majors.sh "$RETORT" $majors
fi

# The batched backfill against one UPDATE, on the bench server: target/bench/batch.txt,
# appended to the summary.
log "batch: a backfill of ${BENCH_BATCH_ROWS:-2000000} rows in batches against one UPDATE, beside a workload"
"$PSQL" -X -q -d "$url" -c 'CHECKPOINT' >/dev/null
PATH="$(scripts/pg-local.sh bin):$PATH" scripts/bench-batch.sh "$RETORT" "$url" >/dev/null
{
    printf '\n'
    sed 's/^/  /' "$OUT/batch.txt"
} >>"$OUT/summary.txt"
sed 's/^/  /' "$OUT/batch.txt" >&2

# Queue workers sharing one fleet run, on the bench server: target/bench/fleet-queue.txt,
# appended to the summary.
log "fleet queue: 1, 2 and 4 workers on 400 tenant schemas x 5 revisions waiting 50 ms each"
"$PSQL" -X -q -d "$url" -c 'CHECKPOINT' >/dev/null
scripts/bench-fleet-queue.sh "$RETORT" "$url" >/dev/null
{
    printf '\n'
    sed 's/^/  /' "$OUT/fleet-queue.txt"
} >>"$OUT/summary.txt"
sed 's/^/  /' "$OUT/fleet-queue.txt" >&2
# Tenant schemas of one database sharing the fleet's connections: target/bench/
# fleet-schemas.txt, appended to the summary.
log "fleet: ${FLEET_SCHEMAS:-10000} tenant schemas of one database x 5 revisions at concurrency 8"
"$PSQL" -X -q -d "$url" -c 'CHECKPOINT' >/dev/null
scripts/bench-fleet-schemas.sh "$RETORT" "$url" >/dev/null
{
    printf '\n'
    sed 's/^/  /' "$OUT/fleet-schemas.txt"
} >>"$OUT/summary.txt"
sed 's/^/  /' "$OUT/fleet-schemas.txt" >&2

history10k=$(median chain10k 1)
upgrade_ratio=$(awk -v r="$(median upgrade1k 2)" -v p="$(median upgrade1k 0)" 'BEGIN { printf "%.2f", r / p }')
dump_ratio=$(awk -v r="$(median schema5k 1)" -v p="$(median schema5k 0)" 'BEGIN { printf "%.2f", r / p }')
if awk -v x="$dump_ratio" 'BEGIN { exit !(x > 0.5) }'; then
    log "FAIL: retort dump-schema of 5,000 tables is ${dump_ratio}x pg_dump; the target is at most 0.5x"
    exit 1
fi
if awk -v x="$upgrade_ratio" 'BEGIN { exit !(x > 1.5) }'; then
    log "FAIL: retort upgrade of 1,000 revisions is ${upgrade_ratio}x psql; the target is 1.5x"
    exit 1
fi
lint1k=$(median lint1k 0)
if awk -v m="$lint1k" 'BEGIN { exit !(m >= 1.0) }'; then
    log "FAIL: retort lint on 1,000 revisions took $(ms "$lint1k") (median), the target is under 1 s"
    exit 1
fi
if ((ag_target >= 1000)); then
    log "FAIL: autogenerate on 5,000 tables spent ${ag_target} ms inspecting and diffing; the target is under 1 s"
    exit 1
fi
if awk -v m="$history10k" 'BEGIN { exit !(m >= 1.0) }'; then
    log "FAIL: retort history on 10,000 revisions took $(ms "$history10k") (median), the limit is 1 s"
    exit 1
fi
