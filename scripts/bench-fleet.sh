#!/usr/bin/env bash
# Fleet benchmark: `retort fleet upgrade` of 200 databases × 20 small revisions at
# concurrency 1, 4 and 8; prints throughput (targets/s, revisions/s) and the speed-up
# against concurrency 1 (the scaling curve).
#
#   scripts/bench-fleet.sh RETORT_BINARY SERVER_URL
#
# RETORT_BINARY: a release build (target/release/retort). SERVER_URL: a superuser URL of
# a throwaway server (e.g. `scripts/pg-local.sh start`); the script creates databases
# bench_fleet_000..199 there and drops them at the end. Each measurement starts from
# empty databases (hyperfine --prepare resets them). FLEET_TARGETS, FLEET_REVISIONS,
# FLEET_RUNS and FLEET_CONCURRENCY ("1 4 8") change the shape; FLEET_SLEEP=0.02 adds a
# `pg_sleep` of that many seconds to each revision, standing in for work that waits
# rather than burns the server's CPU (locks, I/O, a remote server's round trips): on a
# small machine the plain run is bound by the server's CPU, and this shows the overlap.
# Results: target/bench/fleet${FLEET_TAG}-*.json (hyperfine exports) and
# target/bench/fleet${FLEET_TAG}.txt (FLEET_TAG, default empty, tells variants apart).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 RETORT_BINARY SERVER_URL" >&2
    exit 2
fi
RETORT="$(realpath -- "$1")"
URL="$2"
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

TARGETS="${FLEET_TARGETS:-200}"
REVISIONS="${FLEET_REVISIONS:-20}"
SLEEP="${FLEET_SLEEP:-}"
TAG="${FLEET_TAG:-}"
RUNS="${FLEET_RUNS:-2}"
LEVELS="${FLEET_CONCURRENCY:-1 4 8}"
OUT="$PWD/target/bench"
WORK="$(mktemp -d)"
log() { printf 'bench-fleet: %s\n' "$*" >&2; }

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
db_url() { printf '%s/%s%s' "$base" "$1" "$query"; }

names=()
for ((i = 0; i < TARGETS; i++)); do names+=("$(printf 'bench_fleet_%03d' "$i")"); done

cleanup() {
    for name in "${names[@]}"; do
        printf 'DROP DATABASE IF EXISTS %s WITH (FORCE);\n' "$name"
    done | psql -q -X -d "$URL" >/dev/null 2>&1 || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT

log "creating $TARGETS databases"
for name in "${names[@]}"; do
    printf 'DROP DATABASE IF EXISTS %s WITH (FORCE);\nCREATE DATABASE %s;\n' "$name" "$name"
done | psql -q -X -v ON_ERROR_STOP=1 -d "$URL" >/dev/null

# Back to empty: one psql session hopping from database to database.
for name in "${names[@]}"; do
    printf '\\connect %s\nDROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n' "$name"
done >"$WORK/reset.sql"
# A checkpoint between runs, so no run pays for the WAL of the one before it.
echo 'CHECKPOINT;' >>"$WORK/reset.sql"

log "writing $REVISIONS revisions and targets.toml"
(cd "$WORK" && "$RETORT" -q init . >/dev/null)
rm -f -- "$WORK"/models/*.sql
parent=""
for ((i = 1; i <= REVISIONS; i++)); do
    id="$(printf '%04d_%012x' "$i" "$((i * 7919))")"
    cat >"$WORK/versions/${id}_create_t$i.sql" <<EOF
-- revision: $id
-- down_revision: $parent
-- message: create t$i
-- created: 2026-11-23T00:00:00+00:00

-- migrate:upgrade
${SLEEP:+SELECT pg_sleep($SLEEP);}
CREATE TABLE t$i (id bigint PRIMARY KEY, note text NOT NULL);
INSERT INTO t$i SELECT g, md5(g::text) FROM generate_series(1, 100) g;
CREATE INDEX t${i}_note ON t$i (note);

-- migrate:downgrade
DROP TABLE t$i;
EOF
    parent="$id"
done
(cd "$WORK" && "$RETORT" -q rehash >/dev/null)
for name in "${names[@]}"; do
    printf '[[targets]]\nname = "%s"\nurl = "%s"\n\n' "$name" "$(db_url "$name")"
done >"$WORK/targets.toml"

summary="$OUT/fleet$TAG.txt"
{
    echo "retort fleet upgrade: $TARGETS databases x $REVISIONS revisions ($((TARGETS * REVISIONS)) revisions per run)${SLEEP:+, pg_sleep($SLEEP) in each}, median of $RUNS run(s), $(nproc) CPU(s)"
    printf '%-12s %10s %12s %14s %10s\n' concurrency median_s targets_per_s revisions_per_s speedup
} >"$summary"
first=""
for level in $LEVELS; do
    log "concurrency $level"
    json="$OUT/fleet$TAG-c$level.json"
    (cd "$WORK" && hyperfine --style basic --runs "$RUNS" \
        --prepare "psql -q -X -v ON_ERROR_STOP=1 -d '$URL' -f '$WORK/reset.sql' >/dev/null" \
        --export-json "$json" \
        "'$RETORT' -q fleet upgrade --concurrency $level") >&2
    median="$(jq -r '.results[0].median' "$json")"
    [[ -n "$first" ]] || first="$median"
    awk -v c="$level" -v m="$median" -v t="$TARGETS" -v r="$REVISIONS" -v f="$first" \
        'BEGIN { printf "%-12s %10.2f %12.1f %14.1f %9.2fx\n", c, m, t / m, t * r / m, f / m }' \
        >>"$summary"
done
# Every target must really be at head after the last run.
behind="$(cd "$WORK" && "$RETORT" fleet status --json | jq '[.targets[] | select(.behind != 0 or .error != null)] | length')"
if [[ "$behind" != "0" ]]; then
    log "$behind target(s) not at head after the run"
    exit 1
fi
cat "$summary"
