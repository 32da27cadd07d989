//! Builds the eBPF program (`../recorder-ebpf`) for the kernel and puts the object in OUT_DIR,
//! where `capture::ebpf` embeds it.
//!
//! The kernel crate needs a nightly toolchain with `rust-src` (for `-Z build-std=core`) and
//! `bpf-linker`; `scripts/setup.sh` installs both. `RECORDER_SKIP_EBPF=1` builds without the
//! program (live capture then falls back to libpcap, and says why).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let ebpf_dir = manifest_dir.join("../recorder-ebpf");
    let object = out_dir.join("recorder-ebpf.o");

    println!("cargo::rerun-if-changed={}", ebpf_dir.join("src").display());
    println!(
        "cargo::rerun-if-changed={}",
        ebpf_dir.join("Cargo.toml").display()
    );
    println!(
        "cargo::rerun-if-changed={}",
        ebpf_dir.join("rust-toolchain.toml").display()
    );
    println!(
        "cargo::rerun-if-changed={}",
        manifest_dir.join("../recorder-common/src").display()
    );
    println!("cargo::rerun-if-env-changed=RECORDER_SKIP_EBPF");
    println!("cargo::rustc-check-cfg=cfg(recorder_no_ebpf)");

    // G.729 decoding: Belledonne's bcg729 (Debian libbcg729-dev).
    println!("cargo::rustc-link-lib=bcg729");

    if env::var("RECORDER_SKIP_EBPF").is_ok_and(|v| v == "1") {
        println!("cargo::warning=RECORDER_SKIP_EBPF=1: building without the eBPF program");
        println!("cargo::rustc-cfg=recorder_no_ebpf");
        std::fs::write(&object, b"").expect("write placeholder");
        return;
    }

    if let Err(message) = build(&ebpf_dir, &out_dir, &object) {
        panic!(
            "building the eBPF program failed: {message}\n\
             It needs the toolchain named in recorder-ebpf/rust-toolchain.toml with rust-src, \
             and bpf-linker (scripts/setup.sh installs both); RECORDER_SKIP_EBPF=1 builds \
             without live eBPF capture."
        );
    }
}

fn build(ebpf_dir: &Path, out_dir: &Path, object: &Path) -> Result<(), String> {
    let toolchain_file = std::fs::read_to_string(ebpf_dir.join("rust-toolchain.toml"))
        .map_err(|e| format!("reading rust-toolchain.toml: {e}"))?;
    let toolchain = toolchain_file
        .lines()
        .find_map(|l| l.trim().strip_prefix("channel = "))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or("no channel in recorder-ebpf/rust-toolchain.toml")?;

    // bpf-linker: on PATH, or where scripts/setup.sh puts it.
    let mut path = env::var_os("PATH").unwrap_or_default();
    let setup_dir = PathBuf::from("/var/cache/recorder/bpf-linker/bin");
    if setup_dir.join("bpf-linker").exists() {
        let mut dirs = vec![setup_dir];
        dirs.extend(env::split_paths(&path));
        path = env::join_paths(dirs).map_err(|e| e.to_string())?;
    }

    let target_dir = out_dir.join("ebpf-target");
    let mut cmd = Command::new("rustup");
    cmd.args([
        "run",
        &toolchain,
        "cargo",
        "build",
        "--release",
        "--manifest-path",
    ])
    .arg(ebpf_dir.join("Cargo.toml"))
    .args([
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core",
        "--target-dir",
    ])
    .arg(&target_dir)
    .env("PATH", path)
    .env(
        "CARGO_ENCODED_RUSTFLAGS",
        "-Cdebuginfo=2\x1f-Clink-arg=--btf",
    );
    // The outer build's settings must not leak into the kernel build.
    for key in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTUP_TOOLCHAIN",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(key);
    }
    let output = cmd.output().map_err(|e| format!("running rustup: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "cargo build of recorder-ebpf failed:\n{}",
            tail.join("\n")
        ));
    }
    let built = target_dir.join("bpfel-unknown-none/release/recorder-ebpf");
    std::fs::copy(&built, object).map_err(|e| format!("copying {}: {e}", built.display()))?;
    Ok(())
}
