//! The compliance export: a folder with manifests, recordings and checksums that
//! `sha256sum -c` accepts, filtered by time and number; tampering stops it.

use std::path::Path;

use serde_json::Value;
use tests::{calls_json, capture, import_ok, recorder, require_tool};

fn data_with_calls(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let config = "[policy]\ndefault = \"always\"\n";
    import_ok(
        &data,
        Some(config),
        &[
            &capture("record-info-on-off.pcap"),
            &capture("g711u-b2bua-call-register-rtcp.pcap"),
        ],
    );
    data
}

fn export(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    recorder(&args)
}

#[test]
fn export_has_manifests_recordings_and_valid_checksums() {
    require_tool("sha256sum", "coreutils");
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_calls(dir.path());
    let out = dir.path().join("export");
    let result = export(&data, &out, &[]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );

    let (ok, report) = tests::check_sums(&out);
    assert!(ok, "{report}");
    // 3 calls recorded in one segment each, plus manifest.json, manifest.csv, export.json.
    assert_eq!(
        report.lines().filter(|l| l.ends_with(": OK")).count(),
        6,
        "{report}"
    );

    let manifest: Vec<Value> =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let journal = calls_json(&data);
    assert_eq!(manifest.len(), journal.len());
    for (exported, original) in manifest.iter().zip(&journal) {
        // The same object, but segment paths point into the export.
        assert_eq!(exported["call_id"], original["call_id"]);
        assert_eq!(exported["streams"], original["streams"]);
        for (seg, orig) in exported["segments"]
            .as_array()
            .unwrap()
            .iter()
            .zip(original["segments"].as_array().unwrap())
        {
            assert_eq!(seg["sha256"], orig["sha256"]);
            assert!(out.join(seg["path"].as_str().unwrap()).is_file());
        }
    }
    let csv = std::fs::read_to_string(out.join("manifest.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
}

#[test]
fn filters_by_number_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_calls(dir.path());

    let out = dir.path().join("by-number");
    assert!(export(&data, &out, &["--number", "2002"]).status.success());
    let manifest: Vec<Value> =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.len(), 1);
    assert_eq!(manifest[0]["callee"], "2002");

    // The b2bua capture is from 2018; the SIPp one from 2026.
    let out = dir.path().join("by-time");
    assert!(
        export(&data, &out, &["--from", "2026-01-01", "--to", "2027-01-01"])
            .status
            .success()
    );
    let manifest: Vec<Value> =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.len(), 1);

    let out = dir.path().join("none");
    assert!(export(&data, &out, &["--number", "+99*"]).status.success());
    let manifest: Vec<Value> =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.is_empty());
}

#[test]
fn a_tampered_recording_stops_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_calls(dir.path());
    let calls = calls_json(&data);
    let path = data.join(calls[0]["segments"][0]["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let out = dir.path().join("export");
    let result = export(&data, &out, &[]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("does not match the journal"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn an_existing_export_folder_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_calls(dir.path());
    let out = dir.path().join("export");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let result = export(&data, &out, &[]);
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("is not empty"));
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );
}
