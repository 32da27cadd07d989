//! Wideband and compressed codecs are decoded into the same stereo recordings: G.722 and
//! G.729 calls checked against an independent decode of the same RTP payloads by ffmpeg, and
//! a codec nothing can decode journaled with a note.
//!
//! Needs tshark, ffmpeg, sox and opusdec (scripts/setup.sh installs them).

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tests::voices::audio_match;
use tests::{calls_json, capture, import_ok, require_tool};

/// The RTP payloads of a capture (one stream), decoded by ffmpeg's own decoder.
fn ffmpeg_decode(capture: &Path, format: &str, work: &Path) -> std::path::PathBuf {
    let out = Command::new("tshark")
        .args(["-n", "-o", "rtp.heuristic_rtp:TRUE", "-r"])
        .arg(capture)
        .args(["-Y", "rtp", "-T", "fields", "-e", "rtp.payload"])
        .output()
        .expect("tshark");
    let hex: String = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<String>()
        .replace(':', "");
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let raw = work.join(format!("payloads.{format}"));
    std::fs::write(&raw, bytes).unwrap();
    let wav = work.join(format!("{format}.wav"));
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", format, "-i"])
        .arg(&raw)
        .arg(&wav)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    wav
}

fn only_recording(data: &Path) -> (Value, std::path::PathBuf) {
    let calls = calls_json(data);
    assert_eq!(calls.len(), 1);
    let call = calls.into_iter().next().unwrap();
    let path = data.join(call["segments"][0]["path"].as_str().unwrap());
    (call, path)
}

fn opusinfo(path: &Path) -> String {
    let out = Command::new("opusinfo")
        .arg(path)
        .output()
        .expect("opusinfo");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn g722_and_g729_calls_are_recorded_with_the_right_voice() {
    for (tool, package) in [
        ("tshark", "tshark"),
        ("ffmpeg", "ffmpeg"),
        ("sox", "sox"),
        ("opusinfo", "opus-tools"),
    ] {
        require_tool(tool, package);
    }
    // (capture, ffmpeg's raw format, the file's sample rate)
    for (name, format, rate) in [
        ("g722-call-oneway.pcap", "g722", "16000"),
        ("g729a-call-oneway.pcap", "g729", "8000"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        import_ok(
            &data,
            Some("[policy]\ndefault = \"always\"\n"),
            &[&capture(name)],
        );
        let (call, recording) = only_recording(&data);
        assert_eq!(call["recorded"], true);
        assert!(call["note"].is_null(), "{name}: {call:#}");
        let info = opusinfo(&recording);
        assert!(
            info.contains(&format!("Original sample rate: {rate} Hz")),
            "{name}: {info}"
        );

        // One-way audio from the callee (FreeSWITCH playing to SIPp): the right channel.
        let reference = ffmpeg_decode(&capture(name), format, dir.path());
        let (score, lag) = audio_match(&reference, &recording, 1);
        let (silent, _) = audio_match(&reference, &recording, 0);
        assert!(
            score >= 0.9 && lag.abs() <= 0.05,
            "{name}: right channel scores {score} at {lag}s"
        );
        assert!(
            silent < 0.5,
            "{name}: the silent left channel scores {silent}"
        );
    }
}

#[test]
fn a_codec_nothing_decodes_is_journaled_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    // Both SDPs of the SIPp call name payload type 0 "BV32" instead of "PCMU" (same length, so
    // the frames stay valid): the RTP is then BroadVoice as far as anyone can tell.
    let mut pcap = tests::pcap_edit::Pcap::read(&capture("record-info-on-off.pcap"));
    for frame in [3, 6] {
        pcap.replace_in_frame(frame, b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:0 BV32/8000");
    }
    let path = dir.path().join("bv32.pcap");
    pcap.write(&path);
    let data = dir.path().join("data");
    let out = tests::import(&data, Some("[policy]\ndefault = \"always\"\n"), &[&path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = calls_json(&data);
    let call = &calls[0];
    assert_eq!(call["disposition"], "answered");
    assert_eq!(call["recorded"], false);
    assert_eq!(call["streams"][0]["codec"], "BV32");
    assert_eq!(call["streams"][0]["packets"], 1201);
    let note = call["note"].as_str().unwrap_or_default();
    assert_eq!(note, "audio not recorded: codec BV32 cannot be decoded");
}

#[test]
fn srtp_with_sdes_keys_is_decrypted_and_recorded() {
    tests::require_audio_tools();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let srtp = tests::fixtures().join("srtp/srtp-record-info.pcap");
    import_ok(&data, Some("[policy]\ndefault = \"always\"\n"), &[&srtp]);
    let calls = calls_json(&data);
    let call = &calls[0];
    assert!(call["note"].is_null(), "{call:#}");
    let segment = &call["segments"][0];
    assert_eq!(segment["caller_packets"], 1201);
    assert_eq!(segment["callee_packets"], 1201);

    // The recording of the encrypted call holds the voices of the clear one.
    let original = capture("record-info-on-off.pcap");
    let reference = dir.path().join("reference");
    tests::voices::reference_decode(&original, &reference);
    let streams = call["streams"].as_array().unwrap();
    for (party, channel) in [("caller", 0), ("callee", 1)] {
        let stream = streams.iter().find(|s| s["direction"] == party).unwrap();
        let line = tests::voices::check_channel(
            &original,
            &reference,
            dir.path(),
            &data,
            segment,
            stream,
            channel,
        );
        println!("{line}");
    }
}

#[test]
fn srtp_with_the_wrong_key_is_noted_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    // The caller's SDES key, changed in one base64 character (same length).
    let mut pcap =
        tests::pcap_edit::Pcap::read(&tests::fixtures().join("srtp/srtp-record-info.pcap"));
    pcap.replace_in_frame(3, b"inline:AQIDBAUG", b"inline:BQIDBAUG");
    let path = dir.path().join("wrong-key.pcap");
    pcap.write(&path);
    let data = dir.path().join("data");
    import_ok(&data, Some("[policy]\ndefault = \"always\"\n"), &[&path]);
    let call = &calls_json(&data)[0];
    assert_eq!(
        call["note"],
        "SRTP packets failed authentication with the SDP's keys"
    );
    // The callee's direction still decrypts.
    assert_eq!(call["segments"][0]["caller_packets"], 0);
    assert_eq!(call["segments"][0]["callee_packets"], 1201);
}
