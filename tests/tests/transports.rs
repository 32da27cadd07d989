//! The same SIPp call (record-info-on-off.pcap: two Record on/off pairs, G.711 both ways)
//! carried every way a mirror port may show it: tunnels and VLAN stacks, Linux cooked v2, IP
//! fragments out of order, SIP over TCP (segments split, reordered, retransmitted) and over
//! WebSocket, SIP on a port nobody configured, and Opus instead of G.711. Each variant is
//! derived from the real capture by `tests::rewrite` (`cargo xtask rewrite KIND IN OUT`) and
//! must give the journal the original gives.

use std::path::Path;

use serde_json::Value;
use tests::pcap_edit::Pcap;
use tests::rewrite;
use tests::voices::{check_channel, reference_decode};
use tests::{calls_json, capture, import_ok};

const MAY_RECORD: &str = "[[users]]\nextension = \"1001\"\nmay_record = true\n";

/// What must not change, whatever carries the call.
fn essentials(call: &Value) -> Value {
    let segments: Vec<Value> = call["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let duration = (s["duration_s"].as_f64().unwrap() * 10.0).round() / 10.0;
            serde_json::json!([
                s["trigger"],
                s["caller_packets"],
                s["callee_packets"],
                duration
            ])
        })
        .collect();
    let streams: Vec<Value> = call["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::json!([s["src"], s["dst"], s["ssrc"], s["packets"], s["lost"]]))
        .collect();
    serde_json::json!({
        "call_id": call["call_id"], "caller": call["caller"], "callee": call["callee"],
        "disposition": call["disposition"], "end_reason": call["end_reason"],
        "segments": segments, "streams": streams,
    })
}

fn import_variant(dir: &Path, kind: &str) -> Vec<Value> {
    import_variant_with(dir, kind, MAY_RECORD)
}

fn import_variant_with(dir: &Path, kind: &str, config: &str) -> Vec<Value> {
    let original = Pcap::read(&capture("record-info-on-off.pcap"));
    let variant = rewrite::apply(kind, &original).expect("known kind");
    let path = dir.join(format!("{kind}.pcap"));
    variant.write(&path);
    let data = dir.join(format!("data-{kind}"));
    import_ok(&data, Some(config), &[&path]);
    calls_json(&data)
}

#[test]
fn every_carrier_gives_the_same_journal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("original");
    import_ok(
        &data,
        Some(MAY_RECORD),
        &[&capture("record-info-on-off.pcap")],
    );
    let expected = essentials(&calls_json(&data)[0]);

    // A second fork answering changes nothing either: the call is one call.
    for &kind in tests::rewrite::CARRIERS.iter().chain(&["fork"]) {
        let calls = import_variant(dir.path(), kind);
        assert_eq!(calls.len(), 1, "{kind}: {calls:#?}");
        assert_eq!(essentials(&calls[0]), expected, "{kind}");
    }
}

#[test]
fn an_opus_call_is_recorded_with_each_voice_on_its_channel() {
    tests::require_audio_tools();
    let dir = tempfile::tempdir().unwrap();
    let calls = import_variant(dir.path(), "opus");
    let call = &calls[0];
    let streams = call["streams"].as_array().unwrap();
    assert!(
        streams
            .iter()
            .all(|s| s["codec"] == "opus" && s["packets"] == 1201),
        "{streams:#?}"
    );
    let segments = call["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2);

    // Wireshark's decode of the original G.711 is the reference for the Opus recording.
    let original = capture("record-info-on-off.pcap");
    let reference = dir.path().join("reference");
    reference_decode(&original, &reference);
    let data = dir.path().join("data-opus");
    let mut checked = Vec::new();
    for segment in segments {
        for (party, channel) in [("caller", 0), ("callee", 1)] {
            let stream = streams.iter().find(|s| s["direction"] == party).unwrap();
            checked.push(check_channel(
                &original,
                &reference,
                dir.path(),
                &data,
                segment,
                stream,
                channel,
            ));
        }
    }
    println!("{}", checked.join("\n"));
}

/// Segments (trigger, packets each way) and stream packet counts, whatever the addresses.
fn counts(call: &Value) -> Value {
    let segments = tests::segment_counts(call);
    let mut packets: Vec<i64> = call["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["packets"].as_i64().unwrap())
        .collect();
    packets.sort_unstable();
    serde_json::json!({ "segments": segments, "packets": packets })
}

#[test]
fn media_behind_static_nat_is_found_through_the_alias_map() {
    let dir = tempfile::tempdir().unwrap();
    // Without the map, nobody announced the addresses the RTP uses: no audio.
    let calls = import_variant(dir.path(), "nat");
    assert!(
        calls[0]["streams"].as_array().unwrap().is_empty(),
        "{:#}",
        calls[0]
    );
    assert_eq!(calls[0]["recorded"], false);

    let aliased = format!(
        "{MAY_RECORD}[nat.aliases]\n\"10.77.0.1\" = \"198.51.100.1\"\n\
         \"10.77.0.2\" = \"192.0.2.50\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let calls = import_variant_with(dir.path(), "nat", &aliased);
    let expected = serde_json::json!({
        "segments": [["info", 350, 350], ["info", 350, 350]], "packets": [1201, 1201],
    });
    assert_eq!(counts(&calls[0]), expected);
}

#[test]
fn an_ssrc_change_keeps_the_recording_whole() {
    let dir = tempfile::tempdir().unwrap();
    let calls = import_variant(dir.path(), "ssrc-change");
    // The caller's stream is two streams now (350 + 851 packets), the recording unchanged.
    let expected = serde_json::json!({
        "segments": [["info", 350, 350], ["info", 350, 350]], "packets": [350, 851, 1201],
    });
    assert_eq!(counts(&calls[0]), expected);
}
