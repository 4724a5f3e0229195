"""Converts installed Django applications' migration histories into retort revision files.

usage: build_django.py NAME OUT_DIR BASE_URL APP [APP...]

The migrations of the INSTALLED_APPS given are put in the order Django itself would apply
them from an empty database (MigrationExecutor.migration_plan); each migration becomes one
retort revision. Its SQL is Django's offline rendering, as `manage.py sqlmigrate` prints it
(MigrationLoader.collect_sql, forwards and backwards), taken while a scratch database sits
at the step before (some operations look up constraint names in the live catalog).
A migration Django cannot reverse is written without a downgrade section; a non-atomic one
as transaction:false. After applying each migration with Django's own executor, the schema
is kept as OUT_DIR/schemas/<k>.sql (pg_dump --schema-only).
"""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    name, out, base_url = sys.argv[1:4]
    apps = sys.argv[4:]
    versions = os.path.join(out, "versions")
    schemas = os.path.join(out, "schemas")
    for d in (versions, schemas):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))

    dbname = f"rc_build_{name}"
    url = common.recreate_db(base_url, dbname)
    u = urllib.parse.urlsplit(url)

    import django
    from django.conf import settings

    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": dbname,
                "USER": u.username or "postgres",
                "PASSWORD": u.password or "",
                "HOST": u.hostname,
                "PORT": u.port,
            }
        },
        INSTALLED_APPS=apps,
        USE_TZ=True,
        SECRET_KEY="real-corpus",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SITE_ID=1,
        MIDDLEWARE=(
            ["allauth.account.middleware.AccountMiddleware"] if "allauth.account" in apps else []
        ),
    )
    django.setup()
    from django.db import connection
    from django.db.migrations.exceptions import IrreversibleError
    from django.db.migrations.executor import MigrationExecutor
    from django.db.models.signals import post_migrate

    post_migrate.receivers = []  # contenttypes / permissions rows: data, not schema
    post_migrate.sender_receivers_cache.clear()

    executor = MigrationExecutor(connection)
    loader = executor.loader
    plan = executor.migration_plan(loader.graph.leaf_nodes(), clean_start=True)

    def collect(migration, backwards):
        loader.build_graph()
        return "\n".join(loader.collect_sql([(migration, backwards)]))

    with open(os.path.join(schemas, "0.sql"), "w") as f:
        f.write(common.pg_dump(url))
    steps, parent = [], None
    for k, (migration, _) in enumerate(plan, start=1):
        label = f"{migration.app_label}.{migration.name}"
        up = collect(migration, False)
        executor = MigrationExecutor(connection)
        executor.migrate([(migration.app_label, migration.name)])
        with open(os.path.join(schemas, f"{k}.sql"), "w") as f:
            f.write(common.pg_dump(url))
        try:
            down = collect(migration, True)
        except IrreversibleError as e:
            print(f"{name}: {label}: irreversible: {e}", file=sys.stderr)
            down = None
        message = f"{name} django {label}"
        rid, path = common.write_revision(
            versions, k, f"{name}:{label}", parent, message, up, down, migration.atomic
        )
        steps.append({"k": k, "id": rid, "source": label, "file": os.path.basename(path)})
        parent = rid
        print(f"{name}: {k:3d} {label} -> {os.path.basename(path)}", file=sys.stderr)

    connection.close()
    common.drop_db(base_url, dbname)
    with open(os.path.join(out, "steps.json"), "w") as f:
        json.dump({"app": name, "tool": "django", "steps": steps}, f, indent=1)


if __name__ == "__main__":
    main()
