#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, the whole test suite (unit tests and the
# end-to-end tests on the bundled captures) and a short fuzzing run of every fuzz target.
# Needs what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
# The kernel program is outside the workspace (it builds for the bpf target).
rustfmt --check --edition 2024 recorder-ebpf/src/main.rs
# So are the fuzz targets (nightly toolchain, libFuzzer).
rustfmt --check --edition 2024 fuzz/src/lib.rs fuzz/src/bin/seed_corpus.rs fuzz/fuzz_targets/*.rs
cargo clippy --release --workspace --all-targets -- -D warnings
# --show-output: the end-to-end tests print their figures (kills, floods and peak memory).
cargo test --release --workspace -- --show-output
# Each fuzz target for 20 s (about 3 minutes with the builds); prints inputs run and crashes.
scripts/fuzz.sh
