#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60): `fuzz/run.sh 600` for a long run.
# Needs cargo-fuzz (`cargo install cargo-fuzz`). It builds on the stable toolchain with
# RUSTC_BOOTSTRAP=1, which lets cargo-fuzz use the sanitizer flags; the crate itself stays std only.
# New inputs go to fuzz/corpus/<target> (not committed); fuzz/seeds/<target> are the starting
# points, taken from the unit tests. A crash leaves its input in fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build
for target in $targets; do
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${seconds}s"
    cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 | grep -E "^(stat::number_of_executed_units|==|SUMMARY|thread)" || true
    if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
        echo "fuzz: $target found a failing input in fuzz/artifacts/$target" >&2
        exit 1
    fi
done
