#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and the whole test suite (unit tests and the
# end-to-end tests on the bundled captures). Needs what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
