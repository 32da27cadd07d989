//! Each channel of a recording carries the right party's voice: the caller left, the callee
//! right. The reference is Wireshark's own G.711 decode of each RTP stream (the
//! `wireshark-facts --audio` oracle), compared with `audio-match` (loudness envelopes).
//!
//! Needs tshark, sox and opusdec (Debian tshark, sox, opus-tools), which scripts/setup.sh
//! installs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tests::{calls_json, capture, import_ok, oracle_tool, require_tool};

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

fn seconds(rfc3339: &str) -> f64 {
    // Only differences matter; the date part is the same within a call.
    let time = &rfc3339[11..rfc3339.len() - 1];
    let mut parts = time.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    let day: f64 = rfc3339[8..10].parse().unwrap();
    ((day * 24.0 + h) * 60.0 + m) * 60.0 + s
}

fn audio_match(reference: &Path, candidate: &Path, channel: u32) -> (f64, f64) {
    let out = Command::new(oracle_tool("audio-match"))
        .arg(reference)
        .arg(candidate)
        .args(["--channel", &channel.to_string()])
        .output()
        .expect("run audio-match");
    assert!(
        out.status.success(),
        "audio-match: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("audio-match JSON");
    (
        result["score"].as_f64().unwrap(),
        result["lag_s"].as_f64().unwrap(),
    )
}

/// When Wireshark saw the first G.711 packet of a stream (where its decode starts), as
/// seconds comparable with [`seconds`].
fn first_voice_packet(capture: &Path, stream: &Value) -> f64 {
    let ssrc = stream["ssrc"].as_str().unwrap();
    let filter = format!("rtp.ssrc == {ssrc} && (rtp.p_type == 0 || rtp.p_type == 8)");
    let out = Command::new("tshark")
        .args(["-n", "-o", "rtp.heuristic_rtp:TRUE", "-r"])
        .arg(capture)
        .args(["-Y", &filter, "-T", "fields", "-e", "frame.time_epoch"])
        .output()
        .expect("run tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let epoch: f64 = text
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .parse()
        .expect("a time");
    // Same scale as `seconds`: day of month, then time of day.
    let days = (epoch / 86_400.0).floor();
    let day_of_month = day_of_month(days as i64) as f64;
    epoch - days * 86_400.0 + day_of_month * 86_400.0
}

/// The day of the month of a day number since 1970-01-01 (civil-from-days, proleptic
/// Gregorian calendar).
fn day_of_month(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    doy - (153 * mp + 2) / 5 + 1
}

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
    for (tool, package) in [
        ("tshark", "tshark"),
        ("sox", "sox"),
        ("opusdec", "opus-tools"),
    ] {
        require_tool(tool, package);
    }
    let mut checked = Vec::new();
    for name in CAPTURES {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let path = capture(name);
        import_ok(&data, Some("[policy]\ndefault = \"always\"\n"), &[&path]);

        let reference_dir = dir.path().join("reference");
        let facts = Command::new(oracle_tool("wireshark-facts"))
            .arg(&path)
            .arg("--audio")
            .arg(&reference_dir)
            .output()
            .expect("run wireshark-facts");
        assert!(
            facts.status.success(),
            "{}",
            String::from_utf8_lossy(&facts.stderr)
        );

        for call in calls_json(&data) {
            let (Some(caller), Some(callee)) =
                (first_stream(&call, "caller"), first_stream(&call, "callee"))
            else {
                continue;
            };
            let segment = &call["segments"][0];
            let recording = data.join(segment["path"].as_str().unwrap());
            let start = seconds(segment["started_at"].as_str().unwrap());
            let length = segment["duration_s"].as_f64().unwrap();

            for (stream, own, other) in [(caller, 0, 1), (callee, 1, 0)] {
                // Wireshark's decode of the stream, cut to the recorded span.
                let (src, dst) = (
                    stream["src"].as_str().unwrap(),
                    stream["dst"].as_str().unwrap(),
                );
                if NOT_JUDGEABLE.contains(&(name, src)) {
                    checked.push(format!(
                        "{name} {src}: not judgeable by the reference (see NOT_JUDGEABLE)"
                    ));
                    continue;
                }
                let file = format!(
                    "{}-{}-{}.wav",
                    src.replace(':', "_"),
                    dst.replace(':', "_"),
                    stream["ssrc"].as_str().unwrap()
                );
                let full = reference_dir.join(&file);
                assert!(full.exists(), "no reference decode {}", full.display());
                // The decode starts with the stream's first G.711 packet; the recording may
                // start before it (the other party spoke first), which shows as a lag.
                let offset = start - first_voice_packet(&path, stream);
                let skip = offset.max(0.0);
                let expected_lag = offset.min(0.0);
                let cut = dir.path().join(format!("cut-{file}"));
                let status = Command::new("sox")
                    .arg(&full)
                    .arg(&cut)
                    .args(["trim", &format!("{skip:.3}"), &format!("{length:.3}")])
                    .status()
                    .unwrap();
                assert!(status.success());

                let (score, lag) = audio_match(&cut, &recording, own);
                let (wrong, _) = audio_match(&cut, &recording, other);
                let what = format!(
                    "{name} call {} {} voice ({src}): channel {own} scores {score} at lag {lag}s, \
                     channel {other} scores {wrong}",
                    call["call_id"], stream["direction"]
                );
                assert!(score >= 0.8, "{what}");
                assert!(
                    (lag - expected_lag).abs() <= 0.1,
                    "{what} (expected lag {expected_lag:.2}s)"
                );
                assert!(score - wrong >= 0.1, "{what}");
                checked.push(what);
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
