#!/usr/bin/env bash
# Writes N valid, linearly chained revision files into DIR (for benchmarks).
#
#   scripts/gen-chain.sh N DIR [EXTRA_SQL]
#
# EXTRA_SQL, when given, follows the CREATE TABLE in every upgrade section (a
# `pg_sleep`, an INSERT): the fleet benchmarks' revisions are these plus their work.
# One awk process writes every file, so 10,000 revisions take well under a second.
# Ids are `%04d_%012x` (number, then a hex part derived from the number), each revision
# creating and dropping its own small table.
set -euo pipefail

[[ ($# -eq 2 || $# -eq 3) && "$1" =~ ^[0-9]+$ && "$1" -gt 0 ]] || {
    printf 'usage: %s N DIR [EXTRA_SQL]   (N > 0)\n' "$(basename -- "$0")" >&2
    exit 2
}
count="$1"
dir="$2"
extra="${3:-}"
mkdir -p -- "$dir"
if compgen -G "$dir/*.sql" >/dev/null; then
    printf 'gen-chain: %s already holds .sql files; use an empty directory\n' "$dir" >&2
    exit 2
fi

# ENVIRON, not -v: awk would read backslash escapes in EXTRA_SQL.
EXTRA="$extra" awk -v n="$count" -v dir="$dir" 'BEGIN {
    extra = ENVIRON["EXTRA"]
    parent = ""
    for (i = 1; i <= n; i++) {
        # 12 hex digits from three 16-bit chunks, since %x in awk is only 32 bits wide.
        h = i * 2654435761
        id = sprintf("%04d_%04x%04x%04x", i, int(h / 4294967296) % 65536, int(h / 65536) % 65536, h % 65536)
        file = sprintf("%s/%s_create_table_t%d.sql", dir, id, i)
        printf "-- revision: %s\n", id > file
        printf "-- down_revision: %s\n", parent > file
        printf "-- message: create table t%d\n", i > file
        printf "-- created: 2026-11-22T10:00:00+00:00\n\n" > file
        printf "-- migrate:upgrade\nCREATE TABLE t%d (id bigint PRIMARY KEY, note text);\n", i > file
        if (extra != "") {
            e = extra
            gsub(/\$i/, i, e)
            printf "%s\n", e > file
        }
        printf "\n" > file
        printf "-- migrate:downgrade\nDROP TABLE t%d;\n", i > file
        close(file)
        parent = id
    }
}'
