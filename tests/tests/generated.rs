//! Captures from the traffic generator (`cargo xtask gen`): an import finds every call, and in
//! each the packets, loss and record-button segments the generator says it put there.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use tests::{calls_json, import_ok};
use xtask::traffic::{self, CallSummary, Options};

fn generate(dir: &Path, options: &Options) -> (traffic::Summary, std::path::PathBuf) {
    let path = dir.join("generated.pcap");
    let file = std::fs::File::create(&path).unwrap();
    let (summary, _) = traffic::generate(options, std::io::BufWriter::new(file)).unwrap();
    (summary, path)
}

fn stream<'a>(call: &'a Value, party: &str) -> &'a Value {
    call["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["direction"] == party)
        .unwrap_or_else(|| panic!("no {party} stream in {call:#}"))
}

fn check_streams(call: &Value, expected: &CallSummary) {
    assert_eq!(call["streams"].as_array().unwrap().len(), 2, "{call:#}");
    for (party, want) in ["caller", "callee"].into_iter().zip(expected.streams) {
        let got = stream(call, party);
        assert_eq!(got["packets"], want.received, "{party} packets of {call:#}");
        assert_eq!(got["lost"], want.lost, "{party} loss of {call:#}");
        assert_eq!(got["codec"], expected.codec, "{call:#}");
    }
}

#[test]
fn an_import_finds_the_generated_calls_segments_and_packets() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        calls: 12,
        duration: 10.0,
        loss: 0.03,
        jitter_ms: 12.0,
        reorder: 0.02,
        record_share: 0.6,
        seed: 7,
        ..Options::default()
    };
    let (summary, capture) = generate(dir.path(), &options);
    assert_eq!(summary.max_concurrent, 12);
    assert!(summary.calls.iter().any(|c| c.segments.len() == 2));
    assert!(summary.calls.iter().any(|c| c.segments.is_empty()));

    let data = dir.path().join("on-demand");
    import_ok(
        &data,
        Some(&traffic::recorder_config("on-demand")),
        &[&capture],
    );
    let calls = calls_json(&data);
    assert_eq!(calls.len(), 12);
    let by_id: HashMap<&str, &Value> = calls
        .iter()
        .map(|c| (c["call_id"].as_str().unwrap(), c))
        .collect();
    for expected in &summary.calls {
        let call = by_id[expected.call_id.as_str()];
        assert_eq!(call["caller"], expected.caller.as_str());
        assert_eq!(call["callee"], expected.callee.as_str());
        assert_eq!(call["disposition"], "answered");
        assert_eq!(call["end_reason"], "bye");
        let duration = call["duration_s"].as_f64().unwrap();
        assert!((duration - expected.talk_seconds).abs() < 0.001, "{call:#}");
        check_streams(call, expected);

        let segments = call["segments"].as_array().unwrap();
        assert_eq!(segments.len(), expected.segments.len(), "{call:#}");
        assert_eq!(call["recorded"], !expected.segments.is_empty());
        for (segment, [caller, callee]) in segments.iter().zip(&expected.segments) {
            assert_eq!(segment["trigger"], "info");
            assert_eq!(segment["status"], "complete");
            assert_eq!(segment["caller_packets"], *caller, "{segment:#}");
            assert_eq!(segment["callee_packets"], *callee, "{segment:#}");
        }
    }

    // Recording every call: one segment each, holding every packet of both parties up to the
    // BYE.
    let data = dir.path().join("always");
    import_ok(&data, Some("[policy]\ndefault = \"always\"\n"), &[&capture]);
    let calls = calls_json(&data);
    assert_eq!(calls.len(), 12);
    for expected in &summary.calls {
        let call = calls
            .iter()
            .find(|c| c["call_id"] == expected.call_id.as_str())
            .unwrap();
        let segments = call["segments"].as_array().unwrap();
        assert_eq!(segments.len(), 1, "{call:#}");
        assert_eq!(segments[0]["trigger"], "policy");
        assert_eq!(
            segments[0]["caller_packets"],
            expected.streams[0].before_bye
        );
        assert_eq!(
            segments[0]["callee_packets"],
            expected.streams[1].before_bye
        );
        let length = segments[0]["duration_s"].as_f64().unwrap();
        assert!(
            (length - expected.talk_seconds).abs() < 0.1,
            "segment of {length} s in a call of {} s",
            expected.talk_seconds
        );
    }
}
