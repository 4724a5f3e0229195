#!/usr/bin/env bash
# Queue benchmark: `retort fleet upgrade --queue` with 1, 2 and 4 worker processes
# sharing one run of 400 tenant schemas × 5 revisions; prints throughput (targets/s) and
# the speed-up against one worker.
#
#   scripts/bench-fleet-queue.sh RETORT_BINARY SERVER_URL
#
# RETORT_BINARY: a release build (target/release/retort). SERVER_URL: a superuser URL of
# a throwaway server (e.g. `scripts/pg-local.sh start`); the script creates the databases
# bench_queue (the targets: schemas tenant_000..399, `--schemas 'tenant_%'`, each with
# its own version tables) and bench_queue_control (the queue's tables, schema
# retort_fleet) there and drops them at the end.
#
# Each revision does a small DDL and `SELECT pg_sleep(0.05)`: work that waits rather than
# burns the server's CPU (locks, I/O, a remote server's round trips). The workers stand
# for processes on different machines, each with its own `--concurrency 4`: what this
# shows is that their waiting overlaps, so W workers finish in about 1/W of the time.
# With revisions that burn CPU instead, this small server would be the bound (see
# scripts/bench-fleet.sh). All workers run on this one machine here.
#
# A measurement starts W workers at once in the background with the same arguments
# (`--queue CONTROL_URL --lease 10s --worker wK --concurrency 4`) and ends when every one
# of them has exited, each with status 0. Before each, hyperfine --prepare creates the
# target database afresh with its tenant schemas empty and drops the queue's tables.
# After the timed runs, every tenant's history table (TENANT.retort_history) must show
# each revision exactly once, and its version table the head; the script fails otherwise.
#
# QUEUE_TARGETS (400), QUEUE_REVISIONS (5), QUEUE_SLEEP (0.05 seconds), QUEUE_WORKERS
# ("1 2 4") and QUEUE_RUNS (3) change the shape. Results: target/bench/fleet-queue-wW.json
# (hyperfine exports), target/bench/fleet-queue.txt (the summary, with the targets each
# worker settled in the last run of each W) and target/bench/fleet-queue-logs/ (every
# worker's output, by W and worker).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 RETORT_BINARY SERVER_URL" >&2
    exit 2
fi
RETORT="$(realpath -- "$1")"
URL="$2"
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

TARGETS="${QUEUE_TARGETS:-400}"
REVISIONS="${QUEUE_REVISIONS:-5}"
SLEEP="${QUEUE_SLEEP:-0.05}"
WORKERS="${QUEUE_WORKERS:-1 2 4}"
RUNS="${QUEUE_RUNS:-3}"
CONCURRENCY=4
LEASE=10s
OUT="$PWD/target/bench"
LOGS="$OUT/fleet-queue-logs"
WORK="$(mktemp -d)"
log() { printf 'bench-fleet-queue: %s\n' "$*" >&2; }

for tool in hyperfine jq psql; do
    command -v "$tool" >/dev/null || { log "needs $tool on PATH"; exit 2; }
done
mkdir -p -- "$OUT"
rm -rf -- "$LOGS"
mkdir -p -- "$LOGS"

# The URL of database $1 on the same server: replace the URL's path, keep its query.
base="${URL%%\?*}"
query=""
[[ "$URL" == *\?* ]] && query="?${URL#*\?}"
rest="${base#*://}"
[[ "$rest" == */* ]] && base="${base%/*}"
db_url() { printf '%s/%s%s' "$base" "$1" "$query"; }

TARGET_DB=bench_queue
CONTROL_DB=bench_queue_control
TARGET_URL="$(db_url "$TARGET_DB")"
CONTROL_URL="$(db_url "$CONTROL_DB")"

width=3
((${#TARGETS} > width)) && width=${#TARGETS}
schemas=()
for ((i = 0; i < TARGETS; i++)); do schemas+=("$(printf 'tenant_%0*d' "$width" "$i")"); done

cleanup() {
    printf 'DROP DATABASE IF EXISTS %s WITH (FORCE);\n' "$TARGET_DB" "$CONTROL_DB" |
        psql -q -X -d "$URL" >/dev/null 2>&1 || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT

log "creating $TARGET_DB ($TARGETS schemas) and $CONTROL_DB"
{
    echo 'SET client_min_messages = warning;'
    printf 'DROP DATABASE IF EXISTS %s WITH (FORCE);\nCREATE DATABASE %s;\n' \
        "$TARGET_DB" "$TARGET_DB" "$CONTROL_DB" "$CONTROL_DB"
} | psql -q -X -v ON_ERROR_STOP=1 -d "$URL" >/dev/null

# Back to the start: the target database created afresh with its tenant schemas empty
# (dropping the schemas alone would leave the catalogs holding the dead rows of every
# run before), no queue tables (so each run is a new one, and the
# event table does not grow from run to run), then a checkpoint so that no run pays for
# the WAL of the one before it. One psql session.
{
    printf 'SET client_min_messages = warning;\nDROP DATABASE IF EXISTS %s WITH (FORCE);\nCREATE DATABASE %s;\n' \
        "$TARGET_DB" "$TARGET_DB"
    printf '\\connect %s\n' "$TARGET_DB"
    for s in "${schemas[@]}"; do printf 'CREATE SCHEMA %s;\n' "$s"; done
    printf '\\connect %s\nSET client_min_messages = warning;\nDROP SCHEMA IF EXISTS retort_fleet CASCADE;\nCHECKPOINT;\n' "$CONTROL_DB"
} >"$WORK/reset.sql"
reset="psql -q -X -v ON_ERROR_STOP=1 -d '$URL' -f '$WORK/reset.sql' >/dev/null"
psql -q -X -v ON_ERROR_STOP=1 -d "$URL" -f "$WORK/reset.sql" >/dev/null

log "writing $REVISIONS revisions"
(cd "$WORK" && "$RETORT" -q init . >/dev/null)
rm -f -- "$WORK"/models/*.sql
scripts/gen-chain.sh "$REVISIONS" "$WORK/versions" "SELECT pg_sleep($SLEEP);"
# The ids, in chain order (the file names start with them).
ids=()
for file in "$WORK"/versions/*.sql; do
    name="$(basename -- "$file")"
    ids+=("${name:0:17}")
done
(cd "$WORK" && "$RETORT" -q rehash >/dev/null)

# One measurement: W workers started at once, then waited for one by one; any non-zero
# exit fails the measurement (and hyperfine with it). Each worker's output is appended
# to its log, one header line per run.
cat >"$WORK/workers.sh" <<EOF
#!/usr/bin/env bash
set -uo pipefail
cd '$WORK'
w="\$1"
pids=()
for ((k = 1; k <= w; k++)); do
    log="$LOGS/w\$w-w\$k.log"
    printf '=== run at %s\n' "\$(date -u +%FT%T.%NZ)" >>"\$log"
    '$RETORT' -q --database-url '$TARGET_URL' fleet upgrade --schemas 'tenant_%' \\
        --queue '$CONTROL_URL' --lease $LEASE --worker "w\$k" --concurrency $CONCURRENCY \\
        >>"\$log" 2>&1 &
    pids+=("\$!")
done
failed=0
for ((k = 1; k <= w; k++)); do
    rc=0
    wait "\${pids[k - 1]}" || rc=\$?
    if ((rc != 0)); then
        printf 'worker w%s of %s exited with status %s (log: %s)\n' "\$k" "\$w" "\$rc" "$LOGS/w\$w-w\$k.log" >&2
        failed=1
    fi
done
exit "\$failed"
EOF
chmod +x "$WORK/workers.sh"

# Per worker, from the control database after a run: targets settled, claims beyond the
# first (takeovers), when its first target started, when its last target finished and
# when it left the run, in seconds from the run's first start. A worker with nothing left
# to claim polls the queue every quarter of the lease until every target is settled, so
# "left" trails the run's last finish by up to that much.
per_worker() {
    psql -X -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$CONTROL_URL" <<'SQL'
WITH s AS (SELECT min(started_at) AS t0 FROM retort_fleet.target),
     t AS (SELECT worker, count(*) AS n, sum(claims - 1) AS extra,
                  count(*) FILTER (WHERE state <> 'done') AS not_done,
                  min(started_at) AS first_start, max(finished_at) AS last_finish
           FROM retort_fleet.target GROUP BY worker)
SELECT w.id, coalesce(t.n, 0), coalesce(t.extra, 0),
       round(extract(epoch FROM t.first_start - s.t0)::numeric, 2),
       round(extract(epoch FROM t.last_finish - s.t0)::numeric, 2),
       round(extract(epoch FROM w.finished_at - s.t0)::numeric, 2),
       coalesce(t.not_done, 0)
FROM retort_fleet.worker w CROSS JOIN s LEFT JOIN t ON t.worker = w.id
ORDER BY w.id
SQL
}

summary="$OUT/fleet-queue.txt"
{
    echo "retort fleet upgrade --queue: $TARGETS tenant schemas x $REVISIONS revisions, pg_sleep($SLEEP) in each, --concurrency $CONCURRENCY --lease $LEASE per worker, all workers on this machine; median of $RUNS run(s), $(nproc) CPU(s)"
    printf '%-8s %10s %12s %14s %10s\n' workers median_s targets_per_s revisions_per_s speedup
} >"$summary"
detail="$WORK/detail.txt"
: >"$detail"
first=""
for w in $WORKERS; do
    log "$w worker(s)"
    json="$OUT/fleet-queue-w$w.json"
    hyperfine --style basic --runs "$RUNS" \
        --prepare "$reset" \
        --export-json "$json" \
        -n "$w worker(s)" "'$WORK/workers.sh' $w" >&2
    median="$(jq -r '.results[0].median' "$json")"
    [[ -n "$first" ]] || first="$median"
    awk -v w="$w" -v m="$median" -v t="$TARGETS" -v r="$REVISIONS" -v f="$first" \
        'BEGIN { printf "%-8s %10.2f %12.1f %14.1f %9.2fx\n", w, m, t / m, t * r / m, f / m }' \
        >>"$summary"
    {
        echo "  last run with $w worker(s), seconds from its first start: worker, targets settled, extra claims, first start, last finish, left, not done"
        per_worker | sed 's/^/    /'
    } >>"$detail"
done
cat "$detail" >>"$summary"

# The last run, checked once: every tenant's history holds each revision exactly once
# (upgrades only), and its version table the head.
log "checking every tenant's history"
expected="$(printf '%s\n' "${ids[@]}" | sort | paste -sd, -)"
{
    printf 'SELECT count(*) FILTER (WHERE h IS DISTINCT FROM %s OR v IS DISTINCT FROM %s) AS bad, count(*) AS tenants FROM (\n' \
        "'$expected'" "'${ids[-1]}'"
    sep=""
    for s in "${schemas[@]}"; do
        printf '%sSELECT (SELECT string_agg(revision || CASE WHEN direction = %s THEN %s ELSE %s || direction END, %s ORDER BY revision, started_at) FROM %s.retort_history) AS h, (SELECT string_agg(revision, %s ORDER BY revision) FROM %s.retort_version) AS v\n' \
            "$sep" "'upgrade'" "''" "':'" "','" "$s" "','" "$s"
        sep="UNION ALL "
    done
    printf ') per_tenant;\n'
} >"$WORK/check.sql"
read -r bad tenants < <(psql -X -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$TARGET_URL" -f "$WORK/check.sql")
if [[ "$bad" != "0" || "$tenants" != "$TARGETS" ]]; then
    log "FAIL: $bad of $tenants tenant(s) do not show each of the $REVISIONS revisions exactly once, or are not at head"
    exit 1
fi
echo "check: all $TARGETS tenants' histories show each of the $REVISIONS revisions exactly once (upgrade), version row at head" >>"$summary"
cat "$summary"
