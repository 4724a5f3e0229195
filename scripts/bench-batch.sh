#!/usr/bin/env bash
# Batch benchmark (issue 24): a backfill of every row of an N-row table, run by
# `retort upgrade` as a `-- migrate:batch ... size=10000` section, against the same
# UPDATE run once through psql (one statement, one transaction). Each runs beside an
# application workload: pgbench clients sending single-row `UPDATE t SET v = v + 1
# WHERE id = :id` on random ids, from a second before the backfill until it has ended,
# every transaction logged. Reports the backfill's rows per second in both cases (and
# their ratio) and the workload's longest transaction in each: how long the application
# waited for the backfill's row locks.
#
#   scripts/bench-batch.sh RETORT_BINARY SERVER_URL
#
# RETORT_BINARY: a release build (target/release/retort). SERVER_URL: a superuser URL of
# a throwaway server (e.g. `scripts/pg-local.sh start`); the script creates the databases
# bench_batch_tpl (the table, loaded once) and bench_batch (a fresh copy of it for each
# run) there and drops them at the end. pgbench is taken from the server's bin directory
# (`scripts/pg-local.sh bin`), else beside psql.
#
# BENCH_BATCH_ROWS (2000000) rows; BENCH_BATCH_KEY_TYPE (int) the type of the table's
# primary key `id` (int or bigint); BENCH_BATCH_SIZE (10000) keys per batch;
# BENCH_BATCH_RUNS (3) runs of each, alternating which goes first, medians reported;
# BENCH_BATCH_CLIENTS (2) pgbench clients sending BENCH_BATCH_RATE (200) transactions per
# second between them (-R: an application, not a load test; each transaction's wait is
# its logged time less its schedule lag). The workload is pgbench runs of 2 s (-T 2), one
# after the other until the backfill has ended: a transaction still waiting when a run's
# time is up is finished and logged.
# Results: target/bench/batch.txt (the summary), target/bench/batch-runs.tsv (one line
# per run) and target/bench/batch-logs/ (pgbench's per-transaction logs).
# Fails when a backfill left a row wrong, or when the table's workload counter does not
# match the transactions pgbench logged.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 RETORT_BINARY SERVER_URL" >&2
    exit 2
fi
RETORT="$(realpath -- "$1")"
URL="$2"
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

ROWS="${BENCH_BATCH_ROWS:-2000000}"
SIZE="${BENCH_BATCH_SIZE:-10000}"
RUNS="${BENCH_BATCH_RUNS:-3}"
CLIENTS="${BENCH_BATCH_CLIENTS:-2}"
KEY_TYPE="${BENCH_BATCH_KEY_TYPE:-int}"
RATE="${BENCH_BATCH_RATE:-200}"
SLICE=2
OUT="$PWD/target/bench"
LOGS="$OUT/batch-logs"
WORK="$(mktemp -d)"
log() { printf 'bench-batch: %s\n' "$*" >&2; }

PSQL="$(command -v psql || true)"
[[ -n "$PSQL" ]] || { log "needs psql on PATH"; exit 2; }
PGBENCH=""
if bin="$(scripts/pg-local.sh bin 2>/dev/null)" && [[ -x "$bin/pgbench" ]]; then
    PGBENCH="$bin/pgbench"
elif [[ -x "$(dirname -- "$(readlink -f -- "$PSQL")")/pgbench" ]]; then
    PGBENCH="$(dirname -- "$(readlink -f -- "$PSQL")")/pgbench"
else
    log "needs pgbench (the server's bin directory, or beside psql)"
    exit 2
fi
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
TPL="bench_batch_tpl"
DB="bench_batch"
DB_URL="$(db_url "$DB")"
sql() { PGOPTIONS='-c client_min_messages=warning' "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

workload_pid=""
cleanup() {
    [[ -n "$workload_pid" ]] && kill "$workload_pid" 2>/dev/null || true
    sql -d "$URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
        -c "DROP DATABASE IF EXISTS $TPL WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT

log "loading $ROWS rows into $TPL"
sql -d "$URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    -c "DROP DATABASE IF EXISTS $TPL WITH (FORCE)" -c "CREATE DATABASE $TPL" >/dev/null
sql -d "$(db_url "$TPL")" \
    -c "CREATE TABLE t (id $KEY_TYPE PRIMARY KEY, payload text NOT NULL, v int NOT NULL DEFAULT 0)" \
    -c "INSERT INTO t (id, payload) SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g" \
    -c "VACUUM ANALYZE t" >/dev/null
# Each run's copy: a file copy of the template where the server has it (15 and later).
strategy=""
(($(sql -d "$URL" -c 'SHOW server_version_num') >= 150000)) && strategy=" STRATEGY FILE_COPY"
fresh_copy() {
    sql -d "$URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
        -c "CREATE DATABASE $DB TEMPLATE $TPL$strategy" -c "CHECKPOINT" >/dev/null
}

# The backfill: the same statement both ways, over every row.
fill="w = length(payload) + id % 7"
mkdir -p -- "$WORK/project"
(cd "$WORK/project" && "$RETORT" -q init . >/dev/null)
rm -f -- "$WORK"/project/models/*.sql
cat >"$WORK/project/versions/0001_0000000000b1_backfill_w.sql" <<EOF
-- revision: 0001_0000000000b1
-- down_revision:
-- message: backfill w
-- created: 2026-12-01T00:00:00+00:00

-- migrate:upgrade
ALTER TABLE t ADD COLUMN w int;

-- migrate:batch table=public.t key=id size=$SIZE
UPDATE t SET $fill WHERE id >= :lo AND id < :hi;

-- migrate:downgrade
ALTER TABLE t DROP COLUMN w;
EOF
(cd "$WORK/project" && "$RETORT" -q rehash >/dev/null)
printf 'BEGIN;\nALTER TABLE t ADD COLUMN w int;\nUPDATE t SET %s;\nCOMMIT;\n' "$fill" >"$WORK/plain.sql"
printf '\\set id random(1, %s)\nUPDATE t SET v = v + 1 WHERE id = :id;\n' "$ROWS" >"$WORK/workload.sql"

# pgbench runs of $SLICE seconds until $WORK/done exists; logs $1.N.<pid>.
workload() {
    local k=0
    while [[ ! -e "$WORK/done" ]]; do
        k=$((k + 1))
        if ! "$PGBENCH" -n -M prepared -f "$WORK/workload.sql" -c "$CLIENTS" -j 1 -R "$RATE" \
            -T "$SLICE" -l --log-prefix="$1.$k" "$DB_URL" >"$1.$k.out" 2>&1; then
            log "pgbench failed: $(tail -n 3 "$1.$k.out")"
            return 1
        fi
    done
}

now() { date +%s.%N; }
printf 'run\tmode\tseconds\trows_per_s\tlongest_wait_ms\tworkload_tx\n' >"$OUT/batch-runs.tsv"
for ((run = 1; run <= RUNS; run++)); do
    modes="batched plain"
    ((run % 2 == 0)) && modes="plain batched"
    for mode in $modes; do
        fresh_copy
        rm -f -- "$WORK/done"
        prefix="$LOGS/$mode-$run"
        workload "$prefix" &
        workload_pid=$!
        sleep 1
        log "run $run: $mode backfill of $ROWS rows"
        start=$(now)
        if [[ "$mode" == batched ]]; then
            (cd "$WORK/project" && "$RETORT" -q --database-url "$DB_URL" upgrade)
        else
            sql -d "$DB_URL" -f "$WORK/plain.sql" >/dev/null
        fi
        end=$(now)
        touch "$WORK/done"
        wait "$workload_pid"
        workload_pid=""
        wrong=$(sql -d "$DB_URL" -c "SELECT count(*) FROM t WHERE w IS DISTINCT FROM length(payload) + id % 7")
        if [[ "$wrong" != 0 ]]; then
            log "FAIL: $mode run $run left $wrong rows not backfilled"
            exit 1
        fi
        # Per transaction: client, number, time (us), script, epoch s, us, schedule lag (us).
        read -r waited tx < <(cat "$prefix".*[0-9] | awk '
            { w = $3 - $7; if (w > max) max = w; n++ }
            END { printf "%.1f %d\n", max / 1000, n }')
        counted=$(sql -d "$DB_URL" -c "SELECT sum(v) FROM t")
        if [[ "$counted" != "$tx" ]]; then
            log "FAIL: pgbench logged $tx transactions, the table counts $counted updates"
            exit 1
        fi
        awk -v r="$run" -v m="$mode" -v s="$start" -v e="$end" -v n="$ROWS" -v w="$waited" -v t="$tx" \
            'BEGIN { printf "%d\t%s\t%.3f\t%.0f\t%s\t%d\n", r, m, e - s, n / (e - s), w, t }' \
            >>"$OUT/batch-runs.tsv"
        log "run $run: $mode: $(tail -n 1 "$OUT/batch-runs.tsv" | cut -f3-)"
    done
done

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
col() { awk -F'\t' -v m="$1" -v c="$2" 'NR > 1 && $2 == m { print $c }' "$OUT/batch-runs.tsv"; }
each() { col "$1" "$2" | paste -sd, - | sed 's/,/, /g'; }
summary="$OUT/batch.txt"
{
    echo "batched backfill: $ROWS rows ($KEY_TYPE key), size=$SIZE, median of $RUNS run(s) each, beside pgbench ($CLIENTS clients, $RATE tx/s, single-row UPDATE on random ids), $(nproc) CPU(s)"
    printf '%-34s %10s %12s %20s   %s\n' mode median_s rows_per_s longest_wait_ms 'longest wait of each run (ms)'
    for mode in batched plain; do
        name='retort upgrade, migrate:batch'
        [[ "$mode" == plain ]] && name='psql, one UPDATE'
        printf '%-34s %10.2f %12.0f %20.1f   %s\n' "$name" "$(col "$mode" 3 | median)" \
            "$(col "$mode" 4 | median)" "$(col "$mode" 5 | median)" "$(each "$mode" 5)"
    done
    awk -v b="$(col batched 4 | median)" -v p="$(col plain 4 | median)" \
        -v wb="$(col batched 5 | median)" -v wp="$(col plain 5 | median)" \
        'BEGIN { printf "batched/plain rows per second: %.2fx; the application'"'"'s longest wait: %.0f ms batched, %.0f ms with one UPDATE\n", b / p, wb, wp }'
} >"$summary"
cat "$summary"
