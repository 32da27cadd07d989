//! Crash safety: `recorder run` (live, in network namespaces, traffic replayed with
//! tcpreplay) and `recorder import` killed with SIGKILL part-way. After a restart the journal
//! opens, every call finished before the kill is intact with recordings whose SHA-256 matches
//! the journal, and the recording that was being written plays up to its last page and is
//! marked `incomplete`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tests::netns::{RunningRecorder, replay, replay_command, rig};
use tests::pcap_edit::Pcap;
use tests::{calls_json, capture, import, import_ok, recorder, require_tool};

const ALWAYS: &str = "[policy]\ndefault = \"always\"\n";

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read recording")))
}

/// Seconds of audio in an Ogg Opus file, checked by opusinfo and decoded by opusdec. An
/// interrupted recording has no end-of-stream flag; opusinfo warns about that (and exits 1)
/// but must find nothing else wrong.
fn playable_seconds(path: &Path) -> f64 {
    let info = Command::new("opusinfo")
        .arg(path)
        .output()
        .expect("opusinfo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&info.stdout),
        String::from_utf8_lossy(&info.stderr)
    );
    let complaints: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARNING") || l.contains("ERROR"))
        .filter(|l| !l.contains("EOS not set on stream 1"))
        .collect();
    assert!(
        text.contains("Opus stream 1:")
            && text.contains("Playback length")
            && complaints.is_empty(),
        "opusinfo refused {}: {text}",
        path.display()
    );
    let wav = path.with_extension("wav");
    let out = Command::new("opusdec")
        .args(["--quiet", "--rate", "48000"])
        .arg(path)
        .arg(&wav)
        .output()
        .expect("opusdec");
    assert!(
        out.status.success(),
        "opusdec refused {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // 48 kHz, 16-bit, stereo after the 44-byte header.
    let bytes = std::fs::metadata(&wav).unwrap().len().saturating_sub(44);
    std::fs::remove_file(&wav).unwrap();
    bytes as f64 / (48_000.0 * 4.0)
}

/// Checks every recording of `calls` against its file; returns (complete, incomplete) counts.
fn check_recordings(data: &Path, calls: &[Value]) -> (usize, usize) {
    let (mut complete, mut incomplete) = (0, 0);
    for call in calls {
        for segment in call["segments"].as_array().unwrap() {
            let status = segment["status"].as_str().unwrap();
            if !matches!(status, "complete" | "incomplete") {
                continue;
            }
            let file = data.join(segment["path"].as_str().unwrap());
            assert_eq!(
                segment["sha256"].as_str(),
                Some(sha256(&file).as_str()),
                "call {}: {} does not match the journal",
                call["id"],
                file.display()
            );
            if status == "complete" {
                complete += 1;
            } else {
                incomplete += 1;
            }
        }
    }
    (complete, incomplete)
}

fn verify(data: &Path) {
    let out = recorder(&["verify", "--data", data.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "recorder verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The parts of a call a replay and an import of the same traffic agree on.
fn summary(call: &Value) -> Value {
    let segments: Vec<Value> = call["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::json!([s["status"], s["caller_packets"], s["callee_packets"]]))
        .collect();
    serde_json::json!({
        "call_id": call["call_id"], "disposition": call["disposition"],
        "end_reason": call["end_reason"], "segments": segments,
    })
}

#[test]
fn a_live_run_killed_mid_call_keeps_finished_calls_and_the_recording_so_far() {
    require_tool("opusinfo", "opus-tools");
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("always.toml");
    std::fs::write(&config, ALWAYS).unwrap();
    let config = config.to_str().unwrap();

    // A call that finishes before the kill (a real capture with its Call-ID changed, replayed
    // 4x faster), then one being recorded when the recorder dies: 25 s of call, killed 10 s in.
    let source = capture("record-info-on-off.pcap");
    let finished_capture = dir.path().join("finished.pcap");
    Pcap::read(&source)
        .repeated(1, 0, "1-1025")
        .write(&finished_capture);
    let running = RunningRecorder::start(
        &rig.capture_ns,
        &data,
        &rig.capture_if,
        &["--config", config],
    );
    replay(&rig.sender_ns, &rig.sender_if, &finished_capture, "4");
    // Finished 5 s after its BYE (grace for late media), then committed within 0.5 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while running.fresh_status()["calls_finished"].as_u64() < Some(1) {
        assert!(
            Instant::now() < deadline,
            "call not finished: {}",
            running.log()
        );
    }
    std::thread::sleep(Duration::from_secs(1));

    let mut replay = replay_command(&rig.sender_ns, &rig.sender_if, &source, "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpreplay");
    std::thread::sleep(Duration::from_secs(10));
    let log = running.kill9();
    let _ = replay.kill();
    let _ = replay.wait();

    // The restart recovers the journal; then it stops cleanly. (The killed run's status file
    // goes first: the restart is ready when it writes its own.)
    std::fs::remove_file(data.join("status.json")).unwrap();
    let restarted = RunningRecorder::start(
        &rig.capture_ns,
        &data,
        &rig.capture_if,
        &["--config", config],
    );
    let restart_log = restarted.stop();
    assert!(
        restart_log.contains("marked incomplete"),
        "no recovery logged: {restart_log}\nbefore the kill: {log}"
    );

    let calls = calls_json(&data);
    let baseline_dir = dir.path().join("baseline");
    import_ok(&baseline_dir, Some(ALWAYS), &[&finished_capture]);
    let baseline = calls_json(&baseline_dir);
    assert_eq!(baseline.len(), 1);
    for expected in &baseline {
        let got = calls
            .iter()
            .find(|c| c["call_id"] == expected["call_id"])
            .unwrap_or_else(|| panic!("call {} lost", expected["call_id"]));
        let mut want = summary(expected);
        // The import ends its calls at the end of the file, the live run by their own end.
        if want["end_reason"] == "capture_end" {
            want["end_reason"] = summary(got)["end_reason"].clone();
        }
        assert_eq!(
            summary(got),
            want,
            "a call finished before the kill changed"
        );
    }

    let killed = calls
        .iter()
        .find(|c| c["call_id"] == "1-1025@10.77.0.1")
        .expect("the call in progress is in the journal");
    assert_eq!(killed["end_reason"], "capture_stopped");
    assert!(
        killed["note"]
            .as_str()
            .unwrap_or("")
            .contains("interrupted by a crash"),
        "{killed}"
    );
    let segment = &killed["segments"][0];
    assert_eq!(segment["status"], "incomplete", "{killed}");
    let seconds = playable_seconds(&data.join(segment["path"].as_str().unwrap()));
    // Killed 10 s into the replay (the call answers after 1 s); pages close every second.
    assert!(
        (6.0..=10.5).contains(&seconds),
        "the interrupted recording plays {seconds:.1}s"
    );
    let (complete, incomplete) = check_recordings(&data, &calls);
    assert_eq!((complete, incomplete), (1, 1));
    verify(&data);
    println!(
        "kill -9 during a live run: {} finished call(s) intact, {complete} complete recording(s) \
         match; the interrupted one plays {seconds:.1}s and is marked incomplete",
        baseline.len()
    );
}

#[test]
fn an_import_killed_part_way_keeps_every_finished_call_byte_for_byte() {
    require_tool("opusinfo", "opus-tools");
    let dir = tempfile::tempdir().unwrap();
    let source = capture("record-info-on-off.pcap");

    // 60 calls in a row (the capture repeated with a new Call-ID each time), and what a clean
    // import of them gives: recordings are deterministic, so a finished call must match its
    // clean twin byte for byte.
    let many = dir.path().join("sixty-calls.pcap");
    Pcap::read(&source).repeated(60, 30, "1-1025").write(&many);
    let baseline_dir = dir.path().join("baseline");
    import_ok(&baseline_dir, Some(ALWAYS), &[&many]);
    let baseline = calls_json(&baseline_dir);
    assert_eq!(baseline.len(), 60);
    let final_size =
        std::fs::metadata(baseline_dir.join(baseline[0]["segments"][0]["path"].as_str().unwrap()))
            .unwrap()
            .len();

    // Killed while a recording is being written: once some files exist and the newest has
    // audio but is not finished.
    let mut kills = 0;
    let mut checked_calls = 0;
    let mut interrupted_seconds = Vec::new();
    for attempt in 0..5 {
        let data = dir.path().join(format!("data{attempt}"));
        let config = dir.path().join("always.toml");
        std::fs::write(&config, ALWAYS).unwrap();
        let mut child = Command::new(tests::recorder_bin())
            .args(["import", "--data"])
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .arg(&many)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let target = 3 + attempt;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let files = opus_files(&data);
            let newest = files
                .last()
                .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()));
            if files.len() >= target && newest.is_some_and(|n| n > 8_000 && n < final_size - 8_000)
            {
                break;
            }
            assert!(Instant::now() < deadline, "import too slow to catch");
            if child.try_wait().unwrap().is_some() {
                panic!("the import finished before it could be killed");
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;

        // The restart: an import of nothing new (the file is known) opens and recovers it.
        let out = import(&data, Some(ALWAYS), &[&many]);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("partly imported (interrupted)"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let calls = calls_json(&data);
        let (complete, incomplete) = check_recordings(&data, &calls);
        for call in &calls {
            let segment = &call["segments"][0];
            if segment["status"] == "complete" {
                let twin = baseline
                    .iter()
                    .find(|b| b["call_id"] == call["call_id"])
                    .expect("the same call in the clean import");
                assert_eq!(
                    segment["sha256"], twin["segments"][0]["sha256"],
                    "a finished call's recording differs from the clean import"
                );
                assert_eq!(summary(call), summary(twin));
            } else {
                assert_eq!(call["end_reason"], "capture_stopped", "{call}");
                assert_eq!(segment["status"], "incomplete", "{call}");
                let file = data.join(segment["path"].as_str().unwrap());
                let seconds = playable_seconds(&file);
                // It plays what it holds: about 4 KB a second at 32 kbit/s, after 1 KB of
                // headers, minus at most the page the kill cut.
                let held = (std::fs::metadata(&file).unwrap().len() as f64 - 1000.0) / 4000.0;
                assert!(
                    seconds > 0.0 && seconds >= held * 0.8 - 1.0,
                    "the interrupted recording plays {seconds}s of about {held:.1}s written"
                );
                interrupted_seconds.push(seconds);
            }
        }
        assert!(complete >= target - 1, "{complete} finished calls");
        assert!(incomplete <= 1);
        checked_calls += complete;
        verify(&data);
        if incomplete == 1 {
            break;
        }
    }
    assert!(
        !interrupted_seconds.is_empty(),
        "no kill landed inside a recording in {kills} tries"
    );
    println!(
        "kill -9 during an import: {kills} kill(s), {checked_calls} finished call(s) identical \
         to a clean import; the interrupted recording plays {:.1}s and is marked incomplete",
        interrupted_seconds[0]
    );
}

/// The recordings under a data folder, oldest first (by segment id).
fn opus_files(data: &Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "opus") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&data.join("recordings"), &mut files);
    files.sort_by_key(|p| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    });
    files
}
