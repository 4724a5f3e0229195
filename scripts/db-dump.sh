#!/usr/bin/env bash
# `make db/dump OUTFILE=...`: a custom-format dump (pg_dump -Fc) of the configured
# database, for `retort test-migration --from-dump` or `make db/local/load-schema`.
#
#   scripts/db-dump.sh OUTFILE
#
# The database is DATABASE_URL (else the DATABASE_URL line of .env, as retort reads it).
# The URL is never printed: it may hold a password.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

[[ $# -eq 1 ]] || { echo "usage: $0 OUTFILE" >&2; exit 2; }
out="$1"

if [[ -z "${DATABASE_URL:-}" && -f .env ]]; then
    # Only DATABASE_URL, as dotenv would read it; nothing else from .env is executed.
    DATABASE_URL="$(sed -n 's/^[[:space:]]*\(export[[:space:]]\+\)\?DATABASE_URL[[:space:]]*=[[:space:]]*//p' .env |
        tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/")"
fi
[[ -n "${DATABASE_URL:-}" ]] || {
    echo "db-dump: DATABASE_URL is not set (nor in .env); export it, e.g. DATABASE_URL=postgres://... make db/dump OUTFILE=prod.dump" >&2
    exit 2
}

pg_dump="$(command -v pg_dump || ls /usr/lib/postgresql/*/bin/pg_dump 2>/dev/null | sort -V | tail -n 1)"
[[ -x "$pg_dump" ]] || { echo "db-dump: pg_dump not found; apt-get install postgresql-client" >&2; exit 2; }
tmp="$out.partial"
"$pg_dump" --format=custom --no-password --file "$tmp" --dbname "$DATABASE_URL"
mv -- "$tmp" "$out"
echo "wrote $out ($(du -h -- "$out" | cut -f1))" >&2
