//! A full recordings disk during a live run: `recorder run` in a network namespace, the
//! recordings folder a small tmpfs filled up by a filler file the test deletes mid-call.
//! Capture and the journal go on, the call is marked, one warning is logged, and recording
//! resumes in a new segment when space returns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::netns::{RunningRecorder, replay_command, rig, sh};
use tests::{calls_json, capture, recorder};

/// A tmpfs mounted on a folder, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        sh(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "recorder-test",
            dir.to_str().unwrap(),
        ]);
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .output();
    }
}

/// Fills the file system of `dir` with one file, leaving about `leave` bytes free.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    let mut written = 0u64;
    while file.write_all(&block).is_ok() {
        written += 4096;
    }
    file.set_len(written.saturating_sub(leave)).unwrap();
    path
}

#[test]
fn a_full_recordings_disk_pauses_recording_and_it_resumes_when_space_returns() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _tmpfs = Tmpfs::mount(&data.join("recordings"), "1m");
    let filler = fill(&data.join("recordings"), 24 * 1024);
    let config = dir.path().join("always.toml");
    std::fs::write(&config, "[policy]\ndefault = \"always\"\n").unwrap();

    let running = RunningRecorder::start(
        &rig.capture_ns,
        &data,
        &rig.capture_if,
        &["--config", config.to_str().unwrap()],
    );
    // A 25 s call at its own pace; the disk fills a few seconds in, space returns at 12 s.
    let mut replay = replay_command(
        &rig.sender_ns,
        &rig.sender_if,
        &capture("record-info-on-off.pcap"),
        "1",
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("tcpreplay");
    std::thread::sleep(Duration::from_secs(12));
    assert!(
        running.log().contains("recordings disk full"),
        "the disk did not fill: {}",
        running.log()
    );
    std::fs::remove_file(&filler).unwrap();
    assert!(replay.wait().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while running.fresh_status()["calls_finished"].as_u64() < Some(1) {
        assert!(
            Instant::now() < deadline,
            "call not finished: {}",
            running.log()
        );
    }
    let log = running.stop();

    assert_eq!(
        log.matches("recordings disk full").count(),
        1,
        "the warning is logged once: {log}"
    );
    assert!(log.contains("recording resumed"), "{log}");
    let calls = calls_json(&data);
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    // Capture went on: every RTP packet of both parties was seen and journaled.
    for stream in call["streams"].as_array().unwrap() {
        assert_eq!(stream["packets"], 1201, "{stream}");
    }
    let segments = call["segments"].as_array().unwrap();
    let statuses: Vec<&str> = segments
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["incomplete", "complete"], "{call}");
    let note = call["note"].as_str().unwrap_or_default();
    assert!(note.contains("recordings disk full"), "{note}");
    assert!(note.contains("resumed in"), "{note}");
    let cut = segments[0]["duration_s"].as_f64().unwrap();
    let resumed = segments[1]["duration_s"].as_f64().unwrap();
    assert!((1.0..12.0).contains(&cut), "first segment {cut}s");
    // Resumed within a few seconds of the filler going (at 12 s of a 25 s call).
    assert!(
        (8.0..=14.0).contains(&resumed),
        "resumed segment {resumed}s"
    );
    let out = recorder(&["verify", "--data", data.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    println!(
        "full disk: recording cut at {cut:.1}s (kept, incomplete), resumed for {resumed:.1}s \
         when space returned; 2402 of 2402 RTP packets journaled; one warning"
    );
}
