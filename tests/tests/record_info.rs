//! The record button: SIP INFO `Record: on` / `Record: off`, on the SIPp capture whose README
//! (tests/fixtures/captures/sipp-scenario/README.md) gives the expected segments, and on
//! variants of it rewritten here (a refused INFO, no BYE).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tests::pcap_edit::Pcap;
use tests::{calls_json, capture, import_ok, require_tool};

const MAY_RECORD: &str = "[[users]]\nextension = \"1001\"\nmay_record = true\n";

fn only_call(data: &Path) -> Value {
    let calls = calls_json(data);
    assert_eq!(calls.len(), 1, "{calls:#?}");
    calls.into_iter().next().unwrap()
}

fn segments(call: &Value) -> &Vec<Value> {
    call["segments"].as_array().unwrap()
}

fn reasons(call: &Value) -> Vec<String> {
    call["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap().to_string())
        .collect()
}

fn derived(dir: &Path, name: &str, edit: impl FnOnce(&mut Pcap)) -> PathBuf {
    let mut pcap = Pcap::read(&capture("record-info-on-off.pcap"));
    edit(&mut pcap);
    let path = dir.join(name);
    pcap.write(&path);
    path
}

#[test]
fn two_info_pairs_give_two_segments_of_seven_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_ok(
        &data,
        Some(MAY_RECORD),
        &[&capture("record-info-on-off.pcap")],
    );
    let call = only_call(&data);
    assert_eq!(call["call_id"], "1-1025@10.77.0.1");
    assert_eq!(call["disposition"], "answered");
    assert_eq!(call["end_reason"], "bye");
    assert_eq!(call["recorded"], true);

    let segs = segments(&call);
    assert_eq!(segs.len(), 2, "{segs:#?}");
    for seg in segs {
        assert_eq!(seg["trigger"], "info");
        assert_eq!(seg["status"], "complete");
        let duration = seg["duration_s"].as_f64().unwrap();
        assert!((duration - 7.0).abs() < 0.05, "segment of {duration}s");
        // 7 s of 20 ms packets: 350 each way (README: frames 411-1114 and 1717-2419).
        for side in ["caller_packets", "callee_packets"] {
            let packets = seg[side].as_i64().unwrap();
            assert!((349..=351).contains(&packets), "{side}: {packets}");
        }
        let file = data.join(seg["path"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        let digest = sha256_hex(&bytes);
        assert_eq!(
            seg["sha256"].as_str().unwrap(),
            digest,
            "journal digest of {}",
            file.display()
        );
    }
    // The first segment starts at the 200 OK to the first INFO (5.009 s after the capture's
    // first frame), the second ends at the BYE (25.025 s).
    assert!(
        segs[0]["started_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-04T16:11:42.32")
    );
    assert!(
        segs[1]["ended_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-04T16:12:02.33")
    );
    let reasons = reasons(&call);
    assert!(reasons.contains(&"INFO Record: off from 1001 accepted: recording stops".to_string()));
}

#[test]
fn a_refused_info_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The 200 OK to the first Record: on (frame 411) becomes a 488.
    let refused = derived(dir.path(), "refused.pcap", |p| {
        p.replace_in_frame(411, b"SIP/2.0 200 OK", b"SIP/2.0 488 NA")
    });
    let data = dir.path().join("data");
    import_ok(&data, Some(MAY_RECORD), &[&refused]);
    let call = only_call(&data);
    let segs = segments(&call);
    // Only the second on/off pair records: 18.020 s to the BYE.
    assert_eq!(segs.len(), 1, "{segs:#?}");
    assert!(
        segs[0]["started_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-04T16:11:55.33")
    );
    let reasons = reasons(&call);
    assert!(
        reasons
            .iter()
            .any(|r| r == "INFO Record: on from 1001 refused by the far end (488)")
    );
    assert!(
        reasons
            .iter()
            .any(|r| r == "INFO Record: off from 1001 accepted: not recording")
    );
}

#[test]
fn an_info_from_a_user_without_permission_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = "[[users]]\nextension = \"1001\"\nmay_record = false\n";
    import_ok(&data, Some(config), &[&capture("record-info-on-off.pcap")]);
    let call = only_call(&data);
    assert_eq!(call["recorded"], false);
    assert!(segments(&call).is_empty());
    let ignored = reasons(&call)
        .iter()
        .filter(|r| r.ends_with("ignored: no permission"))
        .count();
    assert_eq!(ignored, 3);
}

#[test]
fn a_never_rule_beats_the_record_button() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = format!(
        "[policy]\ndefault = \"always\"\n[[policy.rules]]\nname = \"hotline\"\n\
         callee = \"2002\"\naction = \"never\"\n{MAY_RECORD}"
    );
    import_ok(&data, Some(&config), &[&capture("record-info-on-off.pcap")]);
    let call = only_call(&data);
    assert_eq!(call["recorded"], false);
    assert!(segments(&call).is_empty());
    assert_eq!(
        call["decision"],
        "rule 1 (hotline) matched callee 2002 (2002): never record"
    );
    let ignored = reasons(&call)
        .iter()
        .filter(|r| r.ends_with("this call must never be recorded"))
        .count();
    assert_eq!(ignored, 3);
}

#[test]
fn a_call_without_bye_ends_with_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    // Drop the BYE and its 200 OK (frames 2420 and 2421).
    let no_bye = derived(dir.path(), "no-bye.pcap", |p| {
        p.retain(|frame, _| frame < 2420)
    });
    let data = dir.path().join("data");
    import_ok(&data, Some(MAY_RECORD), &[&no_bye]);
    let call = only_call(&data);
    assert_eq!(call["disposition"], "answered");
    assert_eq!(call["end_reason"], "capture_end");
    // The call ends with its last packet (the last RTP, 25.005 s), and so does segment 2.
    assert!(
        call["ended_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-04T16:12:02.31")
    );
    let segs = segments(&call);
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[1]["status"], "complete");
    let duration = segs[1]["duration_s"].as_f64().unwrap();
    assert!((duration - 6.98).abs() < 0.05, "{duration}");
}

#[test]
fn policy_always_records_the_whole_call_in_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_ok(
        &data,
        Some("[policy]\ndefault = \"always\"\n"),
        &[&capture("record-info-on-off.pcap")],
    );
    let call = only_call(&data);
    let segs = segments(&call);
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0]["trigger"], "policy");
    // From the first RTP packet (1.005 s) to the BYE (25.025 s).
    let duration = segs[0]["duration_s"].as_f64().unwrap();
    assert!((duration - 24.04).abs() < 0.05, "{duration}");
    assert_eq!(segs[0]["caller_packets"], 1201);
    assert_eq!(segs[0]["callee_packets"], 1201);
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_recording_does_not_grow_silence_after_the_last_audio() {
    require_tool("opusinfo", "opus-tools");
    let dir = tempfile::tempdir().unwrap();
    // No BYE, and 200 s later some unrelated frames (the capture's two ARP frames again): the
    // call ends with the capture, at its last packet, and so does its recording.
    let later = derived(dir.path(), "no-bye-then-later.pcap", |p| {
        let arp: Vec<_> = p.records[..2].to_vec();
        p.retain(|frame, _| frame < 2420);
        let last = p.records.last().unwrap().ts_sec;
        for mut record in arp {
            record.ts_sec = last + 200;
            p.records.push(record);
        }
    });
    let data = dir.path().join("data");
    import_ok(&data, Some(MAY_RECORD), &[&later]);
    let call = only_call(&data);
    assert_eq!(call["end_reason"], "capture_end");
    let second = &segments(&call)[1];
    let file = data.join(second["path"].as_str().unwrap());
    let info = std::process::Command::new("opusinfo")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("Playback length: 0m:06.9") || text.contains("Playback length: 0m:07.0"),
        "{text}"
    );
}

#[test]
fn a_recording_that_cannot_be_written_is_marked_and_export_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A file where the day's recordings folder should be: every segment fails to open.
    std::fs::create_dir_all(data.join("recordings")).unwrap();
    std::fs::write(data.join("recordings/2026"), "in the way").unwrap();
    let out = tests::import(
        &data,
        Some(MAY_RECORD),
        &[&capture("record-info-on-off.pcap")],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 recordings could not be written"));
    let call = only_call(&data);
    let segs = segments(&call);
    assert_eq!(segs.len(), 2);
    assert!(segs.iter().all(|s| s["status"] == "failed"), "{segs:#?}");
    assert!(
        call["note"].as_str().unwrap().contains("failed"),
        "{call:#}"
    );

    let export = dir.path().join("export");
    let result = tests::recorder(&[
        "export",
        "--data",
        data.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let manifest: Vec<Value> =
        serde_json::from_slice(&std::fs::read(export.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest[0]["segments"][0]["status"], "failed");
    assert_eq!(manifest[0]["segments"][0]["path"], "");
}

#[test]
fn look_back_covers_the_call_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = format!("[policy]\nlook_back = true\n{MAY_RECORD}");
    import_ok(&data, Some(&config), &[&capture("record-info-on-off.pcap")]);
    let call = only_call(&data);
    let segs = segments(&call);
    assert_eq!(segs.len(), 2, "{segs:#?}");
    // The first Record: on (5.009 s) claims the audio from the first RTP packet (1.005 s) up
    // to the Record: off (12.012 s): 11 s, 550 packets each way. The second pair is as usual.
    let first = &segs[0];
    assert!(
        (first["duration_s"].as_f64().unwrap() - 11.0).abs() < 0.05,
        "{first}"
    );
    for side in ["caller_packets", "callee_packets"] {
        let packets = first[side].as_i64().unwrap();
        assert!((549..=551).contains(&packets), "{side}: {packets}");
    }
    assert_eq!(segs[1]["caller_packets"], 350);
    assert!(reasons(&call).iter().any(|r| r.starts_with("look-back")));
    assert_no_look_back_left(&data);
}

#[test]
fn unclaimed_look_back_audio_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Look-back on, but nobody may press the button: nothing may stay on disk.
    import_ok(
        &data,
        Some("[policy]\nlook_back = true\n"),
        &[&capture("record-info-on-off.pcap")],
    );
    let call = only_call(&data);
    assert!(segments(&call).is_empty());
    assert_no_look_back_left(&data);
    let opus_files = walk(&data.join("recordings"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "opus"))
        .count();
    assert_eq!(opus_files, 0);
}

#[test]
fn dtmf_keys_start_and_stop_recording() {
    let dir = tempfile::tempdir().unwrap();
    // The caller presses *1 at 3 s and *2 at 9 s (RFC 4733 events); the Record INFOs of the
    // capture are turned off by naming another header.
    let keys = derived(dir.path(), "dtmf.pcap", |p| {
        *p = tests::rewrite::apply("dtmf", p).unwrap()
    });
    let data = dir.path().join("data");
    let config = format!(
        "[on_demand]\nheader = \"X-Not-Used\"\ndtmf_on = \"*1\"\ndtmf_off = \"*2\"\n{MAY_RECORD}"
    );
    import_ok(&data, Some(&config), &[&keys]);
    let call = only_call(&data);
    let segs = segments(&call);
    assert_eq!(segs.len(), 1, "{segs:#?}");
    assert_eq!(segs[0]["trigger"], "dtmf");
    // From the '1' (3.2 s) to the '2' (9.2 s).
    assert!(
        (segs[0]["duration_s"].as_f64().unwrap() - 6.0).abs() < 0.05,
        "{}",
        segs[0]
    );
    assert!((299..=301).contains(&segs[0]["callee_packets"].as_i64().unwrap()));
    let reasons = reasons(&call);
    assert!(
        reasons.contains(&"DTMF *1 from 1001: recording starts".to_string()),
        "{reasons:#?}"
    );
    let digits: Vec<&str> = call["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["digits"].as_str())
        .collect();
    assert!(digits.contains(&"*1*2"), "{digits:?}");
}

fn assert_no_look_back_left(data: &Path) {
    let dir = data.join("recordings/.look-back");
    let left = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "look-back files left in {}", dir.display());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
