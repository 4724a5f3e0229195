#!/usr/bin/env bash
# `make demo`: a tour of retort's offline commands.
#   1. on the repository's own example chain (versions/), read-only;
#   2. on a throwaway copy: new revisions on two branches, a merge, a tampered file;
#   3. the example chain applied to a throwaway PostgreSQL with psql, up and down.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
RETORT="$(readlink -f -- "${1:-target/debug/retort}")"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "retort $*"; "$RETORT" "$@"; }

printf '== the example chain in versions/ ==\n'
run history
run heads
run graph
run verify --files
run show head

work="$(mktemp -d /tmp/retort-demo.XXXXXX)"
trap 'rm -rf -- "$work"' EXIT
cp -r versions models "$work/"
cd "$work"
printf '\n== a throwaway copy in %s ==\n' "$work"
run new-migration -m "add user email"
run new-migration -m "add dataset tags" --head 0005
say "retort heads   # two heads now"
"$RETORT" heads
run merge -m "merge email and tags"
run graph
run history -r 0005:head --verbose
printf '\n-- tampered with after rehash --\n' >>"$(ls versions/0002_*.sql)"
say "retort verify --files   # an edited file is named, exit 1"
if "$RETORT" verify --files; then
    echo "demo: verify should have failed" >&2
    exit 1
else
    echo "(exit $?)"
fi
cd - >/dev/null

printf '\n== the example chain on a throwaway PostgreSQL (psql) ==\n'
# A private server of its own, so a server from `make local-start` is left alone.
export RETORT_PG_STATE="$work/pg-state"
url="$(scripts/pg-local.sh start)"
trap 'rm -rf -- "$work"; scripts/pg-local.sh stop' EXIT
psql_bin="$(command -v psql || echo /usr/lib/postgresql/*/bin/psql)"
for f in versions/[0-9]*.sql; do
    awk '/^-- migrate:upgrade/{on=1; next} /^-- migrate:downgrade/{on=0} on' "$f" |
        "$psql_bin" -q -v ON_ERROR_STOP=1 --single-transaction "$url" >/dev/null
    printf 'upgraded   %s\n' "$(basename "$f")"
done
"$psql_bin" -X -c '\dt' "$url"
for f in $(ls -r versions/[0-9]*.sql); do
    awk '/^-- migrate:downgrade/{on=1; next} /^-- migrate:upgrade/{on=0} on' "$f" |
        "$psql_bin" -q -v ON_ERROR_STOP=1 --single-transaction "$url" >/dev/null
    printf 'downgraded %s\n' "$(basename "$f")"
done
printf '\ndemo done.\n'
