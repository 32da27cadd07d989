//! Compliance features end to end: legal holds, retention (`recorder retention`, and
//! `recorder run` applying `[retention] days` on its own), the audit rows they leave, and
//! `recorder verify` catching altered, missing and unknown recording files.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::netns::{Netns, RunningRecorder, require_root};
use tests::web::{Client, Server, add_user};
use tests::{calls_json, capture, import_ok, recorder};

const ALWAYS: &str = "[policy]\ndefault = \"always\"\n";

fn run(args: &[&str]) -> (bool, String, String) {
    let out = recorder(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A journal with calls from 2005 (two, one recorded) and one from 2026.
fn journal(dir: &Path) -> (std::path::PathBuf, Vec<Value>) {
    let data = dir.join("data");
    import_ok(
        &data,
        Some(ALWAYS),
        &[
            &capture("g711a-call-register-rtcp.pcap"),
            &capture("record-info-on-off.pcap"),
        ],
    );
    let calls = calls_json(&data);
    assert_eq!(calls.len(), 3, "the fixtures changed");
    (data, calls)
}

fn started_year(call: &Value) -> &str {
    &call["started_at"].as_str().unwrap()[..4]
}

#[test]
fn retention_deletes_old_calls_except_legal_holds_and_audits_each_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let (data, calls) = journal(dir.path());
    let d = data.to_str().unwrap();
    let old: Vec<&Value> = calls.iter().filter(|c| started_year(c) == "2005").collect();
    let held = old
        .iter()
        .find(|c| c["recorded"] == true)
        .expect("an old recorded call");
    let held_id = held["id"].to_string();
    let held_file = data.join(held["segments"][0]["path"].as_str().unwrap());
    let other = old.iter().find(|c| c["id"] != held["id"]).unwrap();

    let (ok, _, err) = run(&[
        "hold",
        "add",
        &held_id,
        "--reason",
        "case 2026-17",
        "--data",
        d,
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["hold", "add", &held_id, "--reason", "again", "--data", d]);
    assert!(!ok && err.contains("under legal hold already"), "{err}");
    let (ok, _, err) = run(&["hold", "add", "999", "--reason", "x", "--data", d]);
    assert!(!ok && err.contains("no call 999"), "{err}");
    let (_, list, _) = run(&["hold", "list", "--data", d]);
    assert!(
        list.starts_with(&format!("{held_id}\t")) && list.contains("case 2026-17"),
        "{list}"
    );
    let shown = calls_json(&data);
    let shown = shown.iter().find(|c| c["id"] == held["id"]).unwrap();
    assert_eq!(shown["hold"]["reason"], "case 2026-17");

    // Without a period configured or given, retention refuses to guess.
    let (ok, _, err) = run(&["retention", "--data", d]);
    assert!(!ok && err.contains("no retention period"), "{err}");

    let (ok, out, _) = run(&["retention", "--data", d, "--days", "30", "--dry-run"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("would delete call {}", other["id"])),
        "{out}"
    );
    assert!(out.contains("1 call(s) kept under legal hold"), "{out}");
    assert_eq!(calls_json(&data).len(), 3, "a dry run deleted");

    let config = dir.path().join("retention.toml");
    std::fs::write(&config, "[retention]\ndays = 30\n").unwrap();
    let (ok, out, _) = run(&[
        "retention",
        "--data",
        d,
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let left: Vec<i64> = calls_json(&data)
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert!(
        left.contains(&held["id"].as_i64().unwrap()),
        "the held call went"
    );
    assert!(
        !left.contains(&other["id"].as_i64().unwrap()),
        "the old call stayed"
    );
    assert_eq!(left.len(), 2);
    assert!(held_file.exists());

    // Lifted, the hold no longer protects it; its recording goes with it.
    let (ok, _, err) = run(&[
        "hold",
        "remove",
        &held_id,
        "--reason",
        "case closed",
        "--data",
        d,
    ]);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["retention", "--data", d, "--days", "30"]);
    assert!(
        ok && out.contains("deleted 1 call(s), 1 recording(s)"),
        "{out}"
    );
    assert!(!held_file.exists());
    let (ok, out, _) = run(&["verify", "--data", d]);
    assert!(ok, "{out}");

    // Every hold change and deletion is in the audit log, in order, chained.
    add_user(&data, "root", "admin", None);
    let server = Server::start(&data);
    let root = Client::logged_in(&server.url, "root");
    let audit = root.get("/api/v1/audit?limit=100").json();
    let actions: Vec<(String, Value)> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|e| e["action"] != "login" && e["action"] != "user_added")
        .map(|e| (e["action"].as_str().unwrap().to_string(), e["call"].clone()))
        .collect();
    assert_eq!(
        actions,
        [
            ("hold_added".to_string(), held["id"].clone()),
            ("retention_delete".to_string(), other["id"].clone()),
            ("hold_removed".to_string(), held["id"].clone()),
            ("retention_delete".to_string(), held["id"].clone()),
        ]
    );
    println!("retention: 2 old calls deleted and audited, one only after its legal hold ended");
}

#[test]
fn the_call_page_shows_a_legal_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (data, calls) = journal(dir.path());
    let id = calls[0]["id"].to_string();
    let d = data.to_str().unwrap();
    assert!(run(&["hold", "add", &id, "--reason", "subpoena 7", "--data", d]).0);
    add_user(&data, "sup", "supervisor", None);
    let server = Server::start(&data);
    let sup = Client::logged_in(&server.url, "sup");
    let page = sup.get(&format!("/calls/{id}")).text();
    assert!(
        page.contains("Legal hold") && page.contains("subpoena 7"),
        "{page}"
    );
    let other = sup.get(&format!("/calls/{}", calls[1]["id"])).text();
    assert!(!other.contains("Legal hold"));
    let json = sup.get(&format!("/api/v1/calls/{id}")).json();
    assert_eq!(json["hold"]["reason"], "subpoena 7");
}

/// A mistyped data folder is an error for the commands that change a journal, and no empty
/// journal is left behind.
#[test]
fn commands_that_change_a_journal_do_not_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let d = missing.to_str().unwrap();
    for args in [
        vec!["retention", "--data", d, "--days", "5"],
        vec!["retention", "--data", d, "--days", "5", "--dry-run"],
        vec!["hold", "add", "1", "--reason", "x", "--data", d],
        vec!["hold", "remove", "1", "--data", d],
        vec![
            "export",
            "--data",
            d,
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ],
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok && err.contains("no journal in"), "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created {d}");
    }
}

/// `recorder hold ... --url`: an admin changes holds through a running recorder, which keeps
/// the journal file to itself; others may not, and each change is audited.
#[test]
fn holds_change_through_a_running_recorder() {
    let dir = tempfile::tempdir().unwrap();
    let (data, calls) = journal(dir.path());
    let id = calls[0]["id"].to_string();
    add_user(&data, "root", "admin", None);
    add_user(&data, "sup", "supervisor", None);
    let server = Server::start(&data);
    let remote = |user: &str, args: &[&str]| {
        let out = std::process::Command::new(tests::recorder_bin())
            .args(args)
            .args(["--url", &server.url, "--user", user])
            .env("RECORDER_PASSWORD", tests::web::PASSWORD)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stderr)
    };

    let (ok, err) = remote("root", &["hold", "add", &id, "--reason", "case 9"]);
    assert!(ok, "{err}");
    let root = Client::logged_in(&server.url, "root");
    let call = root.get(&format!("/api/v1/calls/{id}")).json();
    assert_eq!(call["hold"]["reason"], "case 9");
    assert_eq!(call["hold"]["by"], "root");

    // Twice is refused, and so is a supervisor, and a call that does not exist.
    let (ok, err) = remote("root", &["hold", "add", &id, "--reason", "again"]);
    assert!(!ok && err.contains("under legal hold already"), "{err}");
    let (ok, err) = remote("sup", &["hold", "remove", &id]);
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, err) = remote("root", &["hold", "add", "999", "--reason", "x"]);
    assert!(!ok && err.contains("404"), "{err}");

    let (ok, err) = remote("root", &["hold", "remove", &id, "--reason", "case closed"]);
    assert!(ok, "{err}");
    let call = root.get(&format!("/api/v1/calls/{id}")).json();
    assert!(call["hold"].is_null(), "{call}");

    let audit = root.get("/api/v1/audit?limit=100").json();
    let holds: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|e| e["action"].as_str().unwrap().starts_with("hold_"))
        .map(|e| (e["action"].as_str().unwrap(), e["user"].as_str().unwrap()))
        .collect();
    assert_eq!(holds, [("hold_added", "root"), ("hold_removed", "root")]);
}

/// Also a regression test: with libpcap on an idle interface, `run` never ticked (no status
/// file, no time-outs) until a frame came.
#[test]
fn recorder_run_applies_the_retention_period_when_it_starts() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = journal(dir.path());
    let config = dir.path().join("run.toml");
    std::fs::write(&config, "[retention]\ndays = 30\n").unwrap();
    let ns = Netns::new("rr");
    let running = RunningRecorder::start(
        &ns,
        &data,
        "lo",
        &["--capture", "pcap", "--config", config.to_str().unwrap()],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !running.log().contains("retention: expired calls deleted") {
        assert!(Instant::now() < deadline, "no retention: {}", running.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    running.stop();
    let left = calls_json(&data);
    assert_eq!(left.len(), 1);
    assert_eq!(started_year(&left[0]), "2026");
}

#[test]
fn verify_reports_altered_missing_and_unknown_files_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let (data, calls) = journal(dir.path());
    let d = data.to_str().unwrap();
    let (ok, out, _) = run(&["verify", "--data", d]);
    assert!(ok, "{out}");
    assert!(
        out.contains("recordings: 2 of 2 match the journal; 0 problem(s)"),
        "{out}"
    );

    let paths: Vec<String> = calls
        .iter()
        .flat_map(|c| c["segments"].as_array().unwrap().iter())
        .map(|s| s["path"].as_str().unwrap().to_string())
        .collect();
    // One recording altered by a byte, one removed, one file nobody recorded.
    let altered = data.join(&paths[0]);
    let mut bytes = std::fs::read(&altered).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&altered, bytes).unwrap();
    std::fs::remove_file(data.join(&paths[1])).unwrap();
    std::fs::write(data.join("recordings/stray.opus"), b"OggS").unwrap();

    let (ok, out, _) = run(&["verify", "--data", d]);
    assert!(!ok, "verify passed: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let line = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(line(&format!("{}: a file", paths[0])), 0);
    assert_eq!(
        line(&format!("{} does not match the SHA-256", paths[0])),
        1,
        "{out}"
    );
    assert_eq!(line(&format!("{} is missing", paths[1])), 1, "{out}");
    assert_eq!(
        line("recordings/stray.opus: a file the journal does not list"),
        1,
        "{out}"
    );
    assert!(
        lines[3].ends_with("0 of 2 match the journal; 3 problem(s)"),
        "{out}"
    );

    // Through a running recorder (admins only), the same lines.
    add_user(&data, "root", "admin", None);
    add_user(&data, "sup", "supervisor", None);
    let server = Server::start(&data);
    let remote = |user: &str| {
        std::process::Command::new(tests::recorder_bin())
            .args(["verify", "--url", &server.url, "--user", user])
            .env("RECORDER_PASSWORD", tests::web::PASSWORD)
            .output()
            .unwrap()
    };
    let answer = remote("root");
    let remote_out = String::from_utf8_lossy(&answer.stdout);
    assert!(!answer.status.success());
    let remote_lines: Vec<&str> = remote_out.lines().collect();
    assert_eq!(remote_lines[..3], lines[..3], "{remote_out}");
    // The chain has grown by the user and login rows; the recordings are as above.
    assert!(
        remote_lines[3].ends_with("0 of 2 match the journal; 3 problem(s)"),
        "{remote_out}"
    );
    let refused = remote("sup");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
