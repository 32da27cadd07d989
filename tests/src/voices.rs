//! Checks that each channel of a recording carries the right party's voice, against
//! Wireshark's own decode of the RTP streams (the `wireshark-facts --audio` oracle), compared
//! with the `audio-match` oracle. Needs tshark, sox and opusdec.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::oracle_tool;

/// Seconds since the start of the month of an RFC 3339 UTC time (only differences matter).
pub fn seconds(rfc3339: &str) -> f64 {
    let day: f64 = rfc3339[8..10].parse().unwrap();
    let time = &rfc3339[11..rfc3339.len() - 1];
    let mut parts = time.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    ((day * 24.0 + h) * 60.0 + m) * 60.0 + s
}

/// Decodes every G.711 stream of a capture to WAV files in `dir` (Wireshark's decode).
pub fn reference_decode(capture: &Path, dir: &Path) {
    let out = Command::new(oracle_tool("wireshark-facts"))
        .arg(capture)
        .arg("--audio")
        .arg(dir)
        .output()
        .expect("run wireshark-facts");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// When Wireshark saw the first G.711 packet of a stream (where its decode starts), in the
/// scale of [`seconds`].
pub fn first_voice_packet(capture: &Path, ssrc: &str) -> f64 {
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
    let days = (epoch / 86_400.0).floor();
    epoch - days * 86_400.0 + day_of_month(days as i64) as f64 * 86_400.0
}

/// The day of the month of a day number since 1970-01-01 (proleptic Gregorian).
fn day_of_month(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    doy - (153 * mp + 2) / 5 + 1
}

/// Runs audio-match; returns (score, lag in seconds).
pub fn audio_match(reference: &Path, candidate: &Path, channel: u32) -> (f64, f64) {
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

/// Checks one party's channel of a segment against the reference decode of its stream.
/// `reference_dir` holds the decode of `capture`. Returns a line describing the result.
pub fn check_channel(
    capture: &Path,
    reference_dir: &Path,
    work: &Path,
    data: &Path,
    segment: &Value,
    stream: &Value,
    channel: u32,
) -> String {
    let recording = data.join(segment["path"].as_str().unwrap());
    let start = seconds(segment["started_at"].as_str().unwrap());
    let length = segment["duration_s"].as_f64().unwrap();
    let (src, dst) = (
        stream["src"].as_str().unwrap(),
        stream["dst"].as_str().unwrap(),
    );
    let ssrc = stream["ssrc"].as_str().unwrap();
    let file = format!(
        "{}-{}-{ssrc}.wav",
        src.replace(':', "_"),
        dst.replace(':', "_")
    );
    let full = reference_dir.join(&file);
    assert!(full.exists(), "no reference decode {}", full.display());

    // The decode starts with the stream's first G.711 packet; the recording may start before
    // it (the other party spoke first), which shows as a lag.
    let offset = start - first_voice_packet(capture, ssrc);
    let skip = offset.max(0.0);
    let expected_lag = offset.min(0.0);
    let cut = work.join(format!("cut-{}-{file}", segment["id"]));
    let status = Command::new("sox")
        .arg(&full)
        .arg(&cut)
        .args(["trim", &format!("{skip:.3}"), &format!("{length:.3}")])
        .status()
        .expect("sox");
    assert!(status.success());

    let (score, lag) = audio_match(&cut, &recording, channel);
    let (wrong, _) = audio_match(&cut, &recording, 1 - channel);
    let what = format!(
        "{} voice ({src}) in segment {}: channel {channel} scores {score} at lag {lag}s, \
         channel {} scores {wrong} (expected lag {expected_lag:.2}s)",
        stream["direction"],
        segment["id"],
        1 - channel
    );
    assert!(score >= 0.8, "{what}");
    assert!((lag - expected_lag).abs() <= 0.1, "{what}");
    assert!(score - wrong >= 0.1, "{what}");
    what
}
