#!/usr/bin/env bash
# Fleet benchmark of tenant schemas: `retort fleet upgrade --schemas 'tenant\_%'` of
# 10,000 schemas of ONE database × 5 small revisions at concurrency 8; prints targets
# per second and the peak number of server connections during the run, next to the
# concurrency (schema targets share the pool's connections: the peak should not exceed
# it).
#
#   scripts/bench-fleet-schemas.sh RETORT_BINARY SERVER_URL
#
# RETORT_BINARY: a release build (target/release/retort). SERVER_URL: a superuser URL of
# a throwaway server (e.g. `scripts/pg-local.sh start`); the script creates the database
# bench_fleet_schemas there with schemas tenant_00000.. and drops it at the end. Each
# measurement starts from empty schemas (hyperfine --prepare drops the created tables
# and the version tables, one tenant per transaction: quicker than recreating the
# schemas, and no transaction needs 70,000 locks). The peak is sampled by one psql
# session every 50 ms over all runs: the most backends of the database whose
# application_name starts with `retort`.
#
# FLEET_SCHEMAS (10000), FLEET_REVISIONS (5), FLEET_RUNS (3) and FLEET_CONCURRENCY (8)
# change the shape. FLEET_BASELINE=BINARY measures another build the same way (e.g.
# one from before the pool), on its own line. Results:
# target/bench/fleet-schemas-*.json (hyperfine exports) and target/bench/fleet-schemas.txt.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 RETORT_BINARY SERVER_URL" >&2
    exit 2
fi
RETORT="$(realpath -- "$1")"
URL="$2"
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

SCHEMAS="${FLEET_SCHEMAS:-10000}"
REVISIONS="${FLEET_REVISIONS:-5}"
RUNS="${FLEET_RUNS:-3}"
LEVEL="${FLEET_CONCURRENCY:-8}"
BASELINE="${FLEET_BASELINE:-}"
[[ -z "$BASELINE" ]] || BASELINE="$(realpath -- "$BASELINE")"
DB=bench_fleet_schemas
OUT="$PWD/target/bench"
WORK="$(mktemp -d)"
log() { printf 'bench-fleet-schemas: %s\n' "$*" >&2; }

for tool in hyperfine jq psql; do
    command -v "$tool" >/dev/null || { log "needs $tool on PATH"; exit 2; }
done
mkdir -p -- "$OUT"

# The URL of database $1 on the same server: replace the URL's path, keep its query.
base="${URL%%\?*}"
query=""
[[ "$URL" == *\?* ]] && query="?${URL#*\?}"
rest="${base#*://}"
[[ "$rest" == */* ]] && base="${base%/*}"
DB_URL="$base/$DB$query"

sampler=""
cleanup() {
    rm -f -- "$WORK/sampling"
    [[ -z "$sampler" ]] || wait "$sampler" 2>/dev/null || true
    psql -q -X -d "$URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT

schema_name() { printf 'tenant_%05d' "$1"; }

log "creating $SCHEMAS schemas in $DB"
psql -q -X -v ON_ERROR_STOP=1 -d "$URL" \
    -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
for ((i = 0; i < SCHEMAS; i++)); do
    printf 'CREATE SCHEMA %s;\n' "$(schema_name "$i")"
done | psql -q -X -v ON_ERROR_STOP=1 -d "$DB_URL" >/dev/null
# Not a tenant: the pattern must leave it alone.
psql -q -X -v ON_ERROR_STOP=1 -d "$DB_URL" -c 'CREATE SCHEMA other' >/dev/null

# Back to empty: each tenant's tables and version tables, one statement (so one
# transaction) per tenant.
tables=(retort_version retort_history)
for ((i = 1; i <= REVISIONS; i++)); do tables+=("t$i"); done
for ((i = 0; i < SCHEMAS; i++)); do
    s="$(schema_name "$i")"
    line="DROP TABLE IF EXISTS"
    sep=" "
    for t in "${tables[@]}"; do
        line+="$sep$s.$t"
        sep=", "
    done
    printf '%s;\n' "$line"
done >"$WORK/reset.sql"
# A checkpoint between runs, so no run pays for the WAL of the one before it.
echo 'CHECKPOINT;' >>"$WORK/reset.sql"

log "writing $REVISIONS revisions"
(cd "$WORK" && "$RETORT" -q init . >/dev/null)
rm -f -- "$WORK"/models/*.sql
scripts/gen-chain.sh "$REVISIONS" "$WORK/versions" "INSERT INTO t\$i VALUES (1, 'tenant row');"
(cd "$WORK" && "$RETORT" -q rehash >/dev/null)

# Samples the database's retort backends every 50 ms from one psql session while the
# file $1 exists; prints one count per line.
sample() {
    while [[ -e "$1" ]]; do
        printf "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND application_name LIKE 'retort%%';\n" "$DB"
        sleep 0.05
    done | psql -q -X -A -t -d "$URL" 2>/dev/null
}

summary="$OUT/fleet-schemas.txt"
{
    echo "retort fleet upgrade --schemas: $SCHEMAS tenant schemas of one database x $REVISIONS revisions, concurrency $LEVEL, median of $RUNS run(s), $(nproc) CPU(s)"
    printf '%-10s %10s %14s %16s %12s\n' build median_s targets_per_s peak_connections concurrency
} >"$summary"
measure() { # LABEL BINARY
    local label="$1" binary="$2" json="$OUT/fleet-schemas-$1.json" samples="$WORK/samples-$1.txt"
    log "$label: $binary"
    touch "$WORK/sampling"
    sample "$WORK/sampling" >"$samples" &
    sampler=$!
    (cd "$WORK" && hyperfine --style basic --runs "$RUNS" \
        --prepare "psql -q -X -v ON_ERROR_STOP=1 -d '$DB_URL' -f '$WORK/reset.sql' >/dev/null" \
        --export-json "$json" \
        "'$binary' -q --database-url '$DB_URL' fleet upgrade --schemas 'tenant\\_%' --concurrency $LEVEL") >&2
    rm -f -- "$WORK/sampling"
    wait "$sampler" || true
    sampler=""
    local median peak
    median="$(jq -r '.results[0].median' "$json")"
    peak="$(sort -n "$samples" | tail -n 1)"
    awk -v l="$label" -v m="$median" -v t="$SCHEMAS" -v p="${peak:-0}" -v c="$LEVEL" \
        'BEGIN { printf "%-10s %10.2f %14.1f %16d %12d\n", l, m, t / m, p, c }' >>"$summary"
    # Every tenant must really be at head after the last run.
    local behind
    behind="$(cd "$WORK" && "$RETORT" --database-url "$DB_URL" fleet status --schemas 'tenant\_%' --json |
        jq '[.targets[] | select(.behind != 0 or .error != null)] | length')"
    if [[ "$behind" != "0" ]]; then
        log "$label: $behind tenant(s) not at head after the run"
        exit 1
    fi
}
measure pool "$RETORT"
[[ -z "$BASELINE" ]] || measure baseline "$BASELINE"
cat "$summary"
