#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and the whole test suite (unit tests and the
# end-to-end tests on the bundled captures). Needs what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
# The kernel program is outside the workspace (it builds for the bpf target).
rustfmt --check --edition 2024 recorder-ebpf/src/main.rs
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
