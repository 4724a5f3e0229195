#!/usr/bin/env bash
# `make demo`: a tour of retort's offline commands.
#   1. on the repository's own example chain (versions/), read-only;
#   2. on a throwaway copy: new revisions on two branches, a merge, a tampered file;
#   3. the example chain on a throwaway PostgreSQL: upgrade, current, downgrade, stamp.
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
run lint --all
run lint --explain index-not-concurrent
run show head

work="$(mktemp -d /tmp/retort-demo.XXXXXX)"
trap 'rm -rf -- "$work"' EXIT
cp -r versions models "$work/"
cd "$work"
printf '\n== a throwaway copy in %s ==\n' "$work"
run new-migration -m "add user email"
say "retort new-migration -m \"add dataset tags\" --head 0005   # not a head: refused, exit 2"
if "$RETORT" new-migration -m "add dataset tags" --head 0005; then
    echo "demo: a revision on a non-head should need --splice" >&2
    exit 1
else
    echo "(exit $?)"
fi
run new-migration -m "add dataset tags" --head 0005 --splice
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

printf '\n== the example chain on a throwaway PostgreSQL ==\n'
# A private server of its own, so a server from `make local-start` is left alone.
export RETORT_PG_STATE="$work/pg-state"
url="$(scripts/pg-local.sh start)"
trap 'scripts/pg-local.sh stop; rm -rf -- "$work"' EXIT
export DATABASE_URL="$url"
run current
run upgrade 0003
run current -v
run upgrade
say "retort upgrade --sql 0003:head | head -n 12   # the script a DBA would review"
"$RETORT" upgrade --sql 0003:head >"$work/upgrade.sql"
head -n 12 "$work/upgrade.sql"
run verify
run dump-schema -o "$work/schema.sql"
say "head -n 20 schema.sql   # canonical, sorted, one object per block"
head -n 20 "$work/schema.sql"
run downgrade -1
run dump-schema -o "$work/schema-down.sql"
say "retort diff-dumps schema.sql schema-down.sql   # what the downgrade removed"
"$RETORT" diff-dumps "$work/schema.sql" "$work/schema-down.sql" || true
run downgrade base
run stamp head
run current

printf '\n== test-migration: every revision proven reversible ==\n'
say "make db/dump OUTFILE=prod.dump   # pg_dump -Fc of \$DATABASE_URL, as of production"
"$RETORT" stamp base >/dev/null
"$RETORT" -q upgrade 0003
scripts/db-dump.sh "$work/prod.dump"
run test-migration --from-dump "$work/prod.dump" --each
printf '\n== autogenerate: edit a model, let retort write the revision ==\n'
auto="$work/autogen"
mkdir -p "$auto"
cp -r versions models "$auto/"
cd "$auto"
# Scratch databases on the demo's own server (the default would start a private cluster).
export RETORT_SCRATCH_URL="$url"
run check
say "edit models/10_users.sql: add a nickname column; models/30_datasets.sql: an index"
sed -i 's/^    display_name text,$/    display_name text,\n    nickname     varchar(40) NOT NULL DEFAULT '"''"',/' models/10_users.sql
printf '\nCREATE INDEX datasets_name_idx ON datasets (lower(name));\n' >>models/30_datasets.sql
say "retort check   # the models moved ahead of the chain: exit 1 and the SQL that would fix it"
if "$RETORT" check; then
    echo "demo: check should have failed" >&2
    exit 1
else
    echo "(exit $?)"
fi
run new-migration -m "add user nickname" --autogenerate
say "cat versions/0006_*.sql"
cat versions/0006_*.sql
run test-migration --each -r 0005:head
say "retort lint --observe   # the pending revision run on a scratch copy: the locks and rewrites it really causes"
"$RETORT" lint --observe
run upgrade
run check
run check --from-database "$url"
unset RETORT_SCRATCH_URL
cd - >/dev/null

printf '\n== fleet: one chain, many tenants ==\n'
say "three tenant schemas in one database, each with its own version table"
psql -q -X -d "$url" -c 'CREATE SCHEMA tenant_acme; CREATE SCHEMA tenant_globex; CREATE SCHEMA tenant_initech'
run fleet upgrade --schemas 'tenant_%' --concurrency 2 0003
run fleet status --schemas 'tenant_%'
run fleet upgrade --schemas 'tenant_%' --concurrency 3 --events "$work/fleet.jsonl"
say "tail -n 2 fleet.jsonl   # every step, retry and failure, written as it happens"
tail -n 2 "$work/fleet.jsonl"

say "retort test-migration --each --scratch local   # the whole chain, replayed from base in a private cluster"
# Last, so the demo ends on it: the default source, a private scratch cluster.
unset DATABASE_URL
"$RETORT" test-migration --each --scratch local
printf '\ndemo done.\n'
