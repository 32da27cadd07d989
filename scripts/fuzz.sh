#!/usr/bin/env bash
# Fuzzes the recorder's parsers, reassemblers and capture-file reader (crate fuzz/, libFuzzer
# through cargo fuzz, nightly toolchain): seeds the corpus from tests/fixtures/captures, runs
# each target for FUZZ_SECONDS (20 by default), and prints per target the inputs executed,
# for how long, and the crashes found. Exits non-zero if any target crashed; the crash input
# is in fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh                 every target, 20 s each (what scripts/test.sh runs)
#   FUZZ_SECONDS=600 scripts/fuzz.sh sip sdp   longer, on some targets
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' recorder-ebpf/rust-toolchain.toml)
# Inside the recorder's build cache, apart from the stable builds (other toolchain, sanitizer).
target_dir=${CARGO_TARGET_DIR:-/var/cache/recorder/target}/fuzz
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(sip sdp rtp_rtcp tcp_reassembly frag_reassembly
    frame_decoder capture_file)

cd fuzz
cargo +"$toolchain" test --release --quiet --target-dir "$target_dir" --lib
cargo +"$toolchain" build --release --quiet --target-dir "$target_dir" --bin seed_corpus
"$target_dir/release/seed_corpus" ../tests/fixtures/captures corpus >/dev/null

failed=0
total_runs=0
printf '%-16s %12s %8s %10s %8s\n' target inputs seconds inputs/s crashes
for t in "${targets[@]}"; do
    log=$(mktemp)
    mkdir -p "corpus/$t" "artifacts/$t"
    before=$(ls "artifacts/$t" | wc -l)
    cargo +"$toolchain" fuzz build -O --target-dir "$target_dir" "$t" 2>&1 \
        | { grep -v '^ *Compiling\|^ *Finished' || true; }
    start=$(date +%s.%N)
    status=0
    # -rss_limit_mb: a target whose memory grows past this is a failure (bounded tables).
    cargo +"$toolchain" fuzz run -O --target-dir "$target_dir" "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    runs=${runs:-0}
    crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    printf '%-16s %12d %8.1f %10.0f %8d\n' "$t" "$runs" "$elapsed" \
        "$(awk -v r="$runs" -v e="$elapsed" 'BEGIN { print r / e }')" "$crashes"
    total_runs=$((total_runs + runs))
    if [ "$crashes" -ne 0 ]; then
        failed=1
        echo "--- $t crashed (exit $status); the end of its log:"
        tail -n 40 "$log"
    fi
    rm -f "$log"
done
fixed=$(grep -c '^| [0-9]' CRASHES.md || true)
echo "fuzzing: ${#targets[@]} targets, $total_runs inputs, ${seconds}s each; crashes found" \
    "earlier and fixed (fuzz/CRASHES.md): $fixed"
exit "$failed"
