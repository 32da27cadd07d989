//! Web security against `recorder serve` on a journal imported from real captures: every API
//! endpoint for every role against every other role's data, URL paths that try to reach the
//! file system, security headers on every kind of answer, and HTTPS with a certificate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tests::web::{Client, PASSWORD, Server, add_user, journal_with_calls};
use tests::{calls_json, recorder, require_tool};

/// Users: `root` (admin), `sup` (supervisor), `alice` (agent 1001), `bob` (agent 2222) and
/// `nobody` (agent 9999, in no call).
fn setup(dir: &Path) -> (Vec<Value>, Server, std::path::PathBuf) {
    let data = journal_with_calls(dir);
    add_user(&data, "root", "admin", None);
    add_user(&data, "sup", "supervisor", None);
    add_user(&data, "alice", "agent", Some("1001"));
    add_user(&data, "bob", "agent", Some("2222"));
    add_user(&data, "nobody", "agent", Some("9999"));
    let calls = calls_json(&data);
    (calls, Server::start(&data), data)
}

fn party(call: &Value, ext: &str) -> bool {
    call["caller"] == ext || call["callee"] == ext
}

/// Which calls a user may see.
fn may_see(user: &str, call: &Value) -> bool {
    match user {
        "root" | "sup" => true,
        "alice" => party(call, "1001"),
        "bob" => party(call, "2222"),
        _ => false,
    }
}

fn ids(list: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

#[test]
fn every_api_endpoint_answers_each_role_only_for_its_own_data() {
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, _data) = setup(dir.path());
    let users = ["root", "sup", "alice", "bob", "nobody"];
    // The fixture must give each agent calls of its own and calls of the other's.
    for ext in ["1001", "2222"] {
        assert!(calls.iter().any(|c| party(c, ext)), "no call of {ext}");
    }
    assert!(calls.iter().any(|c| !party(c, "1001") && !party(c, "2222")));

    let mut checked = 0;
    for user in users {
        let client = Client::logged_in(&server.url, user);
        let csrf = client.csrf.clone().unwrap();
        let expected: Vec<i64> = {
            let mut v: Vec<i64> = calls
                .iter()
                .filter(|c| may_see(user, c))
                .map(|c| c["id"].as_i64().unwrap())
                .collect();
            v.sort();
            v
        };

        // Lists: the calls list and the export answer hold exactly the user's calls.
        let list = client.get("/api/v1/calls?limit=1000");
        assert_eq!(list.status, 200, "{user}: list");
        assert_eq!(ids(&list.json()), expected, "{user}: list");
        let export = client.send(
            "POST",
            "/api/v1/exports",
            &[("x-csrf-token", &csrf)],
            Vec::new(),
        );
        assert_eq!(export.status, 200, "{user}: export {}", export.text());
        assert_eq!(ids(&export.json()["calls"]), expected, "{user}: export");
        checked += 2;

        // Each call and each of its recordings, through every endpoint that names one.
        for call in &calls {
            let want = if may_see(user, call) { 200 } else { 404 };
            let id = &call["id"];
            for path in [format!("/api/v1/calls/{id}"), format!("/calls/{id}")] {
                assert_eq!(client.get(&path).status, want, "{user}: {path}");
                checked += 1;
            }
            // Legal holds: admins only (any call), with the CSRF header; held then lifted.
            let want_hold = if user == "root" { 200 } else { 403 };
            for action in ["hold", "release"] {
                let path = format!("/api/v1/calls/{id}/{action}");
                let body = br#"{"reason": "role matrix"}"#.to_vec();
                let headers = [
                    ("x-csrf-token", csrf.as_str()),
                    ("content-type", "application/json"),
                ];
                let answer = client.send("POST", &path, &headers, body.clone());
                assert_eq!(answer.status, want_hold, "{user}: {path} {}", answer.text());
                let forged = client.send("POST", &path, &headers[1..], body);
                assert_eq!(forged.status, 403, "{user}: {path} without the CSRF token");
                checked += 2;
            }
            for segment in call["segments"].as_array().unwrap() {
                let seg = &segment["id"];
                for path in [
                    format!("/api/v1/recordings/{seg}/audio"),
                    format!("/api/v1/recordings/{seg}/download"),
                ] {
                    assert_eq!(client.get(&path).status, want, "{user}: {path}");
                    checked += 1;
                }
            }
        }

        // Admin-only endpoints.
        let want = if user == "root" { 200 } else { 403 };
        for path in ["/api/v1/audit", "/audit", "/users"] {
            assert_eq!(client.get(path).status, want, "{user}: {path}");
            checked += 1;
        }
    }
    // Logged out: 401 from the API, a redirect from the pages.
    let anonymous = Client::new(&server.url);
    for path in [
        "/api/v1/calls",
        "/api/v1/calls/1",
        "/api/v1/recordings/1/audio",
        "/api/v1/audit",
    ] {
        assert_eq!(anonymous.get(path).status, 401, "{path}");
        checked += 1;
    }
    println!(
        "role matrix: {} users x {} calls, {checked} requests answered as expected",
        users.len(),
        calls.len()
    );
}

/// Sends `GET path` exactly as written (no client-side normalisation of `..`).
fn raw_get(url: &str, path: &str, cookie: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn no_url_path_reaches_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, data) = setup(dir.path());
    let secret = "SECRET-7f3a9c not for the web";
    std::fs::write(data.join("secret.txt"), secret).unwrap();
    std::fs::write(dir.path().join("secret.txt"), secret).unwrap();
    let recording = calls
        .iter()
        .flat_map(|c| c["segments"].as_array().unwrap().iter())
        .find(|s| s["status"] == "complete")
        .expect("a recording");
    let rel = recording["path"].as_str().unwrap();

    let root = Client::logged_in(&server.url, "root");
    let cookie = root.cookie.clone().unwrap();
    let attempts = [
        "/static/../secret.txt".to_string(),
        "/static/..%2fsecret.txt".to_string(),
        "/static/%2e%2e/%2e%2e/secret.txt".to_string(),
        "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd".to_string(),
        "/../../../../etc/passwd".to_string(),
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_string(),
        "/secret.txt".to_string(),
        "/journal.duckdb".to_string(),
        format!("/{rel}"),
        "/recordings/".to_string(),
        "/api/v1/recordings/..%2f..%2fjournal.duckdb/audio".to_string(),
        "/api/v1/recordings/..%2F..%2Fsecret.txt/download".to_string(),
        "/api/v1/recordings/1%2f..%2f..%2fsecret.txt/download".to_string(),
        "/api/v1/recordings/%2e%2e/download".to_string(),
        "/api/v1/recordings/-1/download".to_string(),
        "/api/v1/recordings/1;/etc/passwd/download".to_string(),
        "/api/v1/calls/..%2f..%2fsecret.txt".to_string(),
        "/calls/%2e%2e%2f%2e%2e%2fsecret.txt".to_string(),
        "/static/style.css/../../secret.txt".to_string(),
        "/static/%252e%252e/secret.txt".to_string(),
    ];
    for path in &attempts {
        let (status, text) = raw_get(&server.url, path, &cookie);
        assert!(
            (400..500).contains(&status),
            "{path}: answered {status}:\n{}",
            &text[..text.len().min(300)]
        );
        assert!(
            !text.contains("SECRET-7f3a9c"),
            "{path} served the secret file"
        );
        assert!(!text.contains("root:x:0:0"), "{path} served /etc/passwd");
        assert!(!text.contains("DUCK"), "{path} served the journal");
        assert!(
            !text.contains("OpusHead"),
            "{path} served a recording by path"
        );
    }
    // The recording itself is reachable by id only.
    let (status, text) = raw_get(
        &server.url,
        &format!("/api/v1/recordings/{}/download", recording["id"]),
        &cookie,
    );
    assert_eq!(status, 200);
    assert!(text.contains("OpusHead"));
    println!("path traversal: {} attempts refused", attempts.len());
}

fn expect_security_headers(what: &str, answer: &tests::web::Answer) {
    let csp = answer.header("content-security-policy").unwrap_or_default();
    for part in [
        "default-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(part), "{what}: CSP {csp:?} lacks {part}");
    }
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        answer.header("referrer-policy"),
        Some("same-origin"),
        "{what}"
    );
    assert!(
        answer.header("cache-control").is_some(),
        "{what}: no Cache-Control"
    );
}

#[test]
fn security_headers_are_on_every_kind_of_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (calls, server, _data) = setup(dir.path());
    let root = Client::logged_in(&server.url, "root");
    let anonymous = Client::new(&server.url);
    let segment = calls
        .iter()
        .flat_map(|c| c["segments"].as_array().unwrap().iter())
        .find(|s| s["status"] == "complete")
        .unwrap()["id"]
        .clone();
    let answers = [
        ("login page", anonymous.get("/login")),
        ("logged-out API", anonymous.get("/api/v1/calls")),
        ("logged-out page", anonymous.get("/")),
        ("not found", root.get("/no/such/page")),
        ("stylesheet", root.get("/static/style.css")),
        ("call list", root.get("/")),
        ("API", root.get("/api/v1/calls")),
        (
            "recording",
            root.get(&format!("/api/v1/recordings/{segment}/download")),
        ),
    ];
    for (what, answer) in &answers {
        expect_security_headers(what, answer);
        assert_eq!(
            answer.header("strict-transport-security"),
            None,
            "{what}: HSTS over HTTP"
        );
    }
    assert_eq!(answers[6].1.header("cache-control"), Some("no-store"));

    let mut client = Client::new(&server.url);
    let login = client.api_login("alice", PASSWORD);
    let cookie = login
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("recorder_session="))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP cookie marked Secure: {cookie}"
    );
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-i"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn https_serves_with_the_given_certificate_and_secure_cookies() {
    require_tool("openssl", "openssl");
    require_tool("curl", "curl");
    let dir = tempfile::tempdir().unwrap();
    let data = journal_with_calls(dir.path());
    add_user(&data, "alice", "agent", Some("1001"));
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg("/CN=localhost")
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());

    // A key that is not the certificate's is refused with a clear error.
    let other = dir.path().join("other.pem");
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    let data_s = data.to_str().unwrap();
    let out = recorder(&[
        "serve",
        "--data",
        data_s,
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert_s,
        "--tls-key",
        other.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: certificate and key"), "{err}");
    let out = recorder(&["serve", "--data", data_s, "--tls-cert", cert_s]);
    assert!(
        !out.status.success(),
        "--tls-cert without --tls-key accepted"
    );

    let server = Server::start_with(&data, &["--tls-cert", cert_s, "--tls-key", key_s]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let page = curl(&["--cacert", cert_s, &format!("{}/login", server.url)]);
    assert!(
        page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/2 200"),
        "{page}"
    );
    assert!(
        page.to_lowercase()
            .contains("strict-transport-security: max-age="),
        "{page}"
    );
    let body = format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#);
    let login = curl(&[
        "--cacert",
        cert_s,
        "-H",
        "content-type: application/json",
        "--data",
        &body,
        &format!("{}/api/v1/login", server.url),
    ]);
    let cookie = login
        .lines()
        .find(|l| {
            l.to_lowercase()
                .starts_with("set-cookie: recorder_session=")
        })
        .unwrap_or_else(|| panic!("no session cookie: {login}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    // Without trusting the certificate, curl refuses it: it is really TLS with that cert.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", &format!("{}/login", server.url)])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an untrusted certificate was accepted"
    );
    // Plain HTTP to the HTTPS port gets no page.
    let plain = server.url.replace("https://", "http://");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("{plain}/login"))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout), "200");
}
