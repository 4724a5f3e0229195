#!/usr/bin/env bash
# A local `postgres:MAJOR` image for the Docker scratch provider, built without any image
# registry from the same server binaries as scripts/pg-local.sh uses.
#
#   DOCKER_HOST=... scripts/docker-image.sh MAJOR     13 to 18; prints the image's name
#
# The image behaves as the official one does where retort relies on it: the entrypoint
# initialises $PGDATA on first start with POSTGRES_USER as the superuser and
# POSTGRES_PASSWORD as its password (required, as in the official image), creates
# POSTGRES_DB (default: the user's name), accepts password (SCRAM) connections from
# anywhere, and logs "PostgreSQL init process complete; ready for start up." and then the
# server's own "database system is ready to accept connections"; `postgres -c k=v ...` as
# the command passes settings on.
#
# Its root filesystem is small: the server programs of the registries' self-contained
# build (scripts/pg-binaries.sh, RETORT_PG_SOURCE=registry), the system libraries they
# load (found with ldd), the C.UTF-8 locale, and a static busybox for the shell the
# entrypoint runs in (Debian's busybox-static, installed when missing). It is imported
# with `docker import`, so no builder is needed. An image of that name built otherwise
# (the official one, pulled) is left alone and used as it is; one built here is rebuilt
# when this script or the binaries change.
set -euo pipefail

log() { printf 'docker-image: %s\n' "$*" >&2; }
die() { printf 'docker-image: error: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 && "$1" =~ ^1[3-8]$ ]] || die "usage: $(basename -- "$0") MAJOR (13 to 18)"
MAJOR="$1"
IMAGE="postgres:$MAJOR"
HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"

command -v docker >/dev/null 2>&1 || die "the docker client is needed (scripts/docker-engine.sh installs it)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "no Docker engine answers at ${DOCKER_HOST:-the default socket} (scripts/docker-engine.sh start)"

PG="$(RETORT_PG_SOURCE=registry "$HERE/pg-binaries.sh" "$MAJOR")"
# What the image is made of: rebuilt when either changes.
RECIPE="$( { sha256sum -- "${BASH_SOURCE[0]}"; "$PG/bin/postgres" --version; } | sha256sum | cut -c1-16)"

existing="$(docker image inspect --format '{{index .Config.Labels "org.retort.recipe"}}' "$IMAGE" 2>/dev/null || true)"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    if [[ -z "$existing" || "$existing" == "<no value>" ]]; then
        log "$IMAGE exists and was not built here; using it as it is"
        printf '%s\n' "$IMAGE"
        exit 0
    fi
    if [[ "$existing" == "$RECIPE" ]]; then
        printf '%s\n' "$IMAGE"
        exit 0
    fi
fi

if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
    [[ "$(id -u)" -eq 0 ]] || die "a static busybox is needed at /bin/busybox (Debian: apt-get install busybox-static)"
    log "installing Debian's busybox-static"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >&2 || die "apt-get install busybox-static failed"
fi

WORK="$(mktemp -d)"
trap 'rm -rf -- "$WORK"' EXIT
FS="$WORK/rootfs"
PREFIX=/usr/lib/postgresql/$MAJOR
mkdir -p -- "$FS$PREFIX/bin" "$FS/bin" "$FS/etc" "$FS/tmp" "$FS/usr/local/bin" \
    "$FS/var/run/postgresql" "$FS/var/lib/postgresql/data" "$FS/usr/lib/locale"
chmod 1777 "$FS/tmp"

# The server side only: the client programs of the registries' tree are not needed.
for program in postgres initdb pg_ctl; do
    cp -- "$PG/bin/$program" "$FS$PREFIX/bin/"
done
cp -a -- "$PG/share" "$FS$PREFIX/"
cp -a -- "$PG/lib" "$FS$PREFIX/"
find "$FS$PREFIX/lib" -name '*.a' -delete

# The system libraries every program and module loads, at the same paths.
# (ldd fails on the files that are not programs, such as scripts: that is expected.)
{ find "$FS$PREFIX" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    xargs -0 -r ldd 2>/dev/null || true; } |
    awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | sort -u |
    while read -r lib; do
        case "$lib" in "$PG"/* | "$FS"/*) continue ;; esac
        cp -L --parents -- "$lib" "$FS/"
    done
cp -L --parents -- /lib64/ld-linux-x86-64.so.2 "$FS/"
cp -a -- /usr/lib/locale/C.utf8 "$FS/usr/lib/locale/"

cp -- /bin/busybox "$FS/bin/busybox"
for applet in sh cat chmod echo id ls mkdir printf rm sed sleep; do
    ln -s busybox "$FS/bin/$applet"
done

printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' >"$FS/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' >"$FS/etc/group"

cat >"$FS/usr/local/bin/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# First start: initialise $PGDATA as the official image does; then run the server.
set -eu
if [ "${1:-}" = postgres ]; then
    shift
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        if [ -z "${POSTGRES_PASSWORD:-}" ]; then
            echo 'Error: Database is uninitialized and superuser password is not specified.' >&2
            echo '       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.' >&2
            exit 1
        fi
        user="${POSTGRES_USER:-postgres}"
        db="${POSTGRES_DB:-$user}"
        mkdir -p "$PGDATA"
        chmod 700 "$PGDATA"
        pwfile=/tmp/pwfile
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 \
            --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256
        rm -f "$pwfile"
        printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
        printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.auto.conf"
        if [ "$db" != postgres ]; then
            quoted="$(printf '%s' "$db" | sed 's/"/""/g')"
            echo "CREATE DATABASE \"$quoted\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
        fi
        echo
        echo 'PostgreSQL init process complete; ready for start up.'
        echo
    fi
    exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
ENTRYPOINT
chmod 755 "$FS/usr/local/bin/docker-entrypoint.sh"

# The server runs as postgres (999), who owns its data and socket directories.
chown -R 999:999 "$FS/var/lib/postgresql" "$FS/var/run/postgresql"
chmod 700 "$FS/var/lib/postgresql/data"

log "building $IMAGE from $PG ($("$PG/bin/postgres" --version))"
tar -C "$FS" --numeric-owner -cf - . |
    docker import \
        --change "ENV PATH=$PREFIX/bin:/usr/local/bin:/bin" \
        --change 'ENV PGDATA=/var/lib/postgresql/data' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'USER 999:999' \
        --change 'EXPOSE 5432' \
        --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        --change 'CMD ["postgres"]' \
        --change "LABEL org.retort.recipe=$RECIPE" \
        --change "LABEL org.opencontainers.image.description=\"PostgreSQL $MAJOR for the tests of retort, built by scripts/docker-image.sh\"" \
        - "$IMAGE" >/dev/null
log "built $IMAGE ($(docker image inspect --format '{{.Size}}' "$IMAGE") bytes)"
printf '%s\n' "$IMAGE"
