//! Helpers for the end-to-end tests in `tests/tests/`: fixture paths, running the `recorder`
//! binary, reading its JSON, and small pcap rewrites that derive test captures from real ones.

pub mod flood;
pub mod netns;
pub mod pcap_edit;
pub mod rewrite;
pub mod rewrite_opus;
pub mod voices;
pub mod web;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository's `tests/fixtures` folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A bundled capture by file name.
pub fn capture(name: &str) -> PathBuf {
    fixtures().join("captures").join(name)
}

/// Every bundled capture file.
pub fn all_captures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("captures"))
        .expect("fixtures/captures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    files
}

/// The oracle's facts for a bundled capture (see `tests/oracle/regenerate.sh`).
pub fn oracle_facts(name: &str) -> Value {
    let path = fixtures().join("oracle").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("oracle JSON")
}

/// The `recorder` binary cargo built next to this test binary.
pub fn recorder_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/recorder
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("recorder");
    assert!(
        bin.exists(),
        "{} not built; run the tests with `cargo test --workspace` so cargo builds it",
        bin.display()
    );
    bin
}

/// Runs `recorder` with arguments.
pub fn recorder(args: &[&str]) -> Output {
    Command::new(recorder_bin())
        .args(args)
        .output()
        .expect("run recorder")
}

/// Runs `recorder import` of `captures` into `data` with an optional config text; returns
/// the process output.
pub fn import(data: &Path, config: Option<&str>, captures: &[&Path]) -> Output {
    let mut args: Vec<String> = vec!["import".into(), "--data".into(), data.display().to_string()];
    if let Some(config) = config {
        let path = data.with_extension("toml");
        std::fs::write(&path, config).expect("write config");
        args.push("--config".into());
        args.push(path.display().to_string());
    }
    for capture in captures {
        args.push(capture.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    recorder(&refs)
}

/// Like [`import`], but fails the test unless the import succeeded.
pub fn import_ok(data: &Path, config: Option<&str>, captures: &[&Path]) {
    let out = import(data, config, captures);
    assert!(
        out.status.success(),
        "import failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `recorder calls --json` of a data folder, parsed.
pub fn calls_json(data: &Path) -> Vec<Value> {
    let out = recorder(&["calls", "--data", &data.display().to_string(), "--json"]);
    assert!(
        out.status.success(),
        "calls failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("calls JSON")
}

/// Whether a command is on the PATH; tests that need an external tool assert this with a
/// message naming the package, rather than skipping.
pub fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "this test needs `{tool}` (Debian package {package}); run scripts/setup.sh"
    );
}

/// Fails unless the tools that decode and compare recordings are installed (tshark for
/// Wireshark's reference decode, sox, opusdec).
pub fn require_audio_tools() {
    for (tool, package) in [
        ("tshark", "tshark"),
        ("sox", "sox"),
        ("opusdec", "opus-tools"),
    ] {
        require_tool(tool, package);
    }
}

/// Runs `sha256sum -c SHA256SUMS` in an export folder: whether every file checks, and the
/// report (a line `FILE: OK` per file).
pub fn check_sums(dir: &Path) -> (bool, String) {
    require_tool("sha256sum", "coreutils");
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .expect("run sha256sum");
    let report = String::from_utf8_lossy(&check.stdout).into_owned();
    (check.status.success(), report)
}

/// A call's segments as `[trigger, caller packets, callee packets]`, for comparing journals
/// whose times and addresses differ.
pub fn segment_counts(call: &serde_json::Value) -> Vec<serde_json::Value> {
    call["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| serde_json::json!([s["trigger"], s["caller_packets"], s["callee_packets"]]))
        .collect()
}

/// The path of one of the oracle scripts in `tests/oracle/`.
pub fn oracle_tool(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("oracle")
        .join(name)
}
