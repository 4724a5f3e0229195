#!/usr/bin/env bash
# The nextest filter for the server at URL: every test except those named `..._pgN` for
# a major N newer than the server's (they use what only N and later have, and fail
# loudly elsewhere). Prints the filter on stdout and what is not run on stderr; with
# --skip-args, `cargo test` arguments (`--skip _pgN` ...) instead.
#
#   scripts/test-filter.sh [--skip-args] URL
set -euo pipefail
skip_args=0
if [[ "${1:-}" == --skip-args ]]; then
    skip_args=1
    shift
fi
[[ $# -eq 1 ]] || { echo "usage: $0 [--skip-args] URL" >&2; exit 2; }
num="$(psql -XAtq -d "$1" -c 'SHOW server_version_num')"
major=$((num / 10000))
newer="$(seq -s '|' $((major + 1)) 18)"
if ((skip_args)); then
    for n in $(seq $((major + 1)) 18); do printf -- '--skip _pg%s ' "$n"; done
    echo
elif [[ -z "$newer" ]]; then
    echo 'all()'
else
    echo "test-filter: not run on PostgreSQL $major: tests named _pgN for N in $newer (see README, Tests)" >&2
    echo "not test(/_pg($newer)\$/)"
fi
