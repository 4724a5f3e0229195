"""The reference schemas of a SQL-file tool's history, as the tool would leave them.

usage: build_toolfiles.py TOOL APP SOURCE_DIR OUT_DIR BASE_URL

TOOL is flyway, sqlx or golang-migrate. The tool's up files, in its version order, are
applied one at a time with psql, each in one transaction as the tool runs it (sqlx's
`-- no-transaction` first line runs without one); OUT_DIR/schemas/<k>.sql is the
pg_dump after step k (0.sql the empty schema). Then the down files are applied newest
first on the same database: schemas/down_<k-1>.sql is the schema after undoing step k,
and `down_fails_at` in steps.json is the step whose down is missing or fails (null when
all ran): a history whose own downs break cannot be expected to downgrade under retort
either, and must break at the same step. Nothing here reads retort's parser: the file
patterns are the tools' own.

steps.json: {"app", "tool", "source_dir", "import_only": true, "down_fails_at",
"steps": [{"k", "source" (the version as the tool records it), "file"}]}
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PATTERNS = {
    # Flyway (and refinery, which shares its names): V<version>__<description>.sql anywhere.
    "flyway": re.compile(r"^V(\d+(?:[._]\d+)*)__(.+)\.sql$"),
    "sqlx": re.compile(r"^(\d+)_(.+?)\.(?:up\.)?sql$"),
    "golang-migrate": re.compile(r"^(\d+)_(.+)\.up\.sql$"),
}


def migrations(tool, source):
    """[(sort key, version as recorded, up path, down path or None)] in version order."""
    found = []
    for root, _, files in os.walk(source):
        if tool != "flyway" and root != source:
            continue
        for name in files:
            if name.endswith(".down.sql"):
                continue
            m = PATTERNS[tool].match(name)
            if not m:
                continue
            version = m.group(1)
            if tool == "flyway":
                parts = [int(p) for p in re.split(r"[._]", version)]
                while len(parts) > 1 and parts[-1] == 0:
                    parts.pop()
                recorded = ".".join(str(p) for p in parts)
            else:
                parts = [int(version)]
                recorded = str(int(version))
            down = None
            if tool != "flyway":
                stem = name[: -len(".up.sql")] if name.endswith(".up.sql") else None
                if stem and os.path.exists(os.path.join(root, stem + ".down.sql")):
                    down = os.path.join(root, stem + ".down.sql")
            found.append((parts, recorded, os.path.join(root, name), down))
    return sorted(found)


def apply(url, path, tool):
    with open(path) as f:
        text = f.read()
    single = not (tool == "sqlx" and text.startswith("-- no-transaction"))
    common.psql(url, file=path, single_transaction=single)


def main():
    tool, app, source, out, base_url = sys.argv[1:6]
    schemas = os.path.join(out, "schemas")
    os.makedirs(schemas, exist_ok=True)
    for f in os.listdir(schemas):
        os.remove(os.path.join(schemas, f))
    found = migrations(tool, source)
    if not found:
        sys.exit(f"{app}: no {tool} migrations in {source}")
    dbname = f"rc_build_{app}"
    url = common.recreate_db(base_url, dbname)
    with open(os.path.join(schemas, "0.sql"), "w") as f:
        f.write(common.pg_dump(url))
    steps = []
    for k, (_, recorded, up, _) in enumerate(found, start=1):
        try:
            apply(url, up, tool)
        except RuntimeError as e:
            # The tool itself fails here on this major (sqlxmq's first migration builds an
            # index calling uuid_nil() without a schema, which PostgreSQL 17's safe
            # search_path for index builds refuses): nothing to compare retort with.
            reason = f"step {k} ({os.path.relpath(up, source)}) fails under the tool itself: " \
                     + next((line for line in str(e).splitlines() if "ERROR:" in line), str(e)).strip()
            print(f"{app}: {reason}; not run on this server", file=sys.stderr)
            common.drop_db(base_url, dbname)
            with open(os.path.join(out, "steps.json"), "w") as f:
                json.dump({"app": app, "tool": tool, "not_run": reason, "steps": []}, f, indent=1)
            return
        with open(os.path.join(schemas, f"{k}.sql"), "w") as f:
            f.write(common.pg_dump(url))
        steps.append({"k": k, "source": recorded, "file": os.path.relpath(up, source)})
        print(f"{app}: {k:3d} {tool} {recorded} <- {os.path.relpath(up, source)}", file=sys.stderr)
    # The downs, newest first, as the tool runs them: the schema after undoing step k is
    # schemas/down_<k-1>.sql; a down that fails (or is missing) ends the walk there.
    down_fails_at = None
    for k in range(len(found), 0, -1):
        down = found[k - 1][3]
        if down is None:
            down_fails_at = k
            break
        try:
            apply(url, down, tool)
        except RuntimeError as e:
            print(f"{app}: the history's own downgrade of step {k} fails: {str(e).splitlines()[-1]}",
                  file=sys.stderr)
            down_fails_at = k
            break
        with open(os.path.join(schemas, f"down_{k - 1}.sql"), "w") as f:
            f.write(common.pg_dump(url))
    common.drop_db(base_url, dbname)
    with open(os.path.join(out, "steps.json"), "w") as f:
        json.dump({"app": app, "tool": tool, "source_dir": os.path.abspath(source),
                   "import_only": True, "down_fails_at": down_fails_at, "steps": steps}, f, indent=1)


if __name__ == "__main__":
    main()
