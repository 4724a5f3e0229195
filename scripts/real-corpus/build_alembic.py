"""Converts an installed application's Alembic history into retort revision files.

usage: build_alembic.py APP SCRIPT_LOCATION OUT_DIR BASE_URL

Each Alembic revision becomes one retort revision. The SQL is what Alembic sent to a
scratch PostgreSQL database when running that revision (SQLAlchemy's
before_cursor_execute event, parameters rendered by psycopg2's mogrify): the upgrade from
the parent, then the downgrade back to it. Catalog reads (SELECT, SHOW) and Alembic's own
bookkeeping (alembic_version) are left out. After each upgrade the application's schema is
kept as OUT_DIR/schemas/<k>.sql (pg_dump --schema-only); schemas/0.sql is the empty one.
A revision whose downgrade raises is written without a downgrade section (irreversible).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from alembic.config import Config  # noqa: E402
from alembic.runtime.environment import EnvironmentContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import create_engine, event, pool  # noqa: E402

SAVEPOINT = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\s+(\S+)", re.I)
NOT_RECORDED = re.compile(r"^\s*(select|show|with\b[\s\S]*\bselect)\b", re.I)


def main():
    app, location, out, base_url = sys.argv[1:5]
    versions = os.path.join(out, "versions")
    schemas = os.path.join(out, "schemas")
    for d in (versions, schemas):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))

    cfg = Config()
    cfg.set_main_option("script_location", location)
    script = ScriptDirectory.from_config(cfg)
    revs = list(reversed(list(script.walk_revisions("base", "heads"))))
    for r in revs:
        if isinstance(r.down_revision, (tuple, list)) and len(r.down_revision) > 1:
            sys.exit(f"{app}: merge revision {r.revision} not supported by this converter")

    dbname = f"rc_build_{app}"
    url = common.recreate_db(base_url, dbname)
    sa_url = url.replace("postgres://", "postgresql+psycopg2://", 1)
    engine = create_engine(sa_url, poolclass=pool.NullPool)
    recorded = []
    recording = [False]

    savepoints = []  # (name, index into recorded) of the open savepoints

    @event.listens_for(engine, "after_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        # After execution: a statement that failed is never recorded. Savepoints are
        # followed, not recorded: what a ROLLBACK TO SAVEPOINT undid is dropped.
        if not recording[0]:
            return
        params = parameters if executemany else [parameters]
        for p in params:
            text = cursor.mogrify(statement, p).decode()
            m = SAVEPOINT.match(text)
            if m:
                verb, name = m.group(1).upper(), m.group(2)
                if verb == "SAVEPOINT":
                    savepoints.append((name, len(recorded)))
                else:
                    while savepoints and savepoints[-1][0] != name:
                        savepoints.pop()
                    if savepoints and verb.startswith("ROLLBACK"):
                        del recorded[savepoints[-1][1]:]
                    if savepoints and verb.startswith("RELEASE"):
                        savepoints.pop()
                continue
            if NOT_RECORDED.match(text) or "alembic_version" in text:
                continue
            recorded.append(text.strip().rstrip(";"))

    def run(eng, target, downgrade):
        def fn(rev, context):
            if downgrade:
                return script._downgrade_revs(target, rev)
            return script._upgrade_revs(target, rev)

        with eng.connect() as conn:
            with EnvironmentContext(cfg, script, fn=fn, destination_rev=target):
                from alembic import context

                context.configure(connection=conn, transaction_per_migration=True)
                with context.begin_transaction():
                    context.run_migrations()
            conn.commit()

    def take():
        sql = "".join(s + ";\n\n" for s in recorded)
        recorded.clear()
        savepoints.clear()
        return sql

    with open(os.path.join(schemas, "0.sql"), "w") as f:
        f.write(common.pg_dump(url))
    steps, parent = [], None
    for k, r in enumerate(revs, start=1):
        recording[0] = True
        run(engine, r.revision, False)
        up = take()
        recording[0] = False
        with open(os.path.join(schemas, f"{k}.sql"), "w") as f:
            f.write(common.pg_dump(url))
        # The downgrade runs on a copy, so that an application downgrade that is not an
        # exact inverse (optuna's base revision leaves its enum types behind) does not
        # disturb the chain.
        copy_url = common.recreate_db(base_url, dbname + "_down", template=dbname)
        copy_engine = create_engine(
            copy_url.replace("postgres://", "postgresql+psycopg2://", 1), poolclass=pool.NullPool
        )
        event.listen(copy_engine, "after_cursor_execute", record)
        recording[0] = True
        try:
            run(copy_engine, r.down_revision or "base", True)
            down = take()
        except Exception as e:  # an irreversible revision
            print(f"{app}: {r.revision}: downgrade raised {type(e).__name__}: {e}", file=sys.stderr)
            down = None
            recorded.clear()
        recording[0] = False
        copy_engine.dispose()
        common.drop_db(base_url, dbname + "_down")
        message = f"{app} alembic {r.revision}: {(r.doc or '').strip().splitlines()[0] if r.doc else ''}"
        rid, path = common.write_revision(versions, k, f"{app}:{r.revision}", parent, message, up, down)
        steps.append({"k": k, "id": rid, "source": r.revision, "file": os.path.basename(path)})
        parent = rid
        print(f"{app}: {k:3d} {r.revision} -> {os.path.basename(path)}", file=sys.stderr)

    engine.dispose()
    common.drop_db(base_url, dbname)
    with open(os.path.join(out, "steps.json"), "w") as f:
        json.dump({"app": app, "tool": "alembic", "source_dir": os.path.abspath(location),
                   "steps": steps}, f, indent=1)


if __name__ == "__main__":
    main()
