//! The web journal in a real browser: Debian's chromium, headless, driven through
//! chromedriver (WebDriver, with fantoccini) against `recorder serve` on a journal imported
//! from real captures. Logs in, checks the REC marks, opens a recorded call, plays a
//! recording until the player is past one second, downloads it and checks its SHA-256
//! against the journal, and finds the play and the download in the audit log.
//!
//! Screenshots of the list and the call (desktop and phone widths) are saved under
//! `<target dir>/web-screenshots/` (the path is printed).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::web::{Client as Http, PASSWORD, Server, add_user, journal_with_calls};
use tests::{calls_json, recorder_bin, require_tool};

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        require_tool("chromedriver", "chromium-driver");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    require_tool("chromium", "chromium");
    let options = json!({
        "binary": "/usr/bin/chromium",
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--mute-audio", "--window-size=1280,900",
            format!("--user-data-dir={}", profile.display()),
        ],
        "prefs": {
            "download.default_directory": downloads.display().to_string(),
            "download.prompt_for_download": false,
        },
    });
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session with chromium")
}

fn screenshot_dir() -> PathBuf {
    // target/release/recorder -> target/web-screenshots
    let dir = recorder_bin()
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("web-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// Evaluates a script until it returns true, or fails after `limit`.
async fn wait_until(client: &Client, script: &str, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let value = client.execute(script, vec![]).await.expect("script");
        if value == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The one finished download in a folder, once chromium has written it.
async fn downloaded(dir: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        let done: Vec<&PathBuf> = files
            .iter()
            .filter(|p| !p.to_string_lossy().ends_with(".crdownload"))
            .collect();
        if files.len() == 1 && done.len() == 1 {
            return done[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no download in {}: {files:?}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_supervisor_logs_in_plays_and_downloads_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let data = journal_with_calls(dir.path());
    add_user(&data, "sup", "supervisor", None);
    add_user(&data, "root", "admin", None);
    let calls = calls_json(&data);
    let server = Server::start(&data);
    let driver = Driver::start();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let client = browser(&driver, &dir.path().join("profile"), &downloads).await;

    // The steps run as a task so that a failed assertion still ends the WebDriver session:
    // killing chromedriver alone would leave chromium running.
    let steps = tokio::spawn(supervisor_session(
        client.clone(),
        server.url.clone(),
        calls,
        downloads,
    ))
    .await;
    let _ = client.close().await;
    if let Err(err) = steps {
        std::panic::resume_unwind(err.into_panic());
    }
}

async fn supervisor_session(client: Client, base: String, calls: Vec<Value>, downloads: PathBuf) {
    // Logged out, the journal sends the browser to the login page.
    client.goto(&base).await.unwrap();
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), "/login");
    client
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("sup")
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    client
        .find(Locator::Css("#login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("table.calls"))
        .await
        .unwrap();

    // REC on exactly the recorded calls, newest first.
    let mut shown: Vec<(i64, bool)> = Vec::new();
    for row in client.find_all(Locator::Css("tr.call")).await.unwrap() {
        let id: i64 = row
            .attr("data-call-id")
            .await
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        let rec = row.find_all(Locator::Css(".rec")).await.unwrap();
        if let Some(mark) = rec.first() {
            assert_eq!(mark.text().await.unwrap(), "REC");
        }
        shown.push((id, !rec.is_empty()));
    }
    let expected: Vec<(i64, bool)> = calls
        .iter()
        .map(|c| (c["id"].as_i64().unwrap(), c["recorded"].as_bool().unwrap()))
        .collect();
    assert_eq!(shown, expected);
    assert!(shown.iter().any(|(_, rec)| *rec) && shown.iter().any(|(_, rec)| !*rec));
    save_screenshot(&client, "calls-desktop.png").await;

    // Open the recorded call with two segments.
    let call = calls
        .iter()
        .find(|c| c["segments"].as_array().unwrap().len() == 2)
        .expect("the record-button call");
    let id = call["id"].as_i64().unwrap();
    let segment = &call["segments"][0];
    let segment_id = segment["id"].as_i64().unwrap();
    client
        .find(Locator::Css(&format!("tr[data-call-id='{id}'] a")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#recordings .segment"))
        .await
        .unwrap();
    let page = client.source().await.unwrap();
    assert!(page.contains(call["decision"].as_str().unwrap()));
    let segments = client
        .find_all(Locator::Css("#recordings .segment audio"))
        .await
        .unwrap();
    assert_eq!(segments.len(), 2);
    let ladder_rows = client
        .find_all(Locator::Css("table.ladder tbody tr"))
        .await
        .unwrap();
    assert!(
        ladder_rows.len() >= 5,
        "SIP ladder has {} rows",
        ladder_rows.len()
    );
    save_screenshot(&client, "call-desktop.png").await;
    for section in ["recordings", "ladder", "quality"] {
        let element = client.find(Locator::Id(section)).await.unwrap();
        let png = element.screenshot().await.expect("element screenshot");
        let path = screenshot_dir().join(format!("call-{section}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    // Press play: the player must get past one second of audio.
    client
        .find(Locator::Css(&format!(
            ".segment[data-segment-id='{segment_id}'] button.play"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let audio = format!("document.getElementById('audio-{segment_id}')");
    wait_until(
        &client,
        &format!("return {audio}.currentTime > 1.0;"),
        Duration::from_secs(30),
        "the player to pass one second",
    )
    .await;
    let error = client
        .execute(
            &format!("return {audio}.error && {audio}.error.message;"),
            vec![],
        )
        .await
        .unwrap();
    assert!(error.is_null(), "player error: {error}");
    client
        .execute(&format!("{audio}.pause();"), vec![])
        .await
        .unwrap();

    // Download: the bytes must be the journal's recording.
    client
        .find(Locator::Css(&format!(
            ".segment[data-segment-id='{segment_id}'] a.download"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let file = downloaded(&downloads).await;
    let digest = hex::encode(Sha256::digest(std::fs::read(&file).unwrap()));
    assert_eq!(digest, segment["sha256"].as_str().unwrap());

    // The phone layout.
    client.set_window_size(390, 844).await.unwrap();
    save_screenshot(&client, "call-phone.png").await;
    client.goto(&base).await.unwrap();
    client
        .execute(
            "document.querySelector('table.calls').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    save_screenshot(&client, "calls-phone.png").await;

    // The play and the download are in the audit log, by the browser's user.
    let root = Http::logged_in(&base, "root");
    let log = root.get("/api/v1/audit").json();
    let mine = |action: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action && e["user"] == "sup" && e["recording"] == segment_id)
            .count()
    };
    assert!(mine("play") >= 1, "no play audited: {log}");
    assert_eq!(mine("download"), 1, "{log}");
}
