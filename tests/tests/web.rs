//! The web journal over HTTP, against `recorder serve` on a journal imported from real
//! captures: who sees what, logged-out answers, CSRF, the login rate limit, Range requests,
//! the audit log, and `recorder calls/export --url` while the server owns the journal.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tests::web::{Client, PASSWORD, Server, add_user, cookie_named, journal_with_calls};
use tests::{calls_json, recorder, recorder_bin, require_tool};

/// The journal's calls (read before the server takes the journal), and a started server with
/// users `root` (admin), `sup` (supervisor) and `alice` (agent, extension 1001).
fn setup(dir: &Path) -> (Vec<Value>, Server, std::path::PathBuf) {
    let data = journal_with_calls(dir);
    add_user(&data, "root", "admin", None);
    add_user(&data, "sup", "supervisor", None);
    add_user(&data, "alice", "agent", Some("1001"));
    let calls = calls_json(&data);
    assert_eq!(calls.len(), 5, "the fixture journal changed");
    (calls, Server::start(&data), data)
}

fn ids(calls: &[Value]) -> Vec<i64> {
    calls.iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

fn has_party(call: &Value, ext: &str) -> bool {
    call["caller"] == ext || call["callee"] == ext
}

fn audit(server: &Server) -> Vec<Value> {
    let root = Client::logged_in(&server.url, "root");
    let answer = root.get("/api/v1/audit?limit=1000");
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json().as_array().unwrap().clone()
}

#[test]
fn agents_see_only_their_own_calls_and_get_404_for_others() {
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, _data) = setup(dir.path());

    let sup = Client::logged_in(&server.url, "sup");
    let all = sup.get("/api/v1/calls");
    assert_eq!(all.status, 200);
    assert_eq!(all.header("x-total-count"), Some("5"));
    assert_eq!(ids(all.json().as_array().unwrap()), ids(&calls));

    let alice = Client::logged_in(&server.url, "alice");
    let own = alice.get("/api/v1/calls").json();
    let own = own.as_array().unwrap();
    let expected: Vec<&Value> = calls.iter().filter(|c| has_party(c, "1001")).collect();
    assert_eq!(own.len(), expected.len());
    assert!(!own.is_empty() && own.iter().all(|c| has_party(c, "1001")));
    // The same object as `recorder calls --json` shows.
    assert_eq!(&own[0], expected[0]);

    // The HTML list shows the same.
    let page = alice.get("/").text();
    for call in &calls {
        let row = format!("data-call-id=\"{}\"", call["id"]);
        assert_eq!(page.contains(&row), has_party(call, "1001"), "{row}");
    }

    let mine = expected[0];
    let theirs = calls
        .iter()
        .find(|c| !has_party(c, "1001") && c["recorded"] == true)
        .expect("a recorded call of other parties");
    let their_segment = theirs["segments"][0]["id"].as_i64().unwrap();
    for path in [
        format!("/api/v1/calls/{}", theirs["id"]),
        format!("/calls/{}", theirs["id"]),
        format!("/api/v1/recordings/{their_segment}/audio"),
        format!("/api/v1/recordings/{their_segment}/download"),
        "/api/v1/recordings/999999/audio".to_string(),
        "/api/v1/recordings/..%2F..%2Fjournal.duckdb/download".to_string(),
        "/calls/not-a-number".to_string(),
    ] {
        assert_eq!(alice.get(&path).status, 404, "{path}");
    }
    // The supervisor gets the same call and recording.
    assert_eq!(sup.get(&format!("/calls/{}", theirs["id"])).status, 200);
    let download = sup.get(&format!("/api/v1/recordings/{their_segment}/download"));
    assert_eq!(download.status, 200);

    let own_segment = mine["segments"][0]["id"].as_i64().unwrap();
    let detail = alice.get(&format!("/api/v1/calls/{}", mine["id"]));
    assert_eq!(detail.status, 200);
    assert!(!detail.json()["messages"].as_array().unwrap().is_empty());
    let page = alice.get(&format!("/calls/{}", mine["id"]));
    assert_eq!(page.status, 200);
    assert!(
        page.text()
            .contains(&format!("/api/v1/recordings/{own_segment}/download"))
    );
    assert_eq!(
        alice
            .get(&format!("/api/v1/recordings/{own_segment}/audio"))
            .status,
        200
    );

    // Only admins read the audit log.
    assert_eq!(alice.get("/api/v1/audit").status, 403);
    assert_eq!(sup.get("/api/v1/audit").status, 403);
    assert_eq!(sup.get("/audit").status, 403);
}

#[test]
fn logged_out_requests_get_the_login_page_or_401() {
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, _data) = setup(dir.path());
    let segment = calls[0]["segments"][0]["id"].as_i64().unwrap();
    let mut anonymous = Client::new(&server.url);

    for page in ["/", "/calls/1", "/audit", "/users"] {
        let answer = anonymous.get(page);
        assert_eq!(answer.status, 303, "{page}");
        let location = answer.header("location").unwrap();
        assert!(location.starts_with("/login?next="), "{page}: {location}");
    }
    let login = anonymous.get("/login?next=%2Fcalls%2F1");
    assert_eq!(login.status, 200);
    assert!(
        login
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = login.text();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    assert!(!html.contains("data-call-id"));

    for api in [
        "/api/v1/calls".to_string(),
        "/api/v1/calls/1".to_string(),
        format!("/api/v1/recordings/{segment}/audio"),
        format!("/api/v1/recordings/{segment}/download"),
        "/api/v1/audit".to_string(),
    ] {
        let answer = anonymous.get(&api);
        assert_eq!(answer.status, 401, "{api}");
        assert!(answer.json()["error"].is_string());
    }
    // A made-up session is no session.
    anonymous.cookie = Some(format!("recorder_session={}", "ab".repeat(32)));
    assert_eq!(anonymous.get("/api/v1/calls").status, 401);
    assert_eq!(anonymous.get("/").status, 303);
}

#[test]
fn forged_posts_without_the_csrf_token_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (_calls, server, _data) = setup(dir.path());
    let browser = Client::new(&server.url);
    let login = [("username", "root"), ("password", PASSWORD)];

    // The right password, but no token (a cross-site form): refused.
    let forged = browser.post_form("/login", &login, None);
    assert_eq!(forged.status, 403);
    assert!(cookie_named(&forged, "recorder_session").is_none());

    // The login page's token: the form field must match the cookie.
    let page = browser.get("/login");
    let cookie = cookie_named(&page, "recorder_login_csrf").expect("login CSRF cookie");
    let token = cookie.split_once('=').unwrap().1.to_string();
    assert!(page.text().contains(&token));
    let wrong_token = "0".repeat(64);
    let mut fields = login.to_vec();
    fields.push(("csrf", &wrong_token));
    assert_eq!(
        browser.post_form("/login", &fields, Some(&cookie)).status,
        403
    );
    fields.pop();
    fields.push(("csrf", &token));
    let ok = browser.post_form("/login", &fields, Some(&cookie));
    assert_eq!(ok.status, 303, "{}", ok.text());
    let session = cookie_named(&ok, "recorder_session").expect("session cookie");
    let set_cookie = ok
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("recorder_session="))
        .map(|(_, v)| v.to_lowercase())
        .unwrap();
    assert!(set_cookie.contains("httponly") && set_cookie.contains("samesite=strict"));

    let mut root = Client::new(&server.url);
    root.cookie = Some(session);
    let list = root.get("/");
    assert_eq!(list.status, 200);
    let csrf = list
        .text()
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("CSRF field in the page")
        .to_string();

    // Adding a user and logging out need the session's token.
    let user = [
        ("username", "mallory"),
        ("role", "admin"),
        ("extension", ""),
        ("password", "hunter2hunter2"),
    ];
    assert_eq!(root.post_form("/users", &user, None).status, 403);
    let other_token = "f".repeat(64);
    let mut with_token = user.to_vec();
    with_token.push(("csrf", &other_token));
    assert_eq!(root.post_form("/users", &with_token, None).status, 403);
    let mut fresh = Client::new(&server.url);
    assert_eq!(fresh.api_login("mallory", "hunter2hunter2").status, 401);
    with_token.pop();
    with_token.push(("csrf", &csrf));
    let added = root.post_form("/users", &with_token, None);
    assert_eq!(added.status, 200, "{}", added.text());
    assert_eq!(fresh.api_login("mallory", "hunter2hunter2").status, 200);

    assert_eq!(root.post_form("/logout", &[], None).status, 403);
    assert_eq!(
        root.get("/").status,
        200,
        "a forged logout must not end the session"
    );
    assert_eq!(
        root.post_form("/logout", &[("csrf", &csrf)], None).status,
        303
    );
    assert_eq!(root.get("/").status, 303);

    // API POSTs need the X-CSRF-Token header; the JSON login refuses forms.
    let api = Client::logged_in(&server.url, "sup");
    assert_eq!(
        api.send("POST", "/api/v1/exports", &[], Vec::new()).status,
        403
    );
    let token = api.csrf.clone().unwrap();
    let export = api.send(
        "POST",
        "/api/v1/exports",
        &[("x-csrf-token", &token)],
        Vec::new(),
    );
    assert_eq!(export.status, 200, "{}", export.text());
    let form_login = Client::new(&server.url).post_form("/api/v1/login", &login, None);
    assert_ne!(form_login.status, 200);
}

#[test]
fn the_login_rate_limit_refuses_a_user_after_five_failures() {
    let dir = tempfile::tempdir().unwrap();
    let (_calls, server, _data) = setup(dir.path());
    let mut client = Client::new(&server.url);
    for _ in 0..5 {
        assert_eq!(client.api_login("alice", "wrong password").status, 401);
    }
    // Now even the right password is refused for the rest of the window.
    let refused = client.api_login("alice", PASSWORD);
    assert_eq!(refused.status, 429);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
    // Other users from the same address are not locked out (20 failures allowed there).
    assert_eq!(client.api_login("sup", PASSWORD).status, 200);

    let failed: Vec<Value> = audit(&server)
        .into_iter()
        .filter(|e| e["action"] == "login_failed" && e["user"] == "alice")
        .collect();
    assert_eq!(failed.len(), 6);
    assert!(failed.iter().any(|e| e["detail"] == "rate limited"));
}

#[test]
fn range_requests_get_206_with_exactly_those_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, data) = setup(dir.path());
    let segment = &calls[0]["segments"][0];
    let id = segment["id"].as_i64().unwrap();
    let file = std::fs::read(data.join(segment["path"].as_str().unwrap())).unwrap();
    let sup = Client::logged_in(&server.url, "sup");
    let audio = format!("/api/v1/recordings/{id}/audio");

    let first = sup.get_with(&audio, &[("range", "bytes=0-99")]);
    assert_eq!(first.status, 206);
    assert_eq!(first.body, file[..100]);
    assert_eq!(
        first.header("content-range"),
        Some(format!("bytes 0-99/{}", file.len()).as_str())
    );
    assert_eq!(first.header("content-type"), Some("audio/ogg"));
    assert_eq!(first.header("accept-ranges"), Some("bytes"));

    let middle = sup.get_with(&audio, &[("range", "bytes=1000-1999")]);
    assert_eq!(middle.status, 206);
    assert_eq!(middle.body, file[1000..2000]);
    let tail = sup.get_with(&audio, &[("range", "bytes=-10")]);
    assert_eq!(tail.body, file[file.len() - 10..]);
    let beyond = format!("bytes={}-", file.len() + 10);
    assert_eq!(sup.get_with(&audio, &[("range", &beyond)]).status, 416);

    let whole = sup.get(&audio);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, file);
    assert!(
        whole
            .header("content-disposition")
            .unwrap()
            .starts_with("inline")
    );

    let download = sup.get(&format!("/api/v1/recordings/{id}/download"));
    assert_eq!(download.status, 200);
    let disposition = download.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains(&format!("recording-{id}.opus")));
    let digest = hex::encode(Sha256::digest(&download.body));
    assert_eq!(digest, segment["sha256"].as_str().unwrap());
}

#[test]
fn every_login_play_download_and_export_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, _data) = setup(dir.path());
    let call = &calls[0];
    let segment = call["segments"][0]["id"].as_i64().unwrap();
    let before = audit(&server).len();

    let mut sup = Client::new(&server.url);
    assert_eq!(sup.api_login("sup", "not it").status, 401);
    assert_eq!(sup.api_login("sup", PASSWORD).status, 200);
    let audio = format!("/api/v1/recordings/{segment}/audio");
    assert_eq!(sup.get(&audio).status, 200); // play 1
    assert_eq!(sup.get_with(&audio, &[("range", "bytes=0-")]).status, 206); // play 2
    // A player seeking or resuming is the same play.
    assert_eq!(sup.get_with(&audio, &[("range", "bytes=500-")]).status, 206);
    assert_eq!(
        sup.get(&format!("/api/v1/recordings/{segment}/download"))
            .status,
        200
    );
    let token = sup.csrf.clone().unwrap();
    let export = sup.send(
        "POST",
        "/api/v1/exports?number=1001",
        &[("x-csrf-token", &token)],
        Vec::new(),
    );
    assert_eq!(export.status, 200);

    let log = audit(&server);
    // Newest first; the admin's own login for reading it is the newest.
    let new: Vec<&Value> = log[..log.len() - before].iter().rev().collect();
    let actions: Vec<&str> = new.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "login_failed",
            "login",
            "play",
            "play",
            "download",
            "export",
            "login"
        ]
    );
    for entry in &new[..6] {
        assert_eq!(entry["user"], "sup");
        assert_eq!(entry["address"], "127.0.0.1");
        assert!(entry["at_us"].as_i64().unwrap() > 1_700_000_000_000_000);
    }
    for entry in &new[2..5] {
        assert_eq!(entry["recording"], segment);
        assert_eq!(entry["call"], call["id"]);
    }
    assert!(new[5]["detail"].as_str().unwrap().contains("number=1001"));
    let ids: Vec<i64> = log.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "ids descend newest first: {ids:?}"
    );

    // Admins see it on the page too.
    let root = Client::logged_in(&server.url, "root");
    let page = root.get("/audit").text();
    assert_eq!(page.matches("data-action=\"play\"").count(), 2);
    assert_eq!(page.matches("data-action=\"download\"").count(), 1);
}

fn recorder_with_password(args: &[&str], password: &str) -> std::process::Output {
    Command::new(recorder_bin())
        .args(args)
        .env("RECORDER_PASSWORD", password)
        .output()
        .expect("run recorder")
}

#[test]
fn calls_and_export_go_through_the_api_while_the_server_owns_the_journal() {
    require_tool("sha256sum", "coreutils");
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, data) = setup(dir.path());
    let data_arg = data.to_str().unwrap();

    // The journal file is locked by the server.
    let local = recorder(&["calls", "--data", data_arg]);
    assert!(!local.status.success());
    assert!(String::from_utf8_lossy(&local.stderr).contains("--url"));

    let remote = recorder_with_password(
        &["calls", "--url", &server.url, "--user", "sup", "--json"],
        PASSWORD,
    );
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let remote: Vec<Value> = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(remote, calls);

    // The password from standard input, and an agent's view.
    let mut child = Command::new(recorder_bin())
        .args(["calls", "--url", &server.url, "--user", "alice", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let own: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        ids(&own),
        ids(&calls
            .iter()
            .filter(|c| has_party(c, "1001"))
            .cloned()
            .collect::<Vec<_>>())
    );

    let wrong = recorder_with_password(&["calls", "--url", &server.url, "--user", "sup"], "nope");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("401"));

    let out_dir = dir.path().join("export");
    let export = recorder_with_password(
        &[
            "export",
            "--url",
            &server.url,
            "--user",
            "sup",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        PASSWORD,
    );
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let (ok, report) = tests::check_sums(&out_dir);
    assert!(ok, "{report}");
    // Four recordings, manifest.json, manifest.csv, export.json.
    assert_eq!(
        report.lines().filter(|l| l.ends_with(": OK")).count(),
        7,
        "{report}"
    );
    let manifest: Vec<Value> =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(ids(&manifest), ids(&calls));
    for (exported, original) in manifest.iter().zip(&calls) {
        for (seg, orig) in exported["segments"]
            .as_array()
            .unwrap()
            .iter()
            .zip(original["segments"].as_array().unwrap())
        {
            assert_eq!(seg["sha256"], orig["sha256"]);
            let copy = std::fs::read(out_dir.join(seg["path"].as_str().unwrap())).unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(copy)),
                orig["sha256"].as_str().unwrap()
            );
        }
    }
    assert!(out_dir.join("manifest.csv").is_file());
    let info: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("export.json")).unwrap()).unwrap();
    assert_eq!(info["data"], server.url.as_str());

    let log = audit(&server);
    assert!(
        log.iter()
            .any(|e| e["action"] == "export" && e["user"] == "sup")
    );
    assert_eq!(
        log.iter()
            .filter(|e| e["action"] == "download" && e["user"] == "sup")
            .count(),
        4
    );

    // A recording altered on disk stops the export, as a local one would.
    let victim = &calls[0]["segments"][0];
    let path = data.join(victim["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let out_dir = dir.path().join("export2");
    let tampered = recorder_with_password(
        &[
            "export",
            "--url",
            &server.url,
            "--user",
            "sup",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        PASSWORD,
    );
    assert!(!tampered.status.success());
    assert!(String::from_utf8_lossy(&tampered.stderr).contains("does not match the journal"));
}

#[test]
fn user_add_checks_its_input_and_env_users_do_not_break_local_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    tests::import_ok(&data, None, &[&tests::capture("record-info-on-off.pcap")]);
    add_user(&data, "ana", "admin", None);
    let data_arg = data.to_str().unwrap();
    for (args, message) in [
        (vec!["ana", "--role", "admin"], "exists already"),
        (vec!["bob", "--role", "root"], "unknown role"),
        (vec!["bob", "--role", "agent"], "needs an extension"),
    ] {
        let mut child = Command::new(recorder_bin())
            .args(["user", "add", "--data", data_arg])
            .args(&args)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // A user for --url in the environment leaves local reads alone.
    let out = Command::new(recorder_bin())
        .args(["calls", "--data", data_arg])
        .env("RECORDER_USER", "ana")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn filters_narrow_the_list_and_the_api_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, _data) = setup(dir.path());
    let sup = Client::logged_in(&server.url, "sup");
    let expect = |query: &str, keep: &dyn Fn(&Value) -> bool| {
        let want: Vec<i64> = calls
            .iter()
            .filter(|c| keep(c))
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert!(
            !want.is_empty() && want.len() < calls.len(),
            "{query} filters nothing"
        );
        let api = sup.get(&format!("/api/v1/calls?{query}"));
        assert_eq!(api.status, 200, "{query}: {}", api.text());
        assert_eq!(ids(api.json().as_array().unwrap()), want, "API {query}");
        let page = sup.get(&format!("/?{query}")).text();
        let rows: Vec<i64> = page
            .split("data-call-id=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(rows, want, "page {query}");
    };
    expect("recorded_only=on", &|c| c["recorded"] == true);
    expect("number=1111", &|c| has_party(c, "1111"));
    // Either party, with a wildcard: 2002 and 200.57.7.195.
    expect("number=20*", &|c| {
        ["caller", "callee"]
            .iter()
            .any(|p| c[p].as_str().unwrap().starts_with("20"))
    });
    expect("from=2018-04-09&to=2018-04-09", &|c| {
        c["started_at"].as_str().unwrap().starts_with("2018-04-09")
    });
    expect("direction=outbound", &|c| c["direction"] == "outbound");
    expect("disposition=answered&min_duration=26", &|c| {
        c["disposition"] == "answered" && c["duration_s"].as_f64().unwrap() >= 26.0
    });

    // Paging, and a bad filter: 400 from the API, a message on the page.
    let page = sup.get("/api/v1/calls?limit=2&offset=2");
    assert_eq!(ids(page.json().as_array().unwrap()), ids(&calls[2..4]));
    assert_eq!(page.header("x-total-count"), Some("5"));
    assert_eq!(sup.get("/api/v1/calls?direction=sideways").status, 400);
    let html = sup.get("/?direction=sideways");
    assert_eq!(html.status, 200);
    assert!(html.text().contains("is not one of"));
}
