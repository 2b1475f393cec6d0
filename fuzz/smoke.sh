#!/usr/bin/env bash
# Fuzz smoke test (run by .ci/run): builds every target, then runs each for a few seconds from
# its committed regression corpus (fuzz/corpus-regression/<target>/, copied: nothing committed
# changes). The stable toolchain is enough: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its
# nightly-only flags.
#
#   fuzz/smoke.sh [seconds per target, default 10]
#
# Environment:
#   FUZZ_SANITIZER  address (default: AddressSanitizer + LeakSanitizer) or none
#   FUZZ_PROFILE    release (default) or dev (unoptimized)
#   FUZZ_CODEGEN_UNITS  codegen units of a release build (default 16; cargo-fuzz's own is 1)
#
# Exit status:
#   0  every target ran clean; or cargo-fuzz / a C++ compiler (libFuzzer is C++) is missing:
#      skipped, with a message
#   1  a target crashed, panicked, leaked, hung (-timeout) or went over -rss_limit_mb: the
#      input is in fuzz/artifacts/<target>/ and printed in hex
#   2  the targets do not build
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-10}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: cargo-fuzz not installed, skipped"
    exit 0
fi
if ! command -v c++ >/dev/null 2>&1; then
    echo "fuzz smoke: no C++ compiler for libFuzzer, skipped"
    exit 0
fi
export RUSTC_BOOTSTRAP=1
# -a: debug assertions and overflow checks on, so an arithmetic overflow is a crash.
flags=(-a -s "${FUZZ_SANITIZER:-address}")
if [ "${FUZZ_PROFILE:-release}" = dev ]; then
    flags+=(-D)
else
    # cargo-fuzz builds release targets with one codegen unit (fastest fuzzing, slowest
    # build); a smoke run is short, so it builds with 16 unless told otherwise.
    flags+=(--codegen-units "${FUZZ_CODEGEN_UNITS:-16}")
fi
start=$(date +%s)
if ! cargo fuzz build "${flags[@]}"; then
    echo "fuzz smoke: the fuzz targets do not build"
    exit 2
fi
echo "fuzz smoke: built (${flags[*]}) in $(($(date +%s) - start)) s"
# The binaries are run directly: `cargo fuzz run` would rebuild first whenever a source file
# changed since the build.
profile_dir=release
[ "${FUZZ_PROFILE:-release}" = dev ] && profile_dir=debug
bin="${CARGO_TARGET_DIR:-target}/$(rustc -vV | sed -n 's/^host: //p')/$profile_dir"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
failed=0
for target in $(cargo fuzz list); do
    work="$(mktemp -d)"
    cp corpus-regression/"$target"/* "$work"/
    mkdir -p artifacts/"$target"
    touch "$work.start"
    if "$bin/$target" "$work" -artifact_prefix=artifacts/"$target"/ \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$work.log" 2>&1; then
        echo "fuzz smoke: $target ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$') runs)"
    else
        echo "fuzz smoke: $target FAILED"
        tail -60 "$work.log"
        find artifacts/"$target" -type f -newer "$work.start" | while read -r input; do
            echo "fuzz smoke: $input ($(wc -c <"$input") bytes):"
            od -A x -t x1z -v "$input" | head -40
        done
        failed=1
    fi
    rm -rf "$work" "$work.log" "$work.start"
done
echo "fuzz smoke: done in $(($(date +%s) - start)) s"
exit "$failed"
