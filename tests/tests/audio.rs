//! Each channel of a recording carries the right party's voice: the caller left, the callee
//! right. The reference is Wireshark's own G.711 decode of each RTP stream (the
//! `wireshark-facts --audio` oracle), compared with `audio-match` (loudness envelopes).
//!
//! Needs tshark, sox and opusdec (Debian tshark, sox, opus-tools), which scripts/setup.sh
//! installs.

use serde_json::Value;
use tests::voices::{check_channel, reference_decode};
use tests::{calls_json, capture, import_ok};

/// Voices the reference cannot judge. The reference places packets by RTP timestamp from a
/// stream's first packet and does not follow a timestamp reset.
///
/// g711a-fax-t38-reinvite.pcap, caller 10.23.1.52:16756 (SSRC 0x17d90134): the stream restarts
/// at timestamp 0 after the re-INVITE at 64.7 s (frame 3124). Before that it carries only
/// line noise (RMS about 8 of 32767, per 0.5 s window), so no window of the reference holds
/// both signal and the right timing; the recorder re-anchors on the capture clock there. The
/// callee's voice of the same call is checked.
const NOT_JUDGEABLE: &[(&str, &str)] = &[("g711a-fax-t38-reinvite.pcap", "10.23.1.52:16756")];

/// Captures with calls carrying G.711 in both directions.
const CAPTURES: &[&str] = &[
    "record-info-on-off.pcap",
    "g711u-b2bua-call-register-rtcp.pcap",
    "g711a-call-register-rtcp.pcap",
    "g711a-fax-t38-reinvite.pcap",
];

/// The first G.711 stream of a party (the one the recorder locks on to).
fn first_stream<'a>(call: &'a Value, party: &str) -> Option<&'a Value> {
    call["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["direction"] == party)
        .filter(|s| matches!(s["codec"].as_str(), Some("PCMU" | "PCMA")))
        .filter(|s| s["packets"].as_i64().unwrap() >= 100)
        .min_by(|a, b| a["first_at"].as_str().cmp(&b["first_at"].as_str()))
}

#[test]
fn each_channel_carries_the_right_voice() {
    tests::require_audio_tools();
    let mut checked = Vec::new();
    for name in CAPTURES {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let path = capture(name);
        import_ok(&data, Some("[policy]\ndefault = \"always\"\n"), &[&path]);

        let reference_dir = dir.path().join("reference");
        reference_decode(&path, &reference_dir);

        for call in calls_json(&data) {
            let (Some(caller), Some(callee)) =
                (first_stream(&call, "caller"), first_stream(&call, "callee"))
            else {
                continue;
            };
            let segment = &call["segments"][0];
            for (stream, channel) in [(caller, 0), (callee, 1)] {
                let src = stream["src"].as_str().unwrap();
                if NOT_JUDGEABLE.contains(&(name, src)) {
                    checked.push(format!("{name} {src}: not judgeable (see NOT_JUDGEABLE)"));
                    continue;
                }
                let line = check_channel(
                    &path,
                    &reference_dir,
                    dir.path(),
                    &data,
                    segment,
                    stream,
                    channel,
                );
                checked.push(format!("{name} call {}: {line}", call["call_id"]));
            }
        }
    }
    println!("{}", checked.join("\n"));
    let judged = checked.iter().filter(|c| c.contains("scores")).count();
    assert_eq!(
        judged, 9,
        "5 calls with two voices each, one not judgeable: {checked:#?}"
    );
}
