#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine (as root) for building, testing and running the
# recorder, builds it, and runs the main job on a bundled real capture.
#
#   scripts/setup.sh            install, build, and import the bundled record-info-on-off.pcap
#   scripts/setup.sh --no-demo  install and build only (what CI uses)
#
# The build cache lives in /var/cache/recorder/target (see .cargo/config.toml): the first
# build compiles DuckDB's C++ and takes about 30-40 minutes on two cores; later ones reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=1
[ "${1:-}" = "--no-demo" ] && demo=0

packages=(
    build-essential pkg-config cmake libpcap-dev libopus-dev libbcg729-dev
    opus-tools sox ffmpeg tshark tcpdump tcpreplay sip-tester espeak-ng iproute2
    chromium chromium-driver coreutils python3 time curl openssl
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer for it.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
fi

# The Rust toolchain pinned in rust-toolchain.toml (rustup does not install it on its own here).
toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
rustup toolchain list | grep -q "^$toolchain" \
    || rustup toolchain install "$toolchain" --profile minimal
rustup component add --toolchain "$toolchain" clippy rustfmt >/dev/null

# The eBPF program (recorder-ebpf) builds with its own nightly toolchain plus rust-src, and
# links with bpf-linker built against that toolchain's own LLVM (Debian's LLVM is too old and
# bpf-linker's prebuilt LLVM cannot be downloaded here).
mkdir -p /var/cache/recorder
ebpf_toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' recorder-ebpf/rust-toolchain.toml)
rustup toolchain list | grep -q "^$ebpf_toolchain" \
    || rustup toolchain install "$ebpf_toolchain" --profile minimal
rustup component add --toolchain "$ebpf_toolchain" rust-src >/dev/null
linker_root=/var/cache/recorder/bpf-linker
if [ ! -x "$linker_root/bin/bpf-linker" ] \
    || [ "$(cat "$linker_root/toolchain" 2>/dev/null)" != "$ebpf_toolchain" ]; then
    sysroot=$(rustc +"$ebpf_toolchain" --print sysroot)
    llvm_major=$(rustc +"$ebpf_toolchain" -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
    llvm_prefix=/var/cache/recorder/llvm-$llvm_major
    mkdir -p "$llvm_prefix/lib"
    libllvm=$(ls "$sysroot"/lib/libLLVM.so.* | head -n 1)
    ln -sf "$libllvm" "$llvm_prefix/lib/libLLVM.so"
    ln -sf "$libllvm" "$llvm_prefix/lib/$(basename "$libllvm")"
    LLVM_PREFIX=$llvm_prefix cargo +"$ebpf_toolchain" install bpf-linker@0.13.0 --locked \
        --no-default-features --features "llvm-$llvm_major" --root "$linker_root"
    echo "$ebpf_toolchain" > "$linker_root/toolchain"
fi

# cargo fuzz (libFuzzer) runs the fuzz targets in fuzz/ with the same nightly toolchain.
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo +"$ebpf_toolchain" install cargo-fuzz@0.13.2 --locked
fi

cargo build --release --workspace
bin=/var/cache/recorder/target/release/recorder
ln -sf "$bin" /usr/local/bin/recorder

if [ "$demo" = 1 ]; then
    data=${RECORDER_DEMO_DATA:-/tmp/recorder-demo}
    rm -rf "$data"
    cat > "$data.toml" <<'TOML'
# The demo policy: record on demand; extension 1001 may press the record button.
[policy]
default = "on-demand"
[[users]]
extension = "1001"
may_record = true
TOML
    echo
    demo_capture=tests/fixtures/captures/record-info-on-off.pcap
    echo "== recorder import --data $data --config $data.toml $demo_capture"
    "$bin" import --data "$data" --config "$data.toml" "$demo_capture"
    echo
    echo "== recorder calls --data $data"
    "$bin" calls --data "$data"
    echo
    echo "Recordings are in $data/recordings; the journal is $data/journal.duckdb."
    echo "Try: $bin calls --data $data --json"
    echo "The web journal: $bin user add admin --role admin --data $data"
    echo "                 $bin serve --data $data   (then open http://127.0.0.1:8080)"
fi
