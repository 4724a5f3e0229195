#!/usr/bin/env bash
# The database tests on every supported PostgreSQL major (13 to 18), each against a
# private server of that major (scripts/pg-local.sh, PG_MAJOR=N) with that major's
# programs first on PATH, so retort's scratch servers and the psql/pg_dump oracles are
# of the same major (13 has no client programs of its own: newer ones serve it).
#
#   scripts/test-matrix.sh [MAJOR...]          default: 13 14 15 16 17 18
#
# MATRIX_FULL (default "15 18"): the majors that run the whole suite; the others run the
# library's unit tests and the catalog, diff, runner, lint and test-migration suites.
# A test whose name ends in `_pgN` needs PostgreSQL N or newer (18's virtual generated
# columns, say): on older majors it is not run, and listed as such, never counted.
# MATRIX_ARCHIVE: a `cargo nextest archive` to run instead of building.
#
# Prints a table (major, tests passed, failed, not run, seconds) and writes it, with the
# names of the tests not run, to target/test-matrix.md. Exit 1 when any major failed.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd -- "$ROOT"
MAJORS=("$@")
[[ ${#MAJORS[@]} -gt 0 ]] || MAJORS=(13 14 15 16 17 18)
FULL=" ${MATRIX_FULL:-15 18} "
OUT="$ROOT/target/test-matrix"
mkdir -p -- "$OUT"

log() { printf 'test-matrix: %s\n' "$*" >&2; }

# The suites every major runs; the full majors run everything.
SUITES='kind(lib) | test(/^(catalog|catalog_inspect|catalog_incremental|diff_golden|diff_property|runner|lint|lint_observe|test_migration)::/)'

if [[ -n "${MATRIX_ARCHIVE:-}" ]]; then
    NEXTEST=(cargo nextest run --archive-file "$MATRIX_ARCHIVE" --workspace-remap "$ROOT")
    LIST=(cargo nextest list --archive-file "$MATRIX_ARCHIVE" --workspace-remap "$ROOT")
else
    cargo nextest --version >/dev/null 2>&1 || { log "cargo-nextest is needed"; exit 1; }
    cargo build --quiet --tests
    NEXTEST=(cargo nextest run)
    LIST=(cargo nextest list)
fi

# Every test that names the major it needs, as "major name".
"${LIST[@]}" --message-format oneline 2>/dev/null |
    sed -nE 's/^[^ ]+ (.*_pg(1[3-9]))$/\2 \1/p' >"$OUT/versioned.txt"

# The import tests (run on the full majors) apply the Alembic fixture with the pinned
# Alembic of scripts/python-tools.sh.
python="$(scripts/python-tools.sh)"
export RETORT_TEST_PYTHON="$python"

status=0
report="$OUT/report.md"
{
    echo "| PostgreSQL | suites | passed | failed | not run | seconds |"
    echo "|---|---|---|---|---|---|"
} >"$report"
notrun_report="$OUT/not-run.txt"
: >"$notrun_report"

for major in "${MAJORS[@]}"; do
    [[ "$major" =~ ^1[3-8]$ ]] || { log "unsupported major: $major (13 to 18)"; exit 2; }
    start=$SECONDS
    url="$(PG_MAJOR=$major scripts/pg-local.sh start)"
    bin="$(PG_MAJOR=$major scripts/pg-local.sh bin)"
    ca="$(PG_MAJOR=$major scripts/pg-local.sh ca)"
    if [[ "$FULL" == *" $major "* ]]; then
        suites="all"
        filter="all()"
    else
        suites="lib, catalog, diff, runner, lint, test-migration"
        filter="$SUITES"
    fi
    # Tests that need a newer major than this one: left out as make test does
    # (scripts/test-filter.sh), and listed by name.
    filter="($filter) & ($(PATH="$bin:$PATH" scripts/test-filter.sh "$url" 2>/dev/null))"
    excluded=()
    while read -r needs name; do
        [[ -n "$name" && "$needs" -gt "$major" ]] && excluded+=("$name")
    done <"$OUT/versioned.txt"
    for name in "${excluded[@]}"; do
        printf 'PostgreSQL %s: not run: %s (needs %s)\n' "$major" "$name" "${name##*_pg}" >>"$notrun_report"
    done
    log "PostgreSQL $major ($suites) on $bin"
    log_file="$OUT/pg$major.log"
    set +e
    PATH="$bin:$PATH" TEST_DATABASE_URL="$url" TEST_PG_CA="$ca" \
        "${NEXTEST[@]}" --no-fail-fast -E "$filter" >"$log_file" 2>&1
    rc=$?
    set -e
    PG_MAJOR=$major scripts/pg-local.sh stop >/dev/null 2>&1 || true
    summary="$(grep -E '^ +Summary ' "$log_file" | tail -n1)"
    passed="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")"
    failed="$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")"
    seconds=$((SECONDS - start))
    printf '| %s | %s | %s | %s | %s | %s |\n' "$major" "$suites" "${passed:-0}" \
        "${failed:-0}" "${#excluded[@]}" "$seconds" >>"$report"
    if [[ $rc -ne 0 ]]; then
        status=1
        log "PostgreSQL $major FAILED (rc=$rc); failures:"
        grep -E '^ +(FAIL|SIGSEGV|SIGABRT|TIMEOUT) ' "$log_file" | sort -u >&2 || tail -n 30 "$log_file" >&2
    fi
    log "PostgreSQL $major: ${passed:-0} passed, ${failed:-0} failed, ${#excluded[@]} not run, ${seconds}s"
done

cat "$report"
if [[ -s "$notrun_report" ]]; then
    echo
    cat "$notrun_report"
fi
cp -- "$report" "$ROOT/target/test-matrix.md"
cat "$notrun_report" >>"$ROOT/target/test-matrix.md"
exit "$status"
