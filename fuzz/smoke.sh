#!/usr/bin/env bash
# Fuzz smoke test: runs every target for a few seconds (default 10) from its committed
# regression corpus. Needs cargo-fuzz (`cargo install cargo-fuzz`); skipped without it.
# The stable toolchain is enough: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly flags.
#   fuzz/smoke.sh [seconds per target]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-10}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: cargo-fuzz not installed, skipped"
    exit 0
fi
export RUSTC_BOOTSTRAP=1
# Default sanitizer (AddressSanitizer, with LeakSanitizer); -a: debug assertions and overflow
# checks on, so arithmetic overflow is a crash. Add `-s none` for a faster build and run.
flags=(-a)
cargo fuzz build "${flags[@]}"
failed=0
for target in $(cargo fuzz list); do
    work="$(mktemp -d)"
    cp corpus-regression/"$target"/* "$work"/
    if cargo fuzz run "${flags[@]}" "$target" "$work" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$work.log" 2>&1; then
        echo "fuzz smoke: $target ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$') runs)"
    else
        echo "fuzz smoke: $target FAILED"; tail -40 "$work.log"; failed=1
    fi
    rm -rf "$work" "$work.log"
done
exit "$failed"
