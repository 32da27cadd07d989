//! Broken input gives one clear line and loses nothing already in the journal.

use std::path::Path;

use tests::{calls_json, capture, import, import_ok};

fn stderr_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

/// A data folder with the SIPp call already imported.
fn journal_with_one_call(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    import_ok(&data, None, &[&capture("record-info-on-off.pcap")]);
    assert_eq!(calls_json(&data).len(), 1);
    data
}

#[test]
fn a_file_that_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let data = journal_with_one_call(dir.path());
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a capture\n").unwrap();

    let out = import(&data, None, &[&text]);
    assert_eq!(out.status.code(), Some(1));
    let errors = stderr_lines(&out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("notes.txt: not a capture file"),
        "{}",
        errors[0]
    );
    assert_eq!(
        calls_json(&data).len(),
        1,
        "the earlier call is still there"
    );
}

#[test]
fn a_missing_file_and_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = journal_with_one_call(dir.path());
    let out = import(&data, None, &[&dir.path().join("nope.pcap"), dir.path()]);
    assert_eq!(out.status.code(), Some(1));
    let errors = stderr_lines(&out);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("nope.pcap: No such file"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("not a regular file"), "{}", errors[1]);
    assert_eq!(calls_json(&data).len(), 1);
}

#[test]
fn a_truncated_capture_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let data = journal_with_one_call(dir.path());
    // Cut the b2bua capture in the middle of a record.
    let bytes = std::fs::read(capture("g711u-b2bua-call-register-rtcp.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 7]).unwrap();

    let out = import(&data, None, &[&cut]);
    assert_eq!(out.status.code(), Some(1));
    let errors = stderr_lines(&out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("cut.pcap: capture is damaged after"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].ends_with("the packets before it were imported"),
        "{}",
        errors[0]
    );
    // The first call of the cut file was already up; it is journaled, ending with the capture.
    let calls = calls_json(&data);
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert!(calls.iter().any(|c| c["call_id"] == "1-1025@10.77.0.1"));
}

#[test]
fn the_fuzzed_capture_imports_without_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data = journal_with_one_call(dir.path());
    let out = import(&data, None, &[&capture("broken-fuzzed-aaa.pcap")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"));
    assert!(
        stderr.contains("skipped:"),
        "the summary counts what was skipped: {stderr}"
    );
    assert!(calls_json(&data).len() >= 3);
}

#[test]
fn importing_the_same_file_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = journal_with_one_call(dir.path());
    let out = import(&data, None, &[&capture("record-info-on-off.pcap")]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already imported"));
    assert_eq!(calls_json(&data).len(), 1, "no duplicate call");
}

#[test]
fn a_broken_config_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = import(
        &data,
        Some("[policy]\ndefault = \"sometimes\"\n"),
        &[&capture("record-info-on-off.pcap")],
    );
    assert_eq!(out.status.code(), Some(2));
    let errors = stderr_lines(&out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("line 2: unknown variant `sometimes`"),
        "{}",
        errors[0]
    );
}
