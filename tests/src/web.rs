//! Helpers for the web tests: a data folder with real calls, `recorder serve` on a free
//! loopback port, users, and a small HTTP client that keeps the session cookie.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use ureq::Agent;

use crate::{capture, import_ok, recorder_bin};

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// Imports real captures into `dir/data`: `record-info-on-off.pcap` with extension 1001
/// allowed to record (call 1001 -> 2002, two segments), `g711u-b2bua-call-register-rtcp.pcap`
/// recorded always (two calls 1111 -> 2222) and `g711a-call-register-rtcp.pcap` never (two
/// calls, unrecorded).
pub fn journal_with_calls(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let on_demand = "[policy]\ndefault = \"on-demand\"\n[[users]]\nextension = \"1001\"\n\
                     may_record = true\n";
    import_ok(
        &data,
        Some(on_demand),
        &[&capture("record-info-on-off.pcap")],
    );
    import_ok(
        &data,
        Some("[policy]\ndefault = \"always\"\n"),
        &[&capture("g711u-b2bua-call-register-rtcp.pcap")],
    );
    import_ok(
        &data,
        Some("[policy]\ndefault = \"never\"\n"),
        &[&capture("g711a-call-register-rtcp.pcap")],
    );
    data
}

/// Adds a user with [`PASSWORD`] through `recorder user add`, password on standard input.
pub fn add_user(data: &Path, name: &str, role: &str, extension: Option<&str>) {
    let mut args = vec![
        "user".to_string(),
        "add".into(),
        name.into(),
        "--role".into(),
        role.into(),
        "--data".into(),
        data.display().to_string(),
    ];
    if let Some(ext) = extension {
        args.push("--extension".into());
        args.push(ext.into());
    }
    let mut child = Command::new(recorder_bin())
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run recorder user add");
    writeln!(child.stdin.take().expect("stdin"), "{PASSWORD}").expect("write password");
    let out = child.wait_with_output().expect("recorder user add");
    assert!(
        out.status.success(),
        "user add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `recorder serve` on a free loopback port; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Server {
    /// Starts the server on a data folder and waits until it listens.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// Starts the server with extra arguments (`--tls-cert`, ...).
    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(recorder_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run recorder serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_string();
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                _ => {
                    let _ = child.kill();
                    panic!("recorder serve did not start: {seen}");
                }
            }
        };
        // Keep reading stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A client with an optional session cookie; it never follows redirects, so tests see them.
pub struct Client {
    agent: Agent,
    base: String,
    /// `recorder_session=...`, once logged in.
    pub cookie: Option<String>,
    /// The session's CSRF token, once logged in through the API.
    pub csrf: Option<String>,
}

impl Client {
    /// A logged-out client.
    pub fn new(base: &str) -> Client {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_string(),
            cookie: None,
            csrf: None,
        }
    }

    /// A client logged in through `POST /api/v1/login`; panics unless that succeeds.
    pub fn logged_in(base: &str, user: &str) -> Client {
        let mut client = Client::new(base);
        let answer = client.api_login(user, PASSWORD);
        assert_eq!(answer.status, 200, "login as {user}: {}", answer.text());
        client
    }

    /// `POST /api/v1/login`, keeping the cookie and CSRF token it gives.
    pub fn api_login(&mut self, user: &str, password: &str) -> Answer {
        let body = serde_json::json!({ "username": user, "password": password }).to_string();
        let answer = self.send(
            "POST",
            "/api/v1/login",
            &[("content-type", "application/json")],
            body.into_bytes(),
        );
        if answer.status == 200 {
            self.cookie = session_cookie(&answer);
            self.csrf = answer.json()["csrf"].as_str().map(str::to_string);
        }
        answer
    }

    /// A GET with extra headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", path, headers, Vec::new())
    }

    /// A GET.
    pub fn get(&self, path: &str) -> Answer {
        self.get_with(path, &[])
    }

    /// A POST of a urlencoded form.
    pub fn post_form(&self, path: &str, fields: &[(&str, &str)], cookie: Option<&str>) -> Answer {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(cookie) = cookie {
            headers.push(("cookie", cookie));
        }
        self.send("POST", path, &headers, body.into_bytes())
    }

    /// Any request; the session cookie is added when there is one.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        let mut cookies: Vec<String> = self.cookie.iter().cloned().collect();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("cookie") {
                cookies.push(value.to_string());
            } else {
                request = request.header(*name, *value);
            }
        }
        if !cookies.is_empty() {
            request = request.header("cookie", cookies.join("; "));
        }
        let response = if body.is_empty() {
            self.agent.run(request.body(()).expect("request"))
        } else {
            self.agent.run(request.body(body).expect("request"))
        };
        let mut response = response.expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .expect("body");
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// The `recorder_session=...` pair from an answer's `Set-Cookie`.
pub fn session_cookie(answer: &Answer) -> Option<String> {
    cookie_named(answer, "recorder_session")
}

/// A `name=value` pair from an answer's `Set-Cookie` headers.
pub fn cookie_named(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
