#!/usr/bin/env bash
# Installs what building retort needs besides Rust: the `pg_query` crate compiles
# PostgreSQL's own parser (libpg_query, C, with cc and make) and generates its bindings
# with bindgen, which needs libclang and clang's builtin headers (libclang-dev). Debian
# packages, installed with apt-get only when missing; quiet when all is there.
set -euo pipefail

log() { printf 'build-deps: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' (not root and sudo is not installed)"
    fi
}

have_libclang() {
    [[ -n "${LIBCLANG_PATH:-}" ]] && return 0
    # The library, and the builtin headers (stddef.h) bindgen parses with.
    compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null &&
        compgen -G '/usr/lib/llvm-*/lib/clang/*/include/stddef.h' >/dev/null
}

missing=()
have_libclang || missing+=(libclang-dev)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
((${#missing[@]} == 0)) && exit 0

command -v apt-get >/dev/null 2>&1 ||
    die "missing ${missing[*]} and apt-get is not available; install them by hand"
log "installing ${missing[*]} with apt-get (needed to build the pg_query parser)..."
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
