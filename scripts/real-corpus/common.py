"""Shared helpers of the real-corpus scripts: scratch databases, dumps, revision files.

Only the standard library is used here, so the checks can run with any python3; the
builders (build_alembic.py, build_django.py) run inside the corpus virtualenv.
"""

import hashlib
import os
import re
import subprocess
import urllib.parse

# Bookkeeping tables of the tools: never part of a schema comparison.
EXCLUDED_TABLES = [
    "public.alembic_version",
    "public.django_migrations",
    "public.django_migrations_id_seq",
    "public.flyway_schema_history",
    "public._sqlx_migrations",
    "public.schema_migrations",
    "public.goose_db_version",
    "public.goose_db_version_id_seq",
    "public.retort_version",
    "public.retort_history",
    "public.retort_history_id_seq",
]


def db_url(base_url, dbname):
    """The URL of database `dbname` on the server of `base_url`."""
    parts = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


def psql(url, sql=None, file=None, single_transaction=False, check=True):
    """Runs SQL (text or file) with psql, stopping at the first error. Returns the process."""
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
    if single_transaction:
        cmd.append("-1")
    if file is not None:
        cmd += ["-f", file]
    else:
        cmd += ["-c", sql]
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"psql failed ({' '.join(cmd)}):\n{proc.stderr}")
    return proc


def recreate_db(base_url, name, template=None):
    psql(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    tmpl = f' TEMPLATE "{template}"' if template else " TEMPLATE template0"
    psql(base_url, f'CREATE DATABASE "{name}"{tmpl}')
    return db_url(base_url, name)


def drop_db(base_url, name):
    psql(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)


def pg_dump(url):
    """pg_dump --schema-only of `url`, the tools' bookkeeping tables left out."""
    cmd = ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "-d", url]
    for t in EXCLUDED_TABLES:
        cmd += ["-T", t]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {proc.stderr}")
    return proc.stdout


_SKIP = re.compile(r"^(--|SET |SELECT pg_catalog\.set_config|\\restrict|\\unrestrict)")


def normalize(dump):
    """The dump without comments, session settings and blank lines."""
    out = []
    for line in dump.splitlines():
        if not line.strip() or _SKIP.match(line):
            continue
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


def order_insensitive(norm):
    """`normalize`d text with the column lines of each CREATE TABLE sorted."""
    out, block = [], None
    for line in norm.splitlines():
        if block is None:
            out.append(line)
            if line.startswith("CREATE TABLE ") and line.endswith("("):
                block = []
        elif line.startswith(")"):
            out += sorted(item.rstrip(",") for item in block)
            out.append(line)
            block = None
        else:
            block.append(line)
    return "\n".join(out) + "\n"


def compare(a, b):
    """'identical', 'order-only' or 'differs' for two raw dumps."""
    na, nb = normalize(a), normalize(b)
    if na == nb:
        return "identical"
    if order_insensitive(na) == order_insensitive(nb):
        return "order-only"
    return "differs"


def unified(a, b, name_a="expected", name_b="actual", limit=60):
    import difflib

    lines = list(
        difflib.unified_diff(
            normalize(a).splitlines(), normalize(b).splitlines(), name_a, name_b, lineterm=""
        )
    )
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)


def revision_id(k, key):
    return f"{k:04d}_{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def slug(text):
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:50] or "step"


def write_revision(versions_dir, k, key, parent, message, upgrade, downgrade, transactional=True):
    """Writes one retort revision file. `downgrade` None: irreversible (no section)."""
    rid = revision_id(k, key)
    head = [
        f"-- revision: {rid}",
        f"-- down_revision: {parent or ''}",
        f"-- message: {message}",
        "",
    ]
    tx = "" if transactional else " transaction:false"
    body = "-- migrate:upgrade" + tx + "\n" + (upgrade.strip() + "\n" if upgrade.strip() else "")
    if downgrade is not None:
        body += "\n-- migrate:downgrade" + tx + "\n"
        body += downgrade.strip() + "\n" if downgrade.strip() else ""
    path = os.path.join(versions_dir, f"{rid}_{slug(message)}.sql")
    with open(path, "w") as f:
        f.write("\n".join(head) + "\n" + body)
    return rid, path


def sections(path):
    """(upgrade, downgrade or None, transactional) of a revision file, by its markers."""
    up, down, cur, tx = [], None, None, True
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s.startswith("-- migrate:upgrade"):
                cur = up
                tx = "transaction:false" not in s
                continue
            if s.startswith("-- migrate:downgrade"):
                down = []
                cur = down
                continue
            if cur is not None:
                cur.append(line)
    return "".join(up), (None if down is None else "".join(down)), tx
