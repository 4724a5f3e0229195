#!/usr/bin/env bash
# Fuzzes every kind of input retort reads: one cargo-fuzz (libFuzzer) target per input
# under fuzz/fuzz_targets/, each calling a function of `retort::fuzzing`.
#
#   scripts/fuzz.sh [SECONDS [TARGET...]]   each target (default: all) for SECONDS
#                                           (default 600), one after another
#   scripts/fuzz.sh --ci                    a short pass with a fixed seed over the
#                                           committed corpus, for CI
#
# Needs the nightly toolchain (rustup); cargo-fuzz is installed, pinned, under
# target/tools on first use. The committed seeds in fuzz/corpus/TARGET are read, never
# written: new inputs libFuzzer finds go to target/fuzz-corpus/TARGET. A crash leaves its
# input in fuzz/artifacts/TARGET/ and fails the script, naming it: turn it into a
# regression test by copying the input into fuzz/corpus/TARGET/ (the unit test
# `fuzzing::tests` replays that corpus on every `make test`) and fixing the code.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
tools="$PWD/target/tools"
log() { printf 'fuzz: %s\n' "$*" >&2; }

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    log "needs the nightly toolchain: rustup toolchain install nightly"
    exit 2
fi
if [[ "$("$tools/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION under $tools"
    cargo install --quiet --locked --root "$tools" cargo-fuzz --version "=$CARGO_FUZZ_VERSION"
fi
export PATH="$tools/bin:$PATH"

ci=0
if [[ "${1:-}" == "--ci" ]]; then
    ci=1
    shift
    seconds=10
else
    seconds="${1:-600}"
    [[ $# -gt 0 ]] && shift
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { log "SECONDS must be a number, not $seconds"; exit 2; }
cd fuzz
mapfile -t all < <(cargo +nightly fuzz list)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")

# Optimized with debug assertions (overflow checks find arithmetic panics) for long runs;
# CI's short pass builds unoptimized, which compiles in half the time.
if ((ci)); then
    build=(--dev)
else
    build=(-O --debug-assertions)
fi
log "building ${#targets[@]} target(s) (${build[*]}, AddressSanitizer)"
cargo +nightly fuzz build "${build[@]}" 2>&1 | grep -v '^\s*Compiling' >&2 || true

failed=()
for target in "${targets[@]}"; do
    work="../target/fuzz-corpus/$target"
    mkdir -p "$work" "corpus/$target"
    args=(-max_total_time="$seconds" -print_final_stats=1)
    if ((ci)); then
        # The same seed every run: a CI failure reproduces with the same command.
        args+=(-seed=1)
    fi
    log "$target: ${seconds}s"
    if ! cargo +nightly fuzz run "${build[@]}" "$target" "$work" "corpus/$target" -- "${args[@]}" \
        >"../target/fuzz-$target.log" 2>&1; then
        failed+=("$target")
        log "$target: FAILED; the input is in fuzz/artifacts/$target/, the log in target/fuzz-$target.log:"
        grep -a -E 'panicked|ERROR: |Test unit written' "../target/fuzz-$target.log" | head -5 >&2 || true
    else
        grep -a -E '^stat::number_of_executed_units|^stat::new_units_added' "../target/fuzz-$target.log" |
            sed "s/^/fuzz: $target: /" >&2 || true
    fi
done
if ((${#failed[@]})); then
    log "crashed: ${failed[*]}"
    exit 1
fi
log "no crash in ${#targets[@]} target(s)"
