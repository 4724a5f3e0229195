#!/usr/bin/env bash
# A Python virtual environment with the pinned Alembic that the import tests run
# (tests/it/import.rs applies the Alembic fixture with it, and `retort import alembic
# --python` reads the history through it), and the pinned PyYAML with which
# tests/it/fleet_shard.rs reads deploy/kubernetes/fleet-upgrade-job.yaml.
#
#   scripts/python-tools.sh      create or reuse target/tools/venv; prints the path of
#                                its python as the only line on stdout
#
# Idempotent: pip runs only when the venv is new or its marker file
# (target/tools/venv/.retort-pins) records other pins or another base interpreter.
# python3 (with its venv module) is taken from PATH; when the venv module or ensurepip
# is missing, Debian's python3-venv is installed with apt-get (as root).
# PYTHON=... picks another base interpreter.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="$ROOT/target/tools/venv"
MARKER="$VENV/.retort-pins"
PINS=(alembic==1.13.3 SQLAlchemy==2.0.36 psycopg2-binary==2.9.10 PyYAML==6.0.2)
BASE="${PYTHON:-python3}"

# Everything but the python path goes to stderr: keep the real stdout on fd 3.
exec 3>&1 1>&2

log() { printf 'python-tools: %s\n' "$*" >&2; }
die() { printf 'python-tools: error: %s\n' "$*" >&2; exit 1; }

has_venv() { "$BASE" -c 'import venv, ensurepip' >/dev/null 2>&1; }

ensure_base() {
    command -v "$BASE" >/dev/null 2>&1 ||
        die "$BASE not found; install Python 3 (Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3"
    has_venv && return 0
    [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1 ||
        die "$BASE has no venv module (or no ensurepip); install it (Debian: apt-get install python3-venv) or set PYTHON=/path/to/python3"
    log "installing Debian's python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >&2; } ||
        die "apt-get install python3-venv failed"
    has_venv || die "$BASE still has no venv module after installing python3-venv (is $BASE Debian's python3?); set PYTHON=/usr/bin/python3"
}

ensure_base
base_version="$("$BASE" -c 'import sys; print(sys.executable, sys.version.split()[0])')" ||
    die "$BASE does not run"
want="$(printf '%s\n' "$base_version" "${PINS[@]}")"
python="$VENV/bin/python"

if [[ -f "$MARKER" && -x "$python" ]] && [[ "$(cat -- "$MARKER")" == "$want" ]] &&
    "$python" -c 'import alembic, sqlalchemy, psycopg2, yaml' >/dev/null 2>&1; then
    printf '%s\n' "$python" >&3
    exit 0
fi

log "creating $VENV (${PINS[*]})"
rm -rf -- "$VENV"
mkdir -p -- "$(dirname -- "$VENV")"
"$BASE" -m venv -- "$VENV" || die "$BASE -m venv $VENV failed"
"$python" -m pip install --quiet --disable-pip-version-check --no-input "${PINS[@]}" >&2 ||
    die "pip install ${PINS[*]} failed (is PyPI reachable?)"
"$python" -c 'import alembic, sqlalchemy, psycopg2, yaml' || die "the venv cannot import alembic, sqlalchemy, psycopg2 and yaml"
printf '%s\n' "$want" >"$MARKER"
log "ready: $python"
printf '%s\n' "$python" >&3
