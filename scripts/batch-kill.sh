#!/usr/bin/env bash
# A batched backfill killed with SIGKILL at random moments, resumed each time: at the
# end every row must have been updated exactly once and the revision applied once.
#
#   scripts/batch-kill.sh [ROWS] [KILLS] [RETORT]     default: 5000000 rows, 10 kills,
#                                                     target/release/retort (built)
#
# Runs on a private server (scripts/pg-local.sh, PG_MAJOR as there) in a database of its
# own. The table has a bigint key with gaps and a counter column the batch statement
# increments, in batches of 10,000 with 50 ms between them. An uninterrupted backfill
# is timed first, on a copy; then each run is killed after a random time, within the
# batches left divided by the kills to come (at the first run's pace), and the next run
# resumes. Prints one line
# per kill (where the batch table said the run was) and the checks; exit 1 when a check
# fails. Seeded by BATCH_KILL_SEED (default 1) for a reproducible run.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd -- "$ROOT"
ROWS="${1:-5000000}"
KILLS="${2:-10}"
RETORT="${3:-}"
SEED="${BATCH_KILL_SEED:-1}"
log() { printf 'batch-kill: %s\n' "$*" >&2; }
[[ "$ROWS" =~ ^[1-9][0-9]*$ && "$KILLS" =~ ^[0-9]+$ ]] || { log "usage: $0 [ROWS] [KILLS] [RETORT]"; exit 2; }
if [[ -z "$RETORT" ]]; then
    cargo build --release --quiet
    RETORT="$ROOT/target/release/retort"
fi

url="$(scripts/pg-local.sh start)"
PATH="$(scripts/pg-local.sh bin):$PATH"
db="retort_batch_kill"
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }
db_url="${url%/*}/$db"
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$db_url" -c "$1"; }

work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT
"$RETORT" init "$work/project" >/dev/null
rm -f -- "$work/project/versions/"*.sql
cat >"$work/project/versions/0001_b47c4e11a000_backfill.sql" <<'SQL'
-- revision: 0001_b47c4e11a000
-- down_revision:
-- message: backfill kind_len

-- migrate:upgrade
ALTER TABLE events ADD COLUMN kind_len int;

-- migrate:batch table=events key=id size=10000 sleep=50ms
UPDATE events SET kind_len = length(kind), touched = touched + 1
 WHERE id >= :lo AND id < :hi;

-- migrate:upgrade
ALTER TABLE events ALTER COLUMN kind_len SET NOT NULL;

-- migrate:downgrade
ALTER TABLE events DROP COLUMN kind_len;
SQL
"$RETORT" --versions "$work/project/versions" rehash >/dev/null

fresh_table() {
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    q "CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, touched int NOT NULL DEFAULT 0);
       INSERT INTO events (id, kind) SELECT 3 * g, 'k' || (g % 11) FROM generate_series(1, $ROWS) g" >/dev/null
    q "VACUUM ANALYZE events" >/dev/null
}
upgrade() { (cd "$work/project" && exec "$RETORT" --database-url "$db_url" upgrade "$@"); }

log "loading $ROWS rows"
fresh_table
start=$(date +%s.%N)
upgrade -q
whole=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
log "an uninterrupted backfill of $ROWS rows took ${whole}s"

fresh_table
random=$SEED
next_random() { random=$(( (random * 1103515245 + 12345) % 2147483648 )); }
batches=$(( (ROWS + 9999) / 10000 ))
per_batch_ms=$(awk -v w="$whole" -v b="$batches" 'BEGIN {printf "%d", w * 1000 / b}')
batches_done() {
    if [[ "$(q "SELECT to_regclass('retort_version_batch') IS NOT NULL")" == t ]]; then
        q "SELECT coalesce(max(batches), 0) FROM retort_version_batch"
    else
        echo 0
    fi
}
for ((kill = 1; kill <= KILLS; kill++)); do
    # Each run is killed a random number of batches into what is left, leaving room
    # for the kills still to come.
    before="$(batches_done)"
    left=$(( batches - before ))
    share=$(( left / (KILLS - kill + 2) ))
    (( share > 1 )) || share=1
    next_random
    # A random moment within that share of the batches, at the pace of the
    # uninterrupted run (polling the batch table from here would overshoot by dozens
    # of batches on a loaded machine).
    delay_ms=$(( 300 + random % (share * per_batch_ms + 1) ))
    # Started directly (not through a function, which would run in a subshell of its
    # own): $! is then retort itself, and SIGKILL reaches it.
    (cd "$work/project" && exec "$RETORT" --database-url "$db_url" upgrade -q) &
    pid=$!
    sleep "$(awk -v ms="$delay_ms" 'BEGIN {printf "%.3f", ms / 1000}')"
    if kill -KILL "$pid" 2>/dev/null; then state="killed"; else state="had finished"; fi
    wait "$pid" 2>/dev/null || true
    # The killed backend's transaction rolls back once the server notices the socket.
    for _ in $(seq 1 50); do
        [[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()")" == 0 ]] && break
        sleep 0.1
    done
    at="not started"
    if [[ "$(q "SELECT to_regclass('retort_version_batch') IS NOT NULL")" == t ]]; then
        at="$(q "SELECT coalesce(string_agg(batches || ' batches, ' || rows_changed || ' rows, next key ' || coalesce(next_key::text, 'none'), ''), 'finished') FROM retort_version_batch")"
    fi
    log "kill $kill after ${delay_ms} ms (from batch $before of $batches): $state; $at"
done
upgrade -q
bad="$(q "SELECT count(*) FROM events WHERE touched <> 1")"
applied="$(q "SELECT count(*) FROM retort_history WHERE direction = 'upgrade'")"
left="$(q "SELECT count(*) FROM retort_version_batch")"
nulls="$(q "SELECT count(*) FROM events WHERE kind_len IS NULL")"
log "rows not updated exactly once: $bad of $ROWS; NULL kind_len: $nulls; upgrade history rows: $applied; batch rows left: $left"
psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
[[ "$bad" == 0 && "$nulls" == 0 && "$applied" == 1 && "$left" == 0 ]] || { log "FAILED"; exit 1; }
log "passed: $KILLS kills, every row updated once, the revision applied once"
