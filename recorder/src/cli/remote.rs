//! A client of a running recorder's web API, for `recorder calls --url` and `recorder export
//! --url`: a running recorder keeps the journal file locked, so these commands ask it.
//!
//! It logs in (`POST /api/v1/login`), keeps the session cookie and CSRF token, pages through
//! `GET /api/v1/calls`, and for exports audits the export (`POST /api/v1/exports`) and
//! streams each recording from `GET /api/v1/recordings/{id}/download`.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, bail};
use ureq::Agent;
use ureq::http::Response;

use super::{FilterArgs, RemoteArgs, read_password};
use crate::journal::CallView;

/// Calls fetched per request when paging.
const PAGE: u32 = 500;

/// A logged-in session with a running recorder.
pub struct Remote {
    agent: Agent,
    base: String,
    cookie: String,
    csrf: String,
}

impl Remote {
    /// Logs in as `--user` with the password from `RECORDER_PASSWORD` or standard input.
    pub fn connect(args: &RemoteArgs) -> anyhow::Result<Remote> {
        let url = args.url.as_deref().context("no --url given")?;
        let user = args
            .user
            .as_deref()
            .context("--url needs --user NAME (or RECORDER_USER)")?;
        let password = match std::env::var("RECORDER_PASSWORD") {
            Ok(p) if !p.is_empty() => p,
            _ => read_password(&format!("password for {user} at {url}: "))?,
        };
        Remote::login(url, user, &password)
    }

    /// Logs in to the recorder at `url`.
    pub fn login(url: &str, user: &str, password: &str) -> anyhow::Result<Remote> {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--url {url}: give the scheme too, e.g. http://{url}"
        );
        let base = url.trim_end_matches('/').to_string();
        let body = serde_json::json!({ "username": user, "password": password }).to_string();
        let mut response = agent
            .post(format!("{base}/api/v1/login"))
            .header("Content-Type", "application/json")
            .send(body)
            .with_context(|| format!("cannot reach the recorder at {base}"))?;
        check(&mut response, "logging in")?;
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|v| v.starts_with("recorder_session="))
            .context("the recorder answered the login without a session cookie")?
            .to_string();
        let answer: serde_json::Value =
            serde_json::from_str(&response.body_mut().read_to_string()?)
                .context("reading the login answer")?;
        let csrf = answer["csrf"]
            .as_str()
            .context("the login answer has no CSRF token")?
            .to_string();
        Ok(Remote {
            agent,
            base,
            cookie,
            csrf,
        })
    }

    /// Calls matching a filter, newest first, at most `limit`.
    pub fn calls(&self, filter: &FilterArgs, limit: Option<u32>) -> anyhow::Result<Vec<CallView>> {
        let mut calls: Vec<CallView> = Vec::new();
        loop {
            let want = match limit {
                Some(limit) => (limit - calls.len() as u32).min(PAGE),
                None => PAGE,
            };
            if want == 0 {
                break;
            }
            let mut request = self
                .agent
                .get(format!("{}/api/v1/calls", self.base))
                .header("Cookie", &self.cookie)
                .query("limit", want.to_string())
                .query("offset", calls.len().to_string());
            for (key, value) in filter_params(filter) {
                request = request.query(key, value);
            }
            let mut response = request.call().context("listing calls")?;
            check(&mut response, "listing calls")?;
            let page: Vec<CallView> = read_json(&mut response).context("reading the calls")?;
            let got = page.len() as u32;
            // Calls that finished meanwhile shift later pages: skip the ones we have.
            for call in page {
                if !calls.iter().any(|c| c.id == call.id) {
                    calls.push(call);
                }
            }
            if got < want {
                break;
            }
        }
        Ok(calls)
    }

    /// Audits an export on the recorder and returns every call it covers.
    pub fn start_export(&self, filter: &FilterArgs) -> anyhow::Result<Vec<CallView>> {
        let mut request = self
            .agent
            .post(format!("{}/api/v1/exports", self.base))
            .header("Cookie", &self.cookie)
            .header("X-CSRF-Token", &self.csrf);
        for (key, value) in filter_params(filter) {
            request = request.query(key, value);
        }
        let mut response = request.send_empty().context("starting the export")?;
        check(&mut response, "starting the export")?;
        let mut answer: serde_json::Value =
            read_json(&mut response).context("reading the export")?;
        serde_json::from_value(answer["calls"].take()).context("reading the export's calls")
    }

    /// The bytes of a recording, as a stream.
    pub fn download(&self, segment: i64) -> anyhow::Result<impl Read + use<>> {
        let mut response = self
            .agent
            .get(format!(
                "{}/api/v1/recordings/{segment}/download",
                self.base
            ))
            .header("Cookie", &self.cookie)
            .call()
            .with_context(|| format!("downloading recording {segment}"))?;
        check(&mut response, &format!("downloading recording {segment}"))?;
        Ok(response.into_body().into_reader())
    }

    /// Puts a call under legal hold (`reason` given) or lifts it (`hold` false).
    pub fn change_hold(&self, call: i64, hold: bool, reason: Option<&str>) -> anyhow::Result<()> {
        let action = if hold { "hold" } else { "release" };
        let body = serde_json::json!({ "reason": reason }).to_string();
        let mut response = self
            .agent
            .post(format!("{}/api/v1/calls/{call}/{action}", self.base))
            .header("Cookie", &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .header("Content-Type", "application/json")
            .send(body)
            .with_context(|| format!("changing the hold of call {call}"))?;
        check(&mut response, &format!("changing the hold of call {call}"))
    }

    /// What the running recorder's own `verify` finds (admins).
    pub fn verify(&self) -> anyhow::Result<web::VerifyReport> {
        let mut response = self
            .agent
            .get(format!("{}/api/v1/verify", self.base))
            .header("Cookie", &self.cookie)
            .call()
            .context("verifying")?;
        check(&mut response, "verifying")?;
        read_json(&mut response).context("reading the verify report")
    }

    /// The recorder's address.
    pub fn url(&self) -> &str {
        &self.base
    }
}

fn filter_params(filter: &FilterArgs) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    if let Some(from) = filter.from {
        params.push(("from", from.to_rfc3339()));
    }
    if let Some(to) = filter.to {
        params.push(("to", to.to_rfc3339()));
    }
    if let Some(number) = &filter.number {
        params.push(("number", number.clone()));
    }
    if filter.recorded_only {
        params.push(("recorded_only", "true".into()));
    }
    params
}

fn read_json<T: serde::de::DeserializeOwned>(
    response: &mut Response<ureq::Body>,
) -> anyhow::Result<T> {
    // Journals can be large; the default limit (10 MB) is for casual use.
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()?;
    Ok(serde_json::from_str(&text)?)
}

/// Fails with the server's message unless the answer is a success.
fn check(response: &mut Response<ureq::Body>, doing: &str) -> anyhow::Result<()> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().chars().take(200).collect());
    bail!("{doing}: the recorder answered {status}: {message}")
}
