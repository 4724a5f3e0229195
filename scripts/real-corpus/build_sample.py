"""Loads a sample database schema into a scratch database and keeps its dump as models.

usage: build_sample.py NAME SCHEMA_FILE OUT_DIR BASE_URL

The schema file is loaded with psql as the application's documentation says; the
resulting pg_dump --schema-only is OUT_DIR/models/schema.sql (the models of check c).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    name, src, out, base_url = sys.argv[1:5]
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    dbname = f"rc_build_sample_{name}"
    url = common.recreate_db(base_url, dbname)
    common.psql(url, file=src)
    with open(os.path.join(out, "models", "schema.sql"), "w") as f:
        f.write(common.pg_dump(url))
    common.drop_db(base_url, dbname)
    print(f"sample {name}: loaded {os.path.basename(src)}", file=sys.stderr)


if __name__ == "__main__":
    main()
