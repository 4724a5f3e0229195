"""Converts a history of plain SQL migration files (procrastinate's sql/migrations) into
retort revision files.

usage: build_sqlfiles.py APP MIGRATIONS_DIR OUT_DIR BASE_URL

The files are taken in name order (their names start with the version), as the
application's documentation applies them: one after the other with psql. Each file becomes
one revision whose upgrade is the file as it is; these histories have no down migrations,
so the revisions are irreversible (no downgrade section). A file that adds an enum value
runs with transaction:false (the value cannot be used in the transaction that adds it).
After each file the schema is kept as OUT_DIR/schemas/<k>.sql (pg_dump --schema-only).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    app, src, out, base_url = sys.argv[1:5]
    versions = os.path.join(out, "versions")
    schemas = os.path.join(out, "schemas")
    for d in (versions, schemas):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    files = sorted(f for f in os.listdir(src) if f.endswith(".sql"))
    dbname = f"rc_build_{app}"
    url = common.recreate_db(base_url, dbname)
    with open(os.path.join(schemas, "0.sql"), "w") as f:
        f.write(common.pg_dump(url))
    steps, parent = [], None
    for k, name in enumerate(files, start=1):
        path = os.path.join(src, name)
        with open(path) as f:
            sql = f.read()
        common.psql(url, file=path)
        with open(os.path.join(schemas, f"{k}.sql"), "w") as f:
            f.write(common.pg_dump(url))
        tx = not re.search(r"\bADD\s+VALUE\b", sql, re.I)
        message = f"{app} {name[:-4]}"
        rid, rpath = common.write_revision(versions, k, f"{app}:{name}", parent, message, sql, None, tx)
        steps.append({"k": k, "id": rid, "source": name, "file": os.path.basename(rpath)})
        parent = rid
        print(f"{app}: {k:3d} {name} -> {os.path.basename(rpath)}", file=sys.stderr)
    common.drop_db(base_url, dbname)
    with open(os.path.join(out, "steps.json"), "w") as f:
        json.dump({"app": app, "tool": "sql files", "steps": steps}, f, indent=1)


if __name__ == "__main__":
    main()
