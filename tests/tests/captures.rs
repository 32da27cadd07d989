//! Every bundled capture imports, and the journal holds every call and RTP stream that
//! Wireshark sees in it.
//!
//! The Wireshark side is `tests/fixtures/oracle/<capture>.json`, written by the
//! `wireshark-facts` oracle (tshark 4.0, heuristic RTP on; see `tests/oracle/regenerate.sh`).
//! Where the recorder deliberately differs from Wireshark, the test names the capture, the
//! stream and the evidence.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use tests::{all_captures, calls_json, import, oracle_facts, recorder};

/// Captures whose packets are deliberately broken: they must import without a crash, but what
/// Wireshark makes of the garbage is no reference.
const GARBAGE: &[&str] = &["broken-fuzzed-aaa.pcap"];

/// Streams where the recorder's packet count differs from Wireshark's on purpose.
///
/// g711a-fax-t38-reinvite.pcap: after a re-INVITE offering T.38 (frame 3100, refused with 488
/// and followed by an audio re-INVITE at frame 3124), Wireshark decodes the 2010 packets of
/// 10.35.60.100:15580 -> 10.23.1.52:16756 from frame 3464 on as T.38 ("Malformed Packet:
/// T.38"), and counts only the 1838 before as RTP. Every one of the 3848 packets is RTP
/// version 2, payload type 8 (PCMA), SSRC 0x0eaf0eaf (`tshark -T fields -e udp.payload` shows
/// `8008....0eaf0eaf` on all of them), so the recorder counts 3848.
fn known_difference(capture: &str, src: &str, dst: &str) -> Option<i64> {
    match (capture, src, dst) {
        ("g711a-fax-t38-reinvite.pcap", "10.35.60.100:15580", "10.23.1.52:16756") => Some(3848),
        _ => None,
    }
}

/// The outcome a call should have, from what Wireshark saw of it: answered once a 2xx or a
/// BYE was seen; cancelled with a CANCEL; otherwise the first final status decides (busy for
/// 486/600, failed for 408 and 5xx, rejected for the rest); no final status at all leaves it
/// unknown (null).
fn expected_disposition(call: &Value) -> Option<&'static str> {
    let methods: Vec<&str> = call["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let status = call["invite_status"].as_i64();
    if methods.contains(&"BYE") || status.is_some_and(|s| (200..300).contains(&s)) {
        return Some("answered");
    }
    if methods.contains(&"CANCEL") {
        return Some("cancelled");
    }
    match status? {
        486 | 600 => Some("busy"),
        408 | 500..=599 => Some("failed"),
        _ => Some("rejected"),
    }
}

fn unbound_streams(data: &Path) -> Vec<Value> {
    let out = recorder(&["streams", "--data", &data.display().to_string(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_capture_imports_and_matches_wireshark() {
    let mut report = Vec::new();
    for capture in all_captures() {
        let name = capture.file_name().unwrap().to_string_lossy().to_string();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = import(&data, Some("[policy]\ndefault = \"always\"\n"), &[&capture]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(out.status.success(), "{name}: import failed: {stderr}");
        if GARBAGE.contains(&name.as_str()) {
            report.push(format!("{name}: imported (garbage, not compared)"));
            continue;
        }

        let facts = oracle_facts(&name);
        let calls = calls_json(&data);
        let by_call_id: HashMap<&str, &Value> = calls
            .iter()
            .map(|c| (c["call_id"].as_str().unwrap(), c))
            .collect();

        // Calls: every INVITE dialog Wireshark sees, with its outcome; nothing else.
        let wireshark_calls: Vec<&Value> = facts["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["methods"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m == "INVITE")
            })
            .collect();
        for expected in &wireshark_calls {
            let call_id = expected["call_id"].as_str().unwrap();
            let call = by_call_id
                .get(call_id)
                .unwrap_or_else(|| panic!("{name}: call {call_id} missing from the journal"));
            assert_eq!(
                call["disposition"].as_str(),
                expected_disposition(expected),
                "{name}: outcome of {call_id}"
            );
            let callee = expected["to"].as_str().unwrap();
            assert_eq!(call["callee"], callee, "{name}: callee of {call_id}");
            // No recording starts after its call ended (media after a final failure).
            for segment in call["segments"].as_array().unwrap() {
                if let (Some(start), Some(end)) =
                    (segment["started_at"].as_str(), call["ended_at"].as_str())
                {
                    assert!(start <= end, "{name}: {call_id} recorded after its end");
                }
            }
            // A call Wireshark saw a BYE in ended with it, on every leg and capture point.
            let methods = expected["methods"].as_array().unwrap();
            if methods.iter().any(|m| m == "BYE") {
                assert_eq!(call["end_reason"], "bye", "{name}: how {call_id} ended");
            }
        }
        assert_eq!(
            calls.len(),
            wireshark_calls.len(),
            "{name}: calls in the journal"
        );

        // Streams: each one in a call or among the unsignalled streams, with its packets.
        let unbound = unbound_streams(&data);
        let mut ours: Vec<(String, String, String, i64)> = Vec::new();
        for call in &calls {
            for s in call["streams"].as_array().unwrap() {
                ours.push(stream_key(s));
            }
        }
        ours.extend(unbound.iter().map(stream_key));
        for s in facts["streams"].as_array().unwrap() {
            let src = format!("{}:{}", s["src"].as_str().unwrap(), s["src_port"]);
            let dst = format!("{}:{}", s["dst"].as_str().unwrap(), s["dst_port"]);
            let ssrc = s["ssrc"].as_str().unwrap().to_string();
            let packets =
                known_difference(&name, &src, &dst).unwrap_or(s["packets"].as_i64().unwrap());
            let found = ours
                .iter()
                .find(|o| o.0 == src && o.1 == dst && o.2 == ssrc);
            let found = found.unwrap_or_else(|| {
                panic!(
                    "{name}: stream {src} -> {dst} {ssrc} ({packets} packets) not in the journal"
                )
            });
            assert_eq!(found.3, packets, "{name}: packets of {src} -> {dst} {ssrc}");
        }
        report.push(format!(
            "{name}: {} calls, {} streams ({} unsignalled) match",
            calls.len(),
            facts["streams"].as_array().unwrap().len(),
            unbound.len()
        ));
    }
    println!("{}", report.join("\n"));
}

fn stream_key(s: &Value) -> (String, String, String, i64) {
    (
        s["src"].as_str().unwrap().to_string(),
        s["dst"].as_str().unwrap().to_string(),
        s["ssrc"].as_str().unwrap().to_string(),
        s["packets"].as_i64().unwrap(),
    )
}
