#!/usr/bin/env bash
# The fault tests, run again and again with no retries: a flaky fault test hides the very
# failures it exists to show, so each must pass many times in a row.
#
#   scripts/stress.sh [RUNS] [FILTER]        default: 20 runs of the fault tests
#
# The tests are the integration tests for dying servers and cut connections, lock
# retries, tampered version tables, hostile names and leaked secrets (FILTER, a nextest
# filter expression, replaces that set). Each pass runs them all against one private
# server (scripts/pg-local.sh, PG_MAJOR as there) and gives the TCP-cutting test a seed
# of its own (RETORT_FAULT_SEED = pass number), so the passes cut at different points.
# Stops at the first failed pass and names its seed; prints one line per pass and a
# summary, also written to target/stress.md.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd -- "$ROOT"
RUNS="${1:-20}"
FILTER="${2:-binary_id(retort::it) & (test(/^server_faults::/) | test(/^lock_retry::/) | test(/^tampered::/) | test(/^hostile::/) | test(/^secrets::/))}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "stress: RUNS must be a positive number, not '$RUNS'" >&2; exit 2; }

log() { printf 'stress: %s\n' "$*" >&2; }

cargo nextest --version >/dev/null 2>&1 || { log "cargo-nextest is needed"; exit 1; }
cargo build --quiet --tests

url="$(scripts/pg-local.sh start)"
trap 'scripts/pg-local.sh stop' EXIT
export TEST_DATABASE_URL="$url"
TEST_PG_CA="$(scripts/pg-local.sh ca)"
export TEST_PG_CA
RETORT_TEST_PYTHON="$(scripts/python-tools.sh)"
export RETORT_TEST_PYTHON
PATH="$(scripts/pg-local.sh bin):$PATH"
export PATH

out="$ROOT/target/stress"
mkdir -p -- "$out"
times=()
tests=0
for ((pass = 1; pass <= RUNS; pass++)); do
    start=$(date +%s.%N)
    if ! RETORT_FAULT_SEED="$pass" cargo nextest run --retries 0 --no-fail-fast \
        --status-level fail -E "$FILTER" >"$out/pass.log" 2>&1; then
        tail -n 60 -- "$out/pass.log" >&2
        log "pass $pass of $RUNS failed (RETORT_FAULT_SEED=$pass); its log: $out/pass.log"
        exit 1
    fi
    seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
    times+=("$seconds")
    tests=$(sed -nE 's/.* ([0-9]+) tests run: ([0-9]+) passed.*/\2/p' "$out/pass.log" | tail -n 1)
    printf 'stress: pass %d/%d: %s tests passed in %.1f s\n' "$pass" "$RUNS" "$tests" "$seconds" >&2
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
summary=$(printf '%d passes in a row, %s tests each, no retries; median pass %.1f s (PostgreSQL %s)' \
    "$RUNS" "$tests" "$median" "${PG_MAJOR:-15}")
echo "$summary" | tee "$ROOT/target/stress.md"
