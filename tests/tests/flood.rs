//! Floods: INVITEs nobody answers, RTP to random ports, SIP messages with 10,000 headers, and
//! SIP over TCP with a 64 KiB Content-Length lie, each merged into a real recorded call and
//! imported. Memory stays bounded (peak RSS measured with GNU time), every table that filled
//! up says so, and the real call is recorded whole: its recording is byte for byte the one a
//! clean import gives.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tests::flood::{self, Window};
use tests::pcap_edit::{Pcap, Record};
use tests::{calls_json, capture, recorder_bin, require_tool};

const ALWAYS: &str = "[policy]\ndefault = \"always\"\n";
const REAL_CALL: &str = "1-1025@10.77.0.1";

/// Imports a capture under GNU time with `config`; returns (peak RSS in MiB, seconds,
/// stderr).
fn import_measured(data: &Path, capture: &Path, config_text: &str) -> (f64, f64, String) {
    let config = data.with_extension("toml");
    std::fs::write(&config, config_text).unwrap();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak_rss_kib=%M seconds=%e"])
        .arg(recorder_bin())
        .args(["import", "--data"])
        .arg(data)
        .arg("--config")
        .arg(&config)
        .arg(capture)
        .output()
        .expect("/usr/bin/time recorder import");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "import failed: {stderr}");
    let field = |name: &str| -> f64 {
        stderr
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {stderr}"))
    };
    (field("peak_rss_kib=") / 1024.0, field("seconds="), stderr)
}

fn real_call(calls: &[Value]) -> &Value {
    calls
        .iter()
        .find(|c| c["call_id"] == REAL_CALL)
        .expect("the real call is in the journal")
}

struct Baseline {
    call: Value,
    rss_mib: f64,
}

fn baseline(dir: &Path) -> Baseline {
    let data = dir.join("baseline");
    let (rss_mib, _, _) = import_measured(&data, &capture("record-info-on-off.pcap"), ALWAYS);
    let calls = calls_json(&data);
    Baseline {
        call: real_call(&calls).clone(),
        rss_mib,
    }
}

/// Imports the real call with `flood` merged in; checks the real call is recorded whole and
/// peak memory stays under `limit_mib`; returns the import's stderr.
fn flood_case(
    dir: &Path,
    name: &str,
    limits: &str,
    base: &Baseline,
    flood: impl FnOnce(Window) -> Vec<Record>,
    headroom_mib: f64,
) -> String {
    let limit_mib = base.rss_mib + headroom_mib;
    let real = Pcap::read(&capture("record-info-on-off.pcap"));
    let records = flood(Window::of(&real));
    let packets = records.len();
    let bytes: usize = records.iter().map(|r| r.data.len()).sum();
    let path = dir.join(format!("{name}.pcap"));
    flood::merged(&real, records).write(&path);
    let data = dir.join(name);
    let (rss, seconds, stderr) = import_measured(&data, &path, &format!("{ALWAYS}{limits}"));
    std::fs::remove_file(&path).unwrap();

    let calls = calls_json(&data);
    let call = real_call(&calls);
    let (got, want) = (&call["segments"], &base.call["segments"]);
    assert_eq!(got.as_array().unwrap().len(), 1, "{name}: {call}");
    for key in [
        "status",
        "caller_packets",
        "callee_packets",
        "sha256",
        "duration_s",
    ] {
        assert_eq!(
            got[0][key], want[0][key],
            "{name}: the real call's recording differs ({key})"
        );
    }
    assert_eq!(
        call["streams"], base.call["streams"],
        "{name}: streams differ"
    );
    println!(
        "flood {name}: {packets} packets ({:.0} MiB) in {seconds:.1}s; peak RSS {rss:.0} MiB \
         (limit {limit_mib:.0}, the call alone {:.0}); the real call recorded whole",
        bytes as f64 / 1048576.0,
        base.rss_mib
    );
    for line in stderr
        .lines()
        .filter(|l| l.starts_with("limits:") || l.starts_with("skipped:"))
    {
        println!("  {line}");
    }
    assert!(
        rss < limit_mib,
        "{name}: peak RSS {rss:.0} MiB over {limit_mib} MiB"
    );
    stderr
}

/// The count in a summary line of the import, e.g. `evicted(&err, "calls")` in `limits: 4
/// calls, ...`.
fn count_before(stderr: &str, line_start: &str, what: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no `{line_start}` line in {stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.trim_end_matches(',') == what)
        .unwrap_or_else(|| panic!("no {what} in {line}"));
    words[at - 1].trim_start_matches('(').parse().unwrap()
}

#[test]
fn floods_keep_memory_bounded_and_the_real_call_whole() {
    require_tool("/usr/bin/time", "time");
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let base = baseline(dir);

    // INVITEs nobody answers, ten times the call table (kept small: each call is journaled,
    // and a large flood would take minutes); the answered real call is never the one evicted.
    // All 10,000 kept would take about 60 MiB more.
    let err = flood_case(
        dir,
        "invites",
        "[limits]\ncalls = 1000\n",
        &base,
        |w| flood::invite_flood(w, 10_000),
        40.0,
    );
    assert!(count_before(&err, "limits:", "calls") >= 9000, "{err}");

    // RTP at random ports: each packet a new unsignalled stream (table of 4096).
    let err = flood_case(
        dir,
        "rtp",
        "",
        &base,
        |w| flood::rtp_random_ports(w, 200_000),
        30.0,
    );
    assert!(
        count_before(&err, "limits:", "unsignalled") > 190_000,
        "{err}"
    );

    // 10,000 headers in one datagram: refused by the parser (256 headers at most).
    let err = flood_case(
        dir,
        "headers",
        "",
        &base,
        |w| flood::header_bomb(w, 2000, 10_000),
        30.0,
    );
    assert_eq!(count_before(&err, "skipped:", "unparsable"), 2000, "{err}");

    // Content-Length: 65536 and 40 KB that never complete it, on 3000 connections (120 MB);
    // the TCP buffers may hold 32 MiB.
    let err = flood_case(
        dir,
        "length-lie",
        "",
        &base,
        |w| flood::content_length_lie(w, 3000, 40_000),
        80.0,
    );
    assert!(count_before(&err, "limits:", "TCP") > 1000, "{err}");
}
