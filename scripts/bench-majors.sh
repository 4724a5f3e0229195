#!/usr/bin/env bash
# The online benchmarks of `make bench` on other PostgreSQL majors: `retort upgrade` of
# 1,000 revisions against psql running the same per-revision transactions, and `retort
# dump-schema` of 5,000 tables against `pg_dump --schema-only`, each on a private server
# of the major (PG_MAJOR=N scripts/pg-local.sh) with that major's psql and pg_dump (13
# has none of its own: the newest installed ones serve it, as they would a user).
#
#   scripts/bench-majors.sh RETORT_BINARY MAJOR...
#
# Medians of BENCH_RUNS (default 10) hyperfine runs; results in
# target/bench/majors/*.json and target/bench/majors.txt.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 RETORT_BINARY MAJOR..." >&2
    exit 2
fi
RETORT="$(realpath -- "$1")"
shift
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
OUT="$PWD/target/bench/majors"
RUNS="${BENCH_RUNS:-10}"
log() { printf 'bench-majors: %s\n' "$*" >&2; }
command -v hyperfine >/dev/null 2>&1 || { log "hyperfine is needed (make bench installs it)"; exit 1; }
command -v jq >/dev/null 2>&1 || { log "jq is needed (make bench installs it)"; exit 1; }
mkdir -p -- "$OUT"

chain="$OUT/chain1k"
if [[ ! -d "$chain/versions" ]]; then
    scripts/gen-chain.sh 1000 "$chain/versions"
    "$RETORT" -q --versions "$chain/versions" rehash >/dev/null
fi
section() { # FILE upgrade
    awk -v want="$2" '/^-- migrate:/ { on = ($2 == "migrate:" want) ; next } on' "$1"
}
: >"$OUT/psql-up.sql"
for f in "$chain"/versions/[0-9]*.sql; do
    printf 'BEGIN;\n%s\nCOMMIT;\n' "$(section "$f" upgrade)" >>"$OUT/psql-up.sql"
done

median() { jq -r ".results[$2].median" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f ms", s * 1000 }'; }

summary="$PWD/target/bench/majors.txt"
{
    echo "PostgreSQL | upgrade 1,000 revisions: retort / psql (ratio) | dump-schema 5,000 tables: retort / pg_dump (ratio)"
} >"$summary"

for major in "$@"; do
    export RETORT_PG_STATE="$OUT/pg-state-$major"
    url="$(PG_MAJOR=$major scripts/pg-local.sh start)"
    bin="$(PG_MAJOR=$major scripts/pg-local.sh bin)"
    psql="$bin/psql"
    [[ -x "$psql" ]] || psql="$(command -v psql)"
    pg_dump="$bin/pg_dump"
    [[ -x "$pg_dump" ]] || pg_dump="$(command -v pg_dump)"
    bench_url="${url%/postgres}/bench"
    recreate="$psql -X -q -d $url -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench'"

    log "PostgreSQL $major: 1,000 revisions, upgrade against psql"
    hyperfine --shell=none --warmup 2 --runs "$RUNS" --style basic \
        --export-json "$OUT/upgrade-$major.json" --prepare "sh -c \"$recreate\"" \
        -n 'psql: revision SQL, BEGIN/COMMIT each' "$psql -X -q -v ON_ERROR_STOP=1 -d $bench_url -f $OUT/psql-up.sql" \
        -n 'retort upgrade' "$RETORT -q --versions $chain/versions --database-url $bench_url upgrade" >&2

    log "PostgreSQL $major: loading a schema of 5,000 tables"
    schema_url="${url%/postgres}/schema5k"
    "$psql" -X -q -d "$url" -c 'DROP DATABASE IF EXISTS schema5k WITH (FORCE)' -c 'CREATE DATABASE schema5k'
    scripts/gen-schema.sh 5000 | "$psql" -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$schema_url" >/dev/null
    log "PostgreSQL $major: dump-schema against pg_dump --schema-only"
    hyperfine --shell=none --warmup 2 --runs "$RUNS" --style basic \
        --export-json "$OUT/schema5k-$major.json" \
        -n 'pg_dump --schema-only' "$pg_dump --schema-only -d $schema_url" \
        -n 'retort dump-schema' "$RETORT --database-url $schema_url dump-schema" >&2
    PG_MAJOR=$major scripts/pg-local.sh stop >/dev/null 2>&1 || true

    up_psql=$(median "$OUT/upgrade-$major.json" 0)
    up_retort=$(median "$OUT/upgrade-$major.json" 1)
    dump_pg=$(median "$OUT/schema5k-$major.json" 0)
    dump_retort=$(median "$OUT/schema5k-$major.json" 1)
    printf '%s | %s / %s (%s) | %s / %s (%s)\n' "$major" \
        "$(ms "$up_retort")" "$(ms "$up_psql")" "$(ratio "$up_retort" "$up_psql")" \
        "$(ms "$dump_retort")" "$(ms "$dump_pg")" "$(ratio "$dump_retort" "$dump_pg")" >>"$summary"
done
cat "$summary"
