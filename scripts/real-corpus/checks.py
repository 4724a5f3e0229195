"""The real-corpus checks: retort against real applications' histories and real schemas.

usage: checks.py RETORT BASE_URL CORPUS_DIR [APP...]

CORPUS_DIR holds one directory per application (versions/, schemas/<k>.sql, steps.json,
built by build.sh) and one per sample database (models/schema.sql only). Every check
prints what it ran and, on failure, the command, its input and its output. The last line
is `N passed, N failed`; the exit status is 1 when anything failed.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_toolfiles  # noqa: E402
import common  # noqa: E402

RETORT = BASE = CORPUS = None
PASSED, FAILED = [0], [0]
FAILURES = []
NOT_RUN = []


def ok(what):
    PASSED[0] += 1


def fail(app, check, what, detail):
    FAILED[0] += 1
    FAILURES.append((app, check, what))
    print(f"  FAIL [{app} {check}] {what}")
    for line in detail.rstrip().splitlines():
        print("    | " + line)


def retort(args, cwd, url=None):
    """Runs retort; returns (exit code, stdout, stderr, the command as text)."""
    cmd = [RETORT]
    if url:
        cmd += ["--database-url", url]
    cmd += args
    env = dict(os.environ, RETORT_SCRATCH_URL=BASE, NO_COLOR="1")
    env.pop("DATABASE_URL", None)
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    shown = " ".join(cmd).replace(RETORT, "retort")
    return p.returncode, p.stdout, p.stderr, f"(cd {cwd} && {shown})"


def clip(text, n=40):
    lines = text.rstrip().splitlines()
    if len(lines) > n:
        lines = lines[:n] + [f"... ({len(lines) - n} more lines)"]
    return "\n".join(lines)


def schema(app_dir, k):
    with open(os.path.join(app_dir, "schemas", f"{k}.sql")) as f:
        return f.read()


def load_meta(app_dir):
    with open(os.path.join(app_dir, "steps.json")) as f:
        return json.load(f)


def load_steps(app_dir):
    with open(os.path.join(app_dir, "steps.json")) as f:
        return json.load(f)["steps"]


def write_config(app_dir):
    models = os.path.join(app_dir, "models")
    os.makedirs(models, exist_ok=True)
    with open(os.path.join(app_dir, "retort.toml"), "w") as f:
        f.write('versions = "versions"\nmodels = "models"\n')


# ---------------------------------------------------------------------------- a
def check_upgrade(app, app_dir, steps):
    """a. retort upgrade, revision by revision, gives the application's schema each time."""
    url = common.recreate_db(BASE, f"rc_a_{app}")
    good = 0
    for s in steps:
        code, out, err, cmd = retort(["upgrade", s["id"]], app_dir, url)
        if code != 0:
            fail(app, "a", f"step {s['k']} ({s['source']}): upgrade failed",
                 f"$ {cmd}\nexit {code}\n{clip(out + err)}")
            break
        got = common.pg_dump(url)
        want = schema(app_dir, s["k"])
        cls = common.compare(want, got)
        if cls != "identical":
            fail(app, "a", f"step {s['k']} ({s['source']}) first differs from the application's schema ({cls})",
                 f"$ {cmd}\nrevision file: {s['file']}\n"
                 + common.unified(want, got, f"schemas/{s['k']}.sql (application)", "after retort upgrade"))
            break
        good += 1
        ok("a")
    common.drop_db(BASE, f"rc_a_{app}")
    print(f"  a. upgrade reproduces the application's schema: {good}/{len(steps)} steps")


# ---------------------------------------------------------------------------- b
MANUAL = re.compile(r"^\s*--.*(retort: manual step|unsupported)", re.I | re.M)


def check_diff(app, app_dir, steps):
    """b. retort diff k-1 -> k applied to k-1 gives k, and the reverse."""
    counts = dict(steps=0, identical=0, order_only=0, flagged_manual=0, failed=0)

    def loaded(k):
        name = f"rc_b_{app}_s{k}"
        url = common.recreate_db(BASE, name)
        path = os.path.join(app_dir, "schemas", f"{k}.sql")
        common.psql(url, file=path)
        return name, url, common.pg_dump(url)

    def direction(k, src, dst, label):
        (sname, surl, _), (dname, durl, want) = src, dst
        code, out, err, cmd = retort(["diff", "--from", surl, "--to", durl], app_dir)
        if code not in (0, 1):
            counts["failed"] += 1
            fail(app, "b", f"step {k} {label}: retort diff failed", f"$ {cmd}\nexit {code}\n{clip(out + err)}")
            return
        if MANUAL.search(out):
            counts["flagged_manual"] += 1
            ok("b")
            return
        if not any(l.strip() and not l.lstrip().startswith("--") for l in out.splitlines()):
            got = src[2]  # nothing to run: the result is the source
        else:
            target = f"rc_b_{app}_apply"
            aurl = common.recreate_db(BASE, target, template=sname)
            with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
                f.write(out)
            p = common.psql(aurl, file=f.name, check=False)
            os.unlink(f.name)
            if p.returncode != 0:
                counts["failed"] += 1
                fail(app, "b", f"step {k} {label}: the generated SQL does not apply",
                     f"$ {cmd}\n--- generated SQL\n{clip(out, 60)}\n--- psql\n{clip(p.stderr)}")
                common.drop_db(BASE, target)
                return
            got = common.pg_dump(aurl)
            common.drop_db(BASE, target)
        cls = common.compare(want, got)
        if cls == "identical":
            counts["identical"] += 1
            ok("b")
        elif cls == "order-only":
            counts["order_only"] += 1
            ok("b")
        else:
            counts["failed"] += 1
            fail(app, "b", f"step {k} {label}: diff applied does not give the target schema",
                 f"$ {cmd}\n--- generated SQL\n{clip(out, 60)}\n--- schema diff (target vs result)\n"
                 + common.unified(want, got, "target", "after applying the diff"))

    prev = loaded(0)
    for s in steps:
        k = s["k"]
        a, b = schema(app_dir, k - 1), schema(app_dir, k)
        if common.normalize(a) == common.normalize(b):
            continue
        counts["steps"] += 1
        cur = loaded(k)
        direction(k, prev, cur, "forward")
        direction(k, cur, prev, "reverse")
        common.drop_db(BASE, prev[0])
        prev = cur
    common.drop_db(BASE, prev[0])
    print("  b. diff between consecutive schemas: "
          f"{counts['steps']} schema-changing steps, directions: {counts['identical']} identical, "
          f"{counts['order_only']} order-only, {counts['flagged_manual']} flagged manual, "
          f"{counts['failed']} failed")


# ---------------------------------------------------------------------------- c
def check_models(app, app_dir, has_chain):
    """c. check of the chain against the final dump; autogenerate from an empty chain."""
    write_config(app_dir)
    if has_chain:
        code, out, err, cmd = retort(["check", "--scratch", "server", "--scratch-url", BASE], app_dir)
        if code == 0:
            ok("c")
            print("  c. retort check (chain head vs the final pg_dump as models): passed")
        else:
            fail(app, "c", "retort check of the converted chain against models/ (the final dump)",
                 f"$ {cmd}\nexit {code}\n{clip(out + err, 60)}")
    auto = os.path.join(app_dir, "auto")
    os.makedirs(os.path.join(auto, "versions"), exist_ok=True)
    for f in os.listdir(os.path.join(auto, "versions")):
        os.remove(os.path.join(auto, "versions", f))
    with open(os.path.join(auto, "retort.toml"), "w") as f:
        f.write('versions = "versions"\nmodels = "../models"\n')
    scratch = ["--scratch", "server", "--scratch-url", BASE]
    stages = [
        ("new-migration --autogenerate from an empty chain",
         ["new-migration", "-m", "initial", "--autogenerate"] + scratch, None),
        ("upgrade of the generated revision", ["upgrade"], "db"),
        ("check after it", ["check"] + scratch, None),
        ("test-migration --each", ["test-migration", "--each"] + scratch, None),
    ]
    url = common.recreate_db(BASE, f"rc_c_{app}")
    passed = 0
    for what, args, db in stages:
        code, out, err, cmd = retort(args, auto, url if db else None)
        if code != 0:
            files = os.listdir(os.path.join(auto, "versions"))
            extra = ""
            if files:
                with open(os.path.join(auto, "versions", sorted(files)[0])) as f:
                    extra = "\n--- generated revision\n" + clip(f.read(), 60)
            fail(app, "c", f"autogenerate: {what}", f"$ {cmd}\nexit {code}\n{clip(out + err, 60)}{extra}")
            break
        passed += 1
        ok("c")
    common.drop_db(BASE, f"rc_c_{app}")
    print(f"  c. autogenerate from an empty chain: {passed}/{len(stages)} stages passed")


# ---------------------------------------------------------------------------- e
def check_dump_loads(app, app_dir):
    """e. retort's dump of the final schema is a schema file: psql loads it into an empty
    database, whose dump is byte-identical, and `check` with it as models agrees with the
    database it came from."""
    src = common.recreate_db(BASE, f"rc_e_{app}_src")
    copy = common.recreate_db(BASE, f"rc_e_{app}_copy")
    work = os.path.join(app_dir, "dump_loads")
    os.makedirs(os.path.join(work, "models"), exist_ok=True)
    os.makedirs(os.path.join(work, "versions"), exist_ok=True)
    with open(os.path.join(work, "retort.toml"), "w") as f:
        f.write('versions = "versions"\nmodels = "models"\n')
    dump_file = os.path.join(work, "models", "schema.sql")
    passed = 0
    try:
        common.psql(src, file=os.path.join(app_dir, "models", "schema.sql"))
        code, out, err, cmd = retort(["dump-schema", "-o", dump_file], work, src)
        if code != 0:
            fail(app, "e", "dump-schema of the final schema", f"$ {cmd}\nexit {code}\n{clip(out + err)}")
            return
        loaded = common.psql(copy, file=dump_file, check=False)
        if loaded.returncode != 0:
            with open(dump_file) as f:
                text = f.read()
            fail(app, "e", "psql -v ON_ERROR_STOP=1 -f of retort's dump",
                 f"{clip(loaded.stderr, 20)}\n--- the dump\n{clip(text, 60)}")
            return
        passed += 1
        ok("e")
        code, again, err, cmd = retort(["dump-schema"], work, copy)
        with open(dump_file) as f:
            first = f.read()
        if code != 0 or again != first:
            fail(app, "e", "the loaded dump dumps byte-identically",
                 f"$ {cmd}\nexit {code}\n{clip(err)}\n{common.unified(first, again)}")
        else:
            passed += 1
            ok("e")
        code, out, err, cmd = retort(["check", "--from-database", src, "--scratch", "server",
                                      "--scratch-url", BASE], work)
        if code != 0:
            fail(app, "e", "check with the dump as models against its database",
                 f"$ {cmd}\nexit {code}\n{clip(out + err, 60)}")
        else:
            passed += 1
            ok("e")
        passed += adopt(app, app_dir, src)
    finally:
        common.drop_db(BASE, f"rc_e_{app}_src")
        common.drop_db(BASE, f"rc_e_{app}_copy")
        print(f"  e. retort's dump loads with psql, dumps identically, serves as models; "
              f"the database is adopted: {passed}/4")


def adopt(app, app_dir, src):
    """e, last part: `init --from-database`, then `stamp head`, then `check
    --from-database` on the application's database."""
    project = os.path.join(app_dir, "adopted")
    subprocess.run(["rm", "-rf", project], check=True)
    scratch = ["--scratch", "server", "--scratch-url", BASE]
    stages = [
        (["init", "adopted", "--from-database", src] + scratch, app_dir, None),
        (["stamp", "head"] + scratch, project, src),
        (["check", "--from-database", src] + scratch, project, None),
    ]
    for args, cwd, url in stages:
        code, out, err, cmd = retort(args, cwd, url)
        if code != 0:
            fail(app, "e", f"adopting the database: retort {args[0]}",
                 f"$ {cmd}\nexit {code}\n{clip(out + err, 60)}")
            return 0
    ok("e")
    return 1


# ---------------------------------------------------------------------------- f
def check_import(app, app_dir, steps, meta):
    """f. `retort import` of the application's own history (as the tool keeps it, not
    the recorded SQL): one revision per step with its `-- source:` id, the chain's
    upgrade gives the application's schema after every step (a step the import reports
    as not convertible is filled in with what the tool ran, as a person would), the
    downgrades that exist lead back to the empty schema, and `stamp --from-tool` records
    the revision the tool's own table names."""
    tool = meta["tool"]
    project = os.path.join(app_dir, "imported")
    subprocess.run(["rm", "-rf", project], check=True)
    os.makedirs(project)
    args = ["--json", "--versions", "versions", "import", tool, meta["source_dir"]]
    if tool == "alembic":
        venv = os.environ.get("REAL_VENV") or os.path.join(os.path.dirname(CORPUS), "venv")
        args += ["--python", os.path.join(venv, "bin", "python")]
    code, out, err, cmd = retort(args, project)
    if code not in (0, 1):
        fail(app, "f", f"import {tool}", f"$ {cmd}\nexit {code}\n{clip(out + err)}")
        return
    report = json.loads(out)
    by_source = {r["source"]: r for r in report["revisions"]}
    want = [s["source"] for s in steps]
    if sorted(by_source) != sorted(want):
        fail(app, "f", "import: the revisions are not the application's",
             f"$ {cmd}\nimported: {sorted(by_source)}\nhistory: {sorted(want)}")
        return
    incomplete = [r for r in report["revisions"] if r["incomplete"]]
    if (code == 1) != bool(incomplete):
        fail(app, "f", "import: exit code and report disagree", f"$ {cmd}\nexit {code}\n{clip(err)}")
        return
    ok("f")
    if incomplete and meta.get("import_only"):
        fail(app, "f", "import: revisions reported as not convertible",
             f"$ {cmd}\n{clip(err)}")
        return
    step_of = {s["source"]: s for s in steps}
    for r in incomplete:
        # What a person does with a step that cannot be rendered offline: write the SQL
        # the tool runs online (recorded by the corpus build) in place of the refusal.
        recorded, _, _ = common.sections(os.path.join(app_dir, "versions", step_of[r["source"]]["file"]))
        path = os.path.join(project, r["path"])
        with open(path) as f:
            text = f.read()
        head, rest = text.split("-- migrate:upgrade", 1)
        tail = rest[rest.find("\n-- migrate:downgrade"):] if "\n-- migrate:downgrade" in rest else "\n"
        with open(path, "w") as f:
            f.write(head + "-- migrate:upgrade\n" + recorded.strip() + "\n" + tail)
        print(f"  f. reported as not convertible offline: {r['source']} ({r['path']}); "
              "filled in with the SQL the tool ran")
    if incomplete:
        code, out, err, cmd = retort(["--versions", "versions", "rehash"], project)
        if code != 0:
            fail(app, "f", "rehash after filling in", f"$ {cmd}\nexit {code}\n{clip(out + err)}")
            return

    url = common.recreate_db(BASE, f"rc_f_{app}")
    good = 0
    for s in steps:
        rid = by_source[s["source"]]["revision"]
        code, out, err, cmd = retort(["--versions", "versions", "upgrade", rid], project, url)
        if code != 0:
            fail(app, "f", f"step {s['k']} ({s['source']}): upgrade of the imported chain failed",
                 f"$ {cmd}\nexit {code}\n{clip(out + err)}")
            break
        got, want_schema = common.pg_dump(url), schema(app_dir, s["k"])
        cls = common.compare(want_schema, got)
        if cls != "identical":
            fail(app, "f", f"step {s['k']} ({s['source']}) of the imported chain differs ({cls})",
                 f"$ {cmd}\n" + common.unified(want_schema, got, f"schemas/{s['k']}.sql (application)",
                                                 "after retort upgrade (imported)"))
            break
        good += 1
        ok("f")
    print(f"  f. the imported chain reproduces the application's schema: {good}/{len(steps)} steps")
    if good == len(steps) and meta.get("import_only"):
        check_import_downgrades(app, app_dir, steps, meta, project, by_source, url)
    common.drop_db(BASE, f"rc_f_{app}")
    if good == len(steps) and len(steps) >= 2:
        stamp_from_tool(app, app_dir, steps, meta, project, by_source)


def check_import_downgrades(app, app_dir, steps, meta, project, by_source, url):
    """f, downgrades: `retort downgrade` of the imported chain one step at a time gives
    the schema the tool's own down files give, and fails where they fail (or are
    missing)."""
    fails_at = meta.get("down_fails_at")
    done = 0
    for s in reversed(steps):
        k = s["k"]
        target = by_source[steps[k - 2]["source"]]["revision"] if k > 1 else "base"
        code, out, err, cmd = retort(["--versions", "versions", "downgrade", target], project, url)
        if k == fails_at:
            if code == 0:
                fail(app, "f", f"downgrade of step {k}: the tool's own down fails, retort's passed",
                     f"$ {cmd}\n{clip(out + err)}")
                return
            break
        if code != 0:
            fail(app, "f", f"downgrade of step {k} ({s['source']}) failed",
                 f"$ {cmd}\nexit {code}\n{clip(out + err)}")
            return
        want = open(os.path.join(app_dir, "schemas", f"down_{k - 1}.sql")).read()
        cls = common.compare(want, common.pg_dump(url))
        if cls != "identical":
            fail(app, "f", f"downgrade of step {k} ({s['source']}) differs from the tool's ({cls})",
                 f"$ {cmd}\n" + common.unified(want, common.pg_dump(url), f"schemas/down_{k - 1}.sql",
                                                 "after retort downgrade"))
            return
        done += 1
        ok("f")
    where = f"; step {fails_at}'s own down fails or is missing, and so does retort's" if fails_at else ""
    print(f"  f. downgrade of the imported chain gives the tool's schema: {done} steps{where}")
    if fails_at:
        ok("f")


def stamp_from_tool(app, app_dir, steps, meta, project, by_source):
    """f, last part: a database the tool left at the next-to-last step (its schema and
    its version table as the tool writes them) is stamped by `stamp --from-tool` at the
    matching revision, then `upgrade` applies exactly the last one."""
    tool, before = meta["tool"], steps[-2]
    url = common.recreate_db(BASE, f"rc_f_{app}_stamp")
    try:
        if meta.get("import_only"):
            # What the tool itself would have left: its files up to there.
            for _, _, up, _ in build_toolfiles.migrations(tool, meta["source_dir"])[:len(steps) - 1]:
                build_toolfiles.apply(url, up, tool)
        else:
            common.psql(url, file=os.path.join(app_dir, "schemas", f"{before['k']}.sql"))
        common.psql(url, TOOL_TABLES[tool]([s["source"] for s in steps[:-1]]))
        scratch = ["--scratch", "server", "--scratch-url", BASE]
        stages = [
            ["--versions", "versions", "stamp", "--from-tool", tool] + scratch,
            ["--versions", "versions", "upgrade"],
        ]
        for args in stages:
            code, out, err, cmd = retort(args, project, url)
            if code != 0:
                fail(app, "f", f"stamp --from-tool {tool}, then upgrade",
                     f"$ {cmd}\nexit {code}\n{clip(out + err, 60)}")
                return
        code, out, err, cmd = retort(["--versions", "versions", "--json", "current"], project, url)
        last = by_source[steps[-1]["source"]]["revision"]
        cls = common.compare(schema(app_dir, steps[-1]["k"]), common.pg_dump(url))
        if last not in out or cls != "identical":
            fail(app, "f", f"after stamp --from-tool {tool} and upgrade",
                 f"$ {cmd}\n{clip(out + err)}\nwanted {last}; schema {cls}")
            return
        ok("f")
        print(f"  f. stamp --from-tool {tool} at {before['source']}, then upgrade: at the last step")
    finally:
        common.drop_db(BASE, f"rc_f_{app}_stamp")


# The version tables as each tool creates them, holding `versions` (applied in order).
TOOL_TABLES = {
    "alembic": lambda versions: (
        "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);"
        f"INSERT INTO alembic_version VALUES ('{versions[-1]}')"),
    "flyway": lambda versions: (
        "CREATE TABLE flyway_schema_history (installed_rank int NOT NULL PRIMARY KEY,"
        " version varchar(50), description varchar(200) NOT NULL, type varchar(20) NOT NULL,"
        " script varchar(1000) NOT NULL, checksum int, installed_by varchar(100) NOT NULL,"
        " installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL,"
        " success boolean NOT NULL);"
        + "".join(f"INSERT INTO flyway_schema_history VALUES ({i}, '{v}', 'd', 'SQL', 'V{v}__d.sql',"
                  f" 0, 'flyway', now(), 1, true);" for i, v in enumerate(versions, start=1))),
    "sqlx": lambda versions: (
        "CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL,"
        " installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL,"
        " checksum bytea NOT NULL, execution_time bigint NOT NULL);"
        + "".join(f"INSERT INTO _sqlx_migrations VALUES ({v}, 'd', now(), true, '\\x00', 1);"
                  for v in versions)),
    "golang-migrate": lambda versions: (
        "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY,"
        f" dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES ({versions[-1]}, false)"),
}


# ---------------------------------------------------------------------------- d
def reference_classes(app, app_dir, steps):
    """Per revision, with psql and pg_dump only: the class test-migration should give."""
    base = f"rc_d_{app}_base"
    burl = common.recreate_db(BASE, base)
    classes = {}

    def run(url, sql, tx):
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
            f.write(sql)
        p = common.psql(url, file=f.name, single_transaction=tx, check=False)
        os.unlink(f.name)
        return p.returncode == 0

    reachable = True
    for s in steps:
        if not reachable:
            classes[s["id"]] = "not reached"
            continue
        up, down, tx = common.sections(os.path.join(app_dir, "versions", s["file"]))
        copy = f"rc_d_{app}_copy"
        curl = common.recreate_db(BASE, copy, template=base)
        a = common.pg_dump(curl)
        if not run(curl, up, tx):
            cls = "upgrade failed"
        else:
            b = common.pg_dump(curl)
            if down is None:
                cls = "irreversible"
            elif not run(curl, down, tx):
                cls = "downgrade failed"
            else:
                c = common.compare(a, common.pg_dump(curl))
                if c == "differs":
                    cls = "differs"
                elif c == "order-only":
                    cls = "order-only"
                elif not run(curl, up, tx) or common.compare(b, common.pg_dump(curl)) != "identical":
                    cls = "upgrade again failed"
                else:
                    cls = "ok"
        classes[s["id"]] = cls
        common.drop_db(BASE, copy)
        if not run(burl, up, tx):
            reachable = False
    common.drop_db(BASE, base)
    return classes


def check_classes(app, app_dir, steps):
    """d. test-migration --each --keep-going --json agrees with the psql/pg_dump reference."""
    code, out, err, cmd = retort(
        ["test-migration", "--each", "--keep-going", "--json", "--scratch", "server", "--scratch-url", BASE],
        app_dir)
    want = reference_classes(app, app_dir, steps)
    tally = {}
    for s in steps:
        tally[want[s["id"]]] = tally.get(want[s["id"]], 0) + 1
    summary = ", ".join(f"{n} {c}" for c, n in sorted(tally.items()))
    for s in steps:
        if want[s["id"]] not in ("ok", "irreversible"):
            print(f"     reference: {s['id']} ({s['source']}) is '{want[s['id']]}'")
    if "--keep-going" in err and ("unexpected argument" in err or "unrecognized" in err):
        fail(app, "d", "retort test-migration has no --keep-going flag yet",
             f"$ {cmd}\nexit {code}\n{clip(err)}")
        # Not counted: what plain --each says, up to where it stops.
        code, out, err, cmd = retort(
            ["test-migration", "--each", "--json", "--scratch", "server", "--scratch-url", BASE], app_dir)
        try:
            got = {r["revision"]: r.get("outcome", "?") for r in json.loads(out)["report"]["revisions"]}
        except (ValueError, KeyError, TypeError):
            got = {}
        seen = [s for s in steps if got.get(s["id"], "not_run") != "not_run"]
        same = sum(1 for s in seen if got[s["id"]].replace("_", " ") == want[s["id"]])
        print(f"  d. test-migration classes: not available (no --keep-going); reference: {summary}; "
              f"without --keep-going retort classified {len(seen)} revisions, {same} as the reference "
              "(not counted)")
        for s in seen:
            if got[s["id"]].replace("_", " ") != want[s["id"]]:
                print(f"     {s['id']} ({s['source']}): retort '{got[s['id']]}', reference '{want[s['id']]}'")
        return
    try:
        report = json.loads(out)
        got = {r["revision"]: r.get("outcome", "?").replace("_", " ").replace("-", " ")
               for r in report["report"]["revisions"]}
    except (ValueError, KeyError, TypeError) as e:
        fail(app, "d", "test-migration --json output not understood",
             f"$ {cmd}\nexit {code}\n{type(e).__name__}: {e}\n{clip(out + err)}")
        return
    agree = 0
    for s in steps:
        w = want[s["id"]]
        g = got.get(s["id"], "missing")
        if g == w.replace("-", " "):
            agree += 1
            ok("d")
        else:
            entry = next((r for r in report["report"]["revisions"] if r["revision"] == s["id"]), {})
            detail = {k: v for k, v in entry.items() if k not in ("revision", "message", "path")}
            fail(app, "d", f"revision {s['id']} ({s['source']}): retort says '{g}', reference says '{w}'",
                 f"$ {cmd}\nexit {code}\nrevision file: {s['file']}\nretort's entry: {clip(json.dumps(detail, indent=1), 30)}")
    print(f"  d. test-migration classes agree with the reference: {agree}/{len(steps)} (reference: {summary})")


def main():
    global RETORT, BASE, CORPUS
    RETORT, BASE, CORPUS = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
    wanted = sys.argv[4:]
    version = subprocess.run([RETORT, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    print(f"real-corpus: {version} (checkout at {commit or '?'}), server {BASE.split('@')[-1]}")
    apps = sorted(d for d in os.listdir(CORPUS)
                  if os.path.isfile(os.path.join(CORPUS, d, "models", "schema.sql"))
                  or os.path.isfile(os.path.join(CORPUS, d, "steps.json")))
    if wanted:
        apps = [a for a in apps if a in wanted]
    for app in apps:
        app_dir = os.path.join(CORPUS, app)
        before = (PASSED[0], FAILED[0])
        if os.path.isfile(os.path.join(app_dir, "steps.json")) and load_meta(app_dir).get("not_run"):
            reason = load_meta(app_dir)["not_run"]
            print(f"== {app}: NOT RUN on this server: {reason}")
            NOT_RUN.append((app, reason))
            continue
        if os.path.isfile(os.path.join(app_dir, "steps.json")):
            steps = load_steps(app_dir)
            print(f"== {app}: {len(steps)} revisions")
            write_config(app_dir)
            with open(os.path.join(app_dir, "models", "schema.sql"), "w") as f:
                f.write(schema(app_dir, steps[-1]["k"]))
            checks = [(check_upgrade, (steps,)), (check_diff, (steps,)),
                      (check_models, (True,)), (check_classes, (steps,)),
                      (check_dump_loads, ())]
            meta = load_meta(app_dir)
            if meta.get("import_only"):
                checks = []
            if meta.get("source_dir"):
                checks.append((check_import, (steps, meta)))
            for check, args in checks:
                t = time.time()
                check(app, app_dir, *args)
                print(f"     ({check.__name__}: {time.time() - t:.0f}s)")
        else:
            print(f"== {app}: sample database (models/schema.sql)")
            check_models(app, app_dir, False)
            check_dump_loads(app, app_dir)
        print(f"  {app}: {PASSED[0] - before[0]} passed, {FAILED[0] - before[1]} failed")
    if NOT_RUN:
        print("\nnot run on this server (not counted as passed):")
        for app, reason in NOT_RUN:
            print(f"  [{app}] {reason}")
    if FAILURES:
        print("\nfailures:")
        for app, check, what in FAILURES:
            print(f"  [{app} {check}] {what}")
    t0 = os.environ.get("REAL_T0")
    if t0:
        print(f"real-corpus: {int(time.time() - float(t0))}s (corpus build and checks)")
    print(f"{PASSED[0]} passed, {FAILED[0]} failed, {len(NOT_RUN)} not run")
    sys.exit(1 if FAILED[0] else 0)


if __name__ == "__main__":
    main()
