#!/usr/bin/env bash
# Writes SQL for a large schema to stdout, for benchmarks:
#
#   scripts/gen-schema.sh N     N tables (default 5000)
#
# Each table has six columns (a default, a check, a foreign key to the previous table)
# and a secondary index; every tenth table also gets a view and a plpgsql function.
set -euo pipefail
n="${1:-5000}"
[[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "usage: $0 N" >&2; exit 2; }
awk -v n="$n" 'BEGIN {
    print "CREATE SCHEMA bench;"
    print "CREATE TYPE bench.status AS ENUM (\x27new\x27, \x27active\x27, \x27archived\x27);"
    for (i = 1; i <= n; i++) {
        printf "CREATE TABLE bench.t%d (\n", i
        printf "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        if (i > 1) printf "    parent_id bigint REFERENCES bench.t%d (id) ON DELETE CASCADE,\n", i - 1
        else printf "    parent_id bigint,\n"
        printf "    name text NOT NULL DEFAULT \x27\x27,\n"
        printf "    status bench.status NOT NULL DEFAULT \x27new\x27,\n"
        printf "    amount numeric(12,2) CHECK (amount >= 0),\n"
        printf "    created_at timestamptz NOT NULL DEFAULT now()\n);\n"
        printf "CREATE INDEX t%d_name_idx ON bench.t%d (name) WHERE status <> \x27archived\x27;\n", i, i
        printf "COMMENT ON TABLE bench.t%d IS \x27table %d\x27;\n", i, i
        if (i % 10 == 0) {
            printf "CREATE VIEW bench.v%d AS SELECT id, name, amount FROM bench.t%d WHERE status = \x27active\x27;\n", i, i
            printf "CREATE FUNCTION bench.f%d(x bigint) RETURNS numeric LANGUAGE plpgsql STABLE AS $$\nBEGIN\n    RETURN (SELECT sum(amount) FROM bench.t%d WHERE parent_id = x);\nEND\n$$;\n", i, i
        }
    }
}'
