# Run by `retort import alembic` with the user's own Python (the environment in which
# their `alembic` command works): reads the script directory's revision graph and renders
# every revision's upgrade and downgrade offline, as `alembic upgrade A:B --sql` does
# (the project's env.py runs in offline mode), one step at a time.
#
# What a step's upgrade()/downgrade() emits is captured, and nothing else: Alembic's own
# BEGIN/COMMIT around the step, its version-table DDL and its version updates are left out
# because retort does that bookkeeping itself. A COMMIT/BEGIN pair emitted *inside* a step
# is an autocommit_block(): kept as markers, and the Rust side makes the section
# transaction:false.
#
# usage: python -c "$(cat alembic_helper.py)" ALEMBIC_INI_OR_SCRIPT_DIR
# The JSON result goes to stdout; whatever env.py prints is sent to stderr.
import json
import os
import sys
import traceback


def listify(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def main():
    out = sys.stdout
    sys.stdout = sys.stderr
    ini = sys.argv[1]
    result = {"revisions": [], "error": None}
    try:
        import alembic
        from alembic.config import Config
        from alembic.ddl import impl as ddl_impl
        from alembic.runtime import migration
        from alembic.runtime.environment import EnvironmentContext
        from alembic.script import ScriptDirectory
    except Exception as e:  # noqa: BLE001 - reported to the user as it is
        result["error"] = "cannot import alembic with %s: %s" % (sys.executable, e)
        write(out, result)
        return
    result["alembic_version"] = getattr(alembic, "__version__", "?")

    if os.path.isdir(ini):
        # A bare script directory (env.py and versions/), as packages ship them.
        cfg = Config()
        cfg.set_main_option("script_location", ini)
    else:
        cfg = Config(ini)
    if not cfg.get_main_option("sqlalchemy.url"):
        # Offline rendering needs only the dialect.
        cfg.set_main_option("sqlalchemy.url", "postgresql://")
    script = ScriptDirectory.from_config(cfg)
    revision_map = script.revision_map

    recording = [None]

    def static_output(self, text):
        if recording[0] is not None:
            recording[0].append(text)

    ddl_impl.DefaultImpl.static_output = static_output
    migration.HeadMaintainer.update_to_step = lambda self, step: None

    def render(rev, upgrade):
        name = "upgrade" if upgrade else "downgrade"
        module = rev.module
        original = getattr(module, name, None)
        if original is None:
            return {"ok": False, "error": "the revision file has no %s() function" % name}
        chunks = []

        def wrapped(*args, **kwargs):
            recording[0] = chunks
            try:
                return original(*args, **kwargs)
            finally:
                recording[0] = None

        def steps(heads, context):
            return [migration.RevisionStep(revision_map, rev, upgrade)]

        setattr(module, name, wrapped)
        try:
            with EnvironmentContext(
                cfg,
                script,
                fn=steps,
                as_sql=True,
                starting_rev=None,
                destination_rev=rev.revision,
                tag=None,
            ):
                script.run_env()
        except BaseException as e:  # noqa: BLE001 - a step that cannot render offline
            if isinstance(e, KeyboardInterrupt):
                raise
            tb = traceback.extract_tb(e.__traceback__)
            line = None
            for frame in reversed(tb):
                if frame.filename == getattr(module, "__file__", None):
                    line = frame.lineno
                    break
            text = ("%s: %s" % (type(e).__name__, e)).strip().rstrip(":").splitlines()
            return {"ok": False, "error": text[0] if text else type(e).__name__, "line": line}
        finally:
            setattr(module, name, original)
            recording[0] = None
        return {"ok": True, "chunks": chunks}

    walked = list(reversed(list(script.walk_revisions("base", "heads"))))
    by_id = {r.revision: r for r in walked}

    def resolve(ref):
        return revision_map.get_revision(ref).revision

    # Parents and dependencies before children, in Alembic's own walk order otherwise.
    placed, ordered = set(), []

    def place(rev, trail):
        if rev.revision in placed:
            return
        if rev.revision in trail:
            raise RuntimeError("cycle through revision %s" % rev.revision)
        trail.add(rev.revision)
        for ref in listify(rev.down_revision) + listify(rev.dependencies):
            parent = by_id.get(resolve(ref))
            if parent is not None:
                place(parent, trail)
        placed.add(rev.revision)
        ordered.append(rev)

    for rev in walked:
        place(rev, set())

    for rev in ordered:
        result["revisions"].append(
            {
                "id": rev.revision,
                "parents": [resolve(p) for p in listify(rev.down_revision)],
                "depends_on": [resolve(d) for d in listify(rev.dependencies)],
                "branch_labels": sorted(getattr(rev, "_orig_branch_labels", rev.branch_labels) or []),
                "message": (rev.doc or "").strip(),
                "path": rev.path,
                "upgrade": render(rev, True),
                "downgrade": render(rev, False),
            }
        )
    write(out, result)


def write(out, result):
    json.dump(result, out)
    out.flush()


if __name__ == "__main__":
    main()
