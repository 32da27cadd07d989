//! Live capture with `recorder run` on veth pairs in network namespaces the tests create (as
//! root): replayed real captures give the same journal as an import, the kernel filter passes
//! only SIP and announced media, a burst is counted as capture loss without harming the calls
//! after it, and real SIPp calls seen through a simulated SPAN port are recorded with each
//! party's voice on its own channel.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tests::netns::{Netns, RunningRecorder, replay, require_root, rig, sh, veth};
use tests::pcap_edit::Pcap;
use tests::voices::{check_channel, reference_decode};
use tests::{calls_json, capture, import_ok, require_tool};

const MAY_RECORD: &str = "[[users]]\nextension = \"1001\"\nmay_record = true\n";

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("recorder.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The parts of a call that an import and a live capture of the same traffic must agree on.
/// (Segment lengths are compared apart: replay timing is not exact.)
fn summary(call: &Value) -> Value {
    let end = match call["end_reason"].as_str() {
        Some("capture_end" | "capture_stopped") => "capture end".to_string(),
        other => other.unwrap_or("none").to_string(),
    };
    let segments = tests::segment_counts(call);
    let mut streams: Vec<String> = call["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {} {} {}", s["src"], s["dst"], s["ssrc"], s["packets"]))
        .collect();
    streams.sort();
    serde_json::json!({
        "call_id": call["call_id"], "disposition": call["disposition"], "end": end,
        "segments": segments, "streams": streams,
    })
}

fn by_call_id(calls: &[Value]) -> HashMap<String, Value> {
    calls
        .iter()
        .map(|c| (c["call_id"].as_str().unwrap().to_string(), summary(c)))
        .collect()
}

/// Segment lengths by call and segment order.
fn lengths(calls: &[Value]) -> HashMap<String, Vec<f64>> {
    calls
        .iter()
        .map(|c| {
            let lengths = c["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["duration_s"].as_f64().unwrap())
                .collect();
            (c["call_id"].as_str().unwrap().to_string(), lengths)
        })
        .collect()
}

#[test]
fn replayed_captures_give_the_same_journal_as_an_import() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("[policy]\ndefault = \"on-demand\"\n{MAY_RECORD}"),
    );
    let always = write_config(
        &dir.path().join("x").tap_mkdir(),
        "[policy]\ndefault = \"always\"\n",
    );

    // (capture, replay speed, config, compare segment lengths)
    let cases = [
        ("record-info-on-off.pcap", "1", config.as_str(), true),
        (
            "g711u-b2bua-call-register-rtcp.pcap",
            "4",
            always.as_str(),
            false,
        ),
        ("g711a-call-register-rtcp.pcap", "4", always.as_str(), false),
    ];
    for (name, speed, config, durations) in cases {
        let live = dir.path().join(format!("live-{name}"));
        let recorder = RunningRecorder::start(
            &rig.capture_ns,
            &live,
            &rig.capture_if,
            &["--config", config],
        );
        replay(&rig.sender_ns, &rig.sender_if, &capture(name), speed);
        std::thread::sleep(Duration::from_millis(500));
        let log = recorder.stop();

        let imported = dir.path().join(format!("import-{name}"));
        let toml = std::fs::read_to_string(config).unwrap();
        import_ok(&imported, Some(&toml), &[&capture(name)]);

        let live_calls = calls_json(&live);
        let import_calls = calls_json(&imported);
        assert_eq!(
            by_call_id(&live_calls),
            by_call_id(&import_calls),
            "{name}: live journal differs from the import; log:\n{log}"
        );
        if durations {
            // tcpreplay keeps the recorded timing to within a few hundred milliseconds over
            // a 25 s capture on a busy machine.
            let (live_lengths, import_lengths) = (lengths(&live_calls), lengths(&import_calls));
            for (call, expected) in &import_lengths {
                for (got, want) in live_lengths[call].iter().zip(expected) {
                    assert!(
                        (got - want).abs() <= 0.5,
                        "{name}: segment of {got}s, import {want}s"
                    );
                }
            }
        }
        for call in &live_calls {
            assert_eq!(
                call["capture_lost"], 0,
                "{name}: capture loss at replay speed {speed}"
            );
        }
        assert!(
            log.contains("eBPF capture attached"),
            "{name}: not eBPF: {log}"
        );
    }
}

/// A pcap of traffic no call wants: UDP to many ports and TCP bulk data.
fn unrelated_traffic(path: &Path) {
    let frames = (0..3000u16).map(|i| {
        let builder = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6]).ipv4(
            [10, 99, 0, 1],
            [10, 99, 0, 2],
            64,
        );
        let mut frame = Vec::new();
        if i % 2 == 0 {
            builder
                .udp(40_000, 20_000 + i % 9000)
                .write(&mut frame, &[0x80; 172])
                .unwrap();
        } else {
            let tcp = builder.tcp(50_000, 443, u32::from(i) * 1000, 64_000);
            tcp.write(&mut frame, &[0x55; 1000]).unwrap();
        }
        frame
    });
    Pcap::ethernet(frames).write(path);
}

#[test]
fn the_kernel_filter_passes_only_sip_and_announced_media() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), MAY_RECORD);
    let recorder = RunningRecorder::start(
        &rig.capture_ns,
        &data,
        &rig.capture_if,
        &["--config", &config],
    );
    let before = recorder.fresh_status();

    // Unrelated traffic: seen by the kernel program, none of it delivered.
    let noise = dir.path().join("noise.pcap");
    unrelated_traffic(&noise);
    replay(&rig.sender_ns, &rig.sender_if, &noise, "top");
    let after_noise = recorder.fresh_status();
    let seen =
        after_noise["frames_seen"].as_u64().unwrap() - before["frames_seen"].as_u64().unwrap();
    let delivered = after_noise["frames_delivered"].as_u64().unwrap()
        - before["frames_delivered"].as_u64().unwrap();
    assert!(seen >= 3000, "the program saw {seen} frames");
    assert_eq!(delivered, 0, "unrelated frames reached userspace");

    // The call's RTP without its SIP: no SDP announced it, so it stays in the kernel.
    let mut rtp_only = Pcap::read(&capture("record-info-on-off.pcap"));
    rtp_only.retain(|_, r| !r.data.windows(7).any(|w| w == b"SIP/2.0"));
    let rtp_path = dir.path().join("rtp-only.pcap");
    rtp_only.write(&rtp_path);
    replay(&rig.sender_ns, &rig.sender_if, &rtp_path, "10");
    let after_rtp = recorder.fresh_status();
    let delivered = after_rtp["frames_delivered"].as_u64().unwrap()
        - after_noise["frames_delivered"].as_u64().unwrap();
    assert_eq!(delivered, 0, "RTP of no announced call reached userspace");

    // The whole call: SIP, and the RTP from the moment its SDP was seen.
    replay(
        &rig.sender_ns,
        &rig.sender_if,
        &capture("record-info-on-off.pcap"),
        "10",
    );
    let after_call = recorder.fresh_status();
    let delivered = after_call["frames_delivered"].as_u64().unwrap()
        - after_rtp["frames_delivered"].as_u64().unwrap();
    assert_eq!(
        delivered,
        13 + 2402,
        "13 SIP messages and 2 x 1201 RTP packets"
    );
    recorder.stop();

    let calls = calls_json(&data);
    assert_eq!(calls.len(), 1);
    for stream in calls[0]["streams"].as_array().unwrap() {
        assert_eq!(stream["packets"], 1201);
    }
}

/// A burst of SIP OPTIONS (each copied to userspace) of `count` frames.
fn sip_burst(path: &Path, count: u32) {
    let frames = (0..count).map(|i| {
        let text = format!(
            "OPTIONS sip:probe@10.98.0.2 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.98.0.1;branch=z9hG4bK{i}\r\n\
             From: <sip:flood@10.98.0.1>;tag={i}\r\nTo: <sip:probe@10.98.0.2>\r\n\
             Call-ID: burst-{i}\r\n\
             CSeq: 1 OPTIONS\r\nX-Padding: {}\r\nContent-Length: 0\r\n\r\n",
            "x".repeat(400)
        );
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 98, 0, 1], [10, 98, 0, 2], 64)
            .udp(5060, 5060)
            .write(&mut frame, text.as_bytes())
            .unwrap();
        frame
    });
    Pcap::ethernet(frames).write(path);
}

#[test]
fn a_burst_is_counted_as_capture_loss_and_later_calls_are_whole() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), MAY_RECORD);
    // The smallest ring buffer, and a consumer that cannot drain while the burst arrives
    // (stopped with SIGSTOP): faster than userspace drains, by construction.
    let recorder = RunningRecorder::start(
        &rig.capture_ns,
        &data,
        &rig.capture_if,
        &["--config", &config, "--ring-mib", "1"],
    );
    let burst = dir.path().join("burst.pcap");
    sip_burst(&burst, 20_000);
    sh(&["kill", "-STOP", &recorder.pid().to_string()]);
    replay(&rig.sender_ns, &rig.sender_if, &burst, "top");
    sh(&["kill", "-CONT", &recorder.pid().to_string()]);
    let status = recorder.fresh_status();
    let lost = status["capture_lost"].as_u64().unwrap();
    assert!(
        lost > 10_000,
        "a 1 MiB ring holds at most ~500 of these frames; lost {lost}"
    );

    // The recorder keeps running, and a call after the burst is whole.
    replay(
        &rig.sender_ns,
        &rig.sender_if,
        &capture("record-info-on-off.pcap"),
        "5",
    );
    std::thread::sleep(Duration::from_millis(500));
    let log = recorder.stop();
    assert!(
        log.contains("capture loss: frames dropped before userspace"),
        "{log}"
    );

    let calls = calls_json(&data);
    let call = calls
        .iter()
        .find(|c| c["call_id"] == "1-1025@10.77.0.1")
        .expect("the call");
    assert_eq!(call["capture_lost"], 0);
    for stream in call["streams"].as_array().unwrap() {
        assert_eq!(stream["packets"], 1201, "{stream}");
    }
    let segments = call["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2);
    for s in segments {
        assert!(
            (349..=351).contains(&s["caller_packets"].as_i64().unwrap()),
            "{s}"
        );
    }
}

#[test]
fn sipp_calls_seen_on_a_span_port_are_recorded_per_party() {
    require_root();
    for (tool, package) in [
        ("sipp", "sip-tester"),
        ("espeak-ng", "espeak-ng"),
        ("sox", "sox"),
        ("tcpdump", "tcpdump"),
        ("tshark", "tshark"),
        ("opusdec", "opus-tools"),
    ] {
        require_tool(tool, package);
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario = tests::fixtures().join("captures/sipp-scenario");
    // The speech clips the scenarios play (espeak-ng -> sox -> RTP pcaps).
    let status = Command::new(scenario.join("make_rtp_audio.sh"))
        .arg(dir.path().join("audio"))
        .output()
        .expect("make_rtp_audio.sh");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    // caller <-> callee on one link; both directions of the caller's end mirrored (tc
    // mirred) onto a second link whose far end is the recorder's mirror port. (A u32 filter
    // matching everything: this kernel has no matchall classifier.)
    let caller = Netns::new("sa");
    let callee = Netns::new("sb");
    let probe = Netns::new("sm");
    let (ca, cb) = veth(&caller, &callee);
    let (mirror_out, mirror_in) = veth(&caller, &probe);
    caller.run(&["ip", "addr", "add", "10.77.0.1/24", "dev", &ca]);
    callee.run(&["ip", "addr", "add", "10.77.0.2/24", "dev", &cb]);
    caller.run(&["tc", "qdisc", "add", "dev", &ca, "clsact"]);
    for direction in ["ingress", "egress"] {
        caller.run(&[
            "tc",
            "filter",
            "add",
            "dev",
            &ca,
            direction,
            "protocol",
            "all",
            "u32",
            "match",
            "u32",
            "0",
            "0",
            "action",
            "mirred",
            "egress",
            "mirror",
            "dev",
            &mirror_out,
        ]);
    }

    let data = dir.path().join("data");
    let config = write_config(dir.path(), MAY_RECORD);
    let recorder = RunningRecorder::start(
        &probe,
        &data,
        &mirror_in,
        &["--config", &config, "--mirror-only"],
    );
    // A reference capture of the call's link itself, for Wireshark's decode (the mirror port
    // cannot serve: with --mirror-only, XDP drops its frames before any packet socket).
    let reference_pcap = dir.path().join("reference.pcap");
    let mut tcpdump = caller
        .command("tcpdump")
        .args([
            "-i",
            &ca,
            "-s",
            "0",
            "-U",
            "-w",
            reference_pcap.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tcpdump");
    std::thread::sleep(Duration::from_secs(1));

    let uas = callee
        .command("sipp")
        .current_dir(dir.path())
        .args([
            "-sf",
            scenario
                .join("record-info-on-off.uas.xml")
                .to_str()
                .unwrap(),
        ])
        .args([
            "-i",
            "10.77.0.2",
            "-p",
            "5060",
            "-mi",
            "10.77.0.2",
            "-mp",
            "7000",
            "-m",
            "1",
            "-nostdin",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("sipp uas");
    std::thread::sleep(Duration::from_secs(1));
    let uac = caller
        .command("timeout")
        .current_dir(dir.path())
        .args(["90", "sipp", "10.77.0.2:5060"])
        .args([
            "-sf",
            scenario
                .join("record-info-on-off.uac.xml")
                .to_str()
                .unwrap(),
        ])
        .args([
            "-i",
            "10.77.0.1",
            "-p",
            "5060",
            "-mi",
            "10.77.0.1",
            "-mp",
            "6000",
            "-m",
            "1",
            "-nostdin",
        ])
        .output()
        .expect("sipp uac");
    let mut uas = uas;
    let _ = uas.wait();
    std::thread::sleep(Duration::from_secs(1));
    sh(&["kill", "-INT", &tcpdump.id().to_string()]);
    let _ = tcpdump.wait();
    let log = recorder.stop();
    assert!(
        uac.status.success(),
        "sipp uac failed: {}",
        String::from_utf8_lossy(&uac.stdout)
    );

    let calls = calls_json(&data);
    assert_eq!(calls.len(), 1, "{calls:#?}\n{log}");
    let call = &calls[0];
    assert_eq!(call["disposition"], "answered");
    assert_eq!(call["end_reason"], "bye");
    assert_eq!(call["capture_lost"], 0);
    let segments = call["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{call:#}");

    let reference_dir = dir.path().join("reference");
    reference_decode(&reference_pcap, &reference_dir);
    let stream = |party: &str| {
        call["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["direction"] == party)
            .unwrap()
            .clone()
    };
    let mut checked = Vec::new();
    for segment in segments {
        let duration = segment["duration_s"].as_f64().unwrap();
        assert!((duration - 7.0).abs() < 0.3, "{segment}");
        for (party, channel) in [("caller", 0), ("callee", 1)] {
            checked.push(check_channel(
                &reference_pcap,
                &reference_dir,
                dir.path(),
                &data,
                segment,
                &stream(party),
                channel,
            ));
        }
    }
    println!("{}", checked.join("\n"));
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn calls_and_export_work_while_run_owns_the_journal() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), MAY_RECORD);
    tests::web::add_user(&data, "ana", "admin", None);
    let recorder = RunningRecorder::start(
        &rig.capture_ns,
        &data,
        &rig.capture_if,
        &["--config", &config, "--listen", "127.0.0.1:0"],
    );
    replay(
        &rig.sender_ns,
        &rig.sender_if,
        &capture("record-info-on-off.pcap"),
        "5",
    );
    let web = loop {
        let status = recorder.fresh_status();
        if status["calls_finished"] == 1 {
            break status["web"]
                .as_str()
                .expect("web address in status")
                .to_string();
        }
    };

    // The journal file is locked by `run`; the command line goes through its API (from
    // inside the namespace, where it listens on loopback).
    let recorder_bin = tests::recorder_bin();
    let calls = rig
        .capture_ns
        .command(recorder_bin.to_str().unwrap())
        .args(["calls", "--url", &web, "--user", "ana", "--json"])
        .env("RECORDER_PASSWORD", tests::web::PASSWORD)
        .output()
        .unwrap();
    assert!(
        calls.status.success(),
        "{}",
        String::from_utf8_lossy(&calls.stderr)
    );
    let calls: Vec<Value> = serde_json::from_slice(&calls.stdout).unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["segments"].as_array().unwrap().len(), 2);

    let out = dir.path().join("export");
    let export = rig
        .capture_ns
        .command(recorder_bin.to_str().unwrap())
        .args([
            "export",
            "--url",
            &web,
            "--user",
            "ana",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("RECORDER_PASSWORD", tests::web::PASSWORD)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let (ok, report) = tests::check_sums(&out);
    assert!(ok, "{report}");

    // Verification too: the running recorder checks its own chain and files.
    let verify = rig
        .capture_ns
        .command(recorder_bin.to_str().unwrap())
        .args(["verify", "--url", &web, "--user", "ana"])
        .env("RECORDER_PASSWORD", tests::web::PASSWORD)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && report.contains("2 of 2 match the journal; 0 problem(s)"),
        "{report}{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Opening the journal file directly is refused, with the way out in the message.
    let direct = tests::recorder(&["calls", "--data", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&direct.stderr).contains("--url"));
    recorder.stop();
}
