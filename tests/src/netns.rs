//! Network namespaces, veth pairs and a recorder process inside them, for the live tests.
//! Everything is created by the test and removed when the guard drops; traffic stays inside
//! the namespaces.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call, within the 15 characters interfaces allow.
pub fn unique(prefix: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}{n}", std::process::id() % 100_000)
}

/// Fails the test unless it runs as root (namespaces, eBPF and tc need it).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc_geteuid() };
    assert_eq!(
        euid, 0,
        "live capture tests need root (network namespaces, eBPF); CI runs as root"
    );
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Runs a command, failing the test with its output if it fails.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace, deleted on drop.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates a namespace with loopback up.
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns.run(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.run(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        ns
    }

    /// A command to run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs a command inside the namespace, failing the test if it fails.
    pub fn run(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh(&full);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Creates a veth pair with one end in each namespace, both up; returns the end names.
pub fn veth(a: &Netns, b: &Netns) -> (String, String) {
    let (ea, eb) = (unique("va"), unique("vb"));
    sh(&[
        "ip", "link", "add", &ea, "type", "veth", "peer", "name", &eb,
    ]);
    sh(&["ip", "link", "set", &ea, "netns", &a.name]);
    sh(&["ip", "link", "set", &eb, "netns", &b.name]);
    a.run(&["ip", "link", "set", &ea, "up"]);
    b.run(&["ip", "link", "set", &eb, "up"]);
    (ea, eb)
}

/// Replays a capture into `iface` inside `ns`; `speed` multiplies the recorded timing
/// (`top`: as fast as possible).
pub fn replay(ns: &Netns, iface: &str, capture: &Path, speed: &str) {
    let out = replay_command(ns, iface, capture, speed)
        .output()
        .expect("tcpreplay");
    assert!(
        out.status.success(),
        "tcpreplay: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tcpreplay command [`replay`] runs, to start it in the background.
pub fn replay_command(ns: &Netns, iface: &str, capture: &Path, speed: &str) -> Command {
    let mut cmd = ns.command("tcpreplay");
    cmd.args(["-q", "-i", iface]);
    match speed {
        "top" => cmd.arg("--topspeed"),
        x => cmd.arg(format!("--multiplier={x}")),
    };
    cmd.arg(capture);
    cmd
}

/// Two namespaces joined by a veth pair: the recorder captures in one, traffic is replayed
/// from the other.
pub struct Rig {
    /// Where `recorder run` captures.
    pub capture_ns: Netns,
    /// Where tcpreplay sends from.
    pub sender_ns: Netns,
    /// The capture end of the pair.
    pub capture_if: String,
    /// The sending end.
    pub sender_if: String,
}

/// Creates a [`Rig`]; fails the test unless run as root with tcpreplay installed.
pub fn rig() -> Rig {
    require_root();
    crate::require_tool("tcpreplay", "tcpreplay");
    let capture_ns = Netns::new("rc");
    let sender_ns = Netns::new("rs");
    let (capture_if, sender_if) = veth(&capture_ns, &sender_ns);
    Rig {
        capture_ns,
        sender_ns,
        capture_if,
        sender_if,
    }
}

/// A `recorder run` process inside a namespace.
pub struct RunningRecorder {
    child: Option<Child>,
    /// Its data folder.
    pub data: PathBuf,
    log: PathBuf,
}

impl RunningRecorder {
    /// Starts `recorder run --data DATA --iface IFACE` with extra arguments and waits until it
    /// captures (its status file appears).
    pub fn start(ns: &Netns, data: &Path, iface: &str, extra: &[&str]) -> RunningRecorder {
        let log = data.with_extension("log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = ns.command(crate::recorder_bin().to_str().unwrap());
        cmd.args(["run", "--data", data.to_str().unwrap(), "--iface", iface])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = cmd.spawn().expect("start recorder run");
        let recorder = RunningRecorder {
            child: Some(child),
            data: data.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !data.join("status.json").exists() {
            assert!(
                Instant::now() < deadline,
                "recorder did not start: {}",
                recorder.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        recorder
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its status file, parsed (written every two seconds).
    pub fn status(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.data.join("status.json")).expect("status.json");
        serde_json::from_str(&text).expect("status JSON")
    }

    /// Waits until the status file is newer than now (a fresh reading of the counters).
    pub fn fresh_status(&self) -> serde_json::Value {
        let before = std::fs::metadata(self.data.join("status.json"))
            .and_then(|m| m.modified())
            .ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = std::fs::metadata(self.data.join("status.json"))
                .and_then(|m| m.modified())
                .ok();
            if now != before {
                return self.status();
            }
            assert!(
                Instant::now() < deadline,
                "status not updated: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills it with SIGKILL (a crash: no handler runs) and waits; returns its log.
    pub fn kill9(mut self) -> String {
        let mut child = self.child.take().expect("running");
        sh(&["kill", "-KILL", &child.id().to_string()]);
        let _ = child.wait();
        self.log()
    }

    /// Its peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.pid())
    }

    /// Stops it with SIGINT and waits; returns its log.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().expect("running");
        sh(&["kill", "-INT", &child.id().to_string()]);
        let status = child.wait().expect("wait");
        let log = self.log();
        assert!(status.success(), "recorder run exited with {status}: {log}");
        log
    }
}

impl Drop for RunningRecorder {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The peak resident memory (VmHWM) of a running process, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
