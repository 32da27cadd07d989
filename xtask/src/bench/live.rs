//! Live capture through the eBPF path: `recorder run` in a network namespace of our own,
//! capturing on one end of a veth pair, while tcpreplay sends a generated capture into the
//! other end from a second namespace at a set rate. The fastest rate with no capture loss is
//! found by doubling and halving, then one bisection step; then the loss at twice that rate.
//!
//! Needs root (namespaces, eBPF). Everything is created here and removed when done; the
//! traffic never leaves the two namespaces.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::Bench;
use super::measure::{self, Running};
use super::report::{Target, table, thousands};
use crate::traffic::Options;

/// One replay at one rate.
#[derive(Clone, Debug)]
pub struct Trial {
    /// The rate asked of tcpreplay, packets/s (`None`: `--topspeed`).
    pub asked: Option<u64>,
    /// Packets tcpreplay sent.
    pub sent: u64,
    /// The rate it reached, packets/s.
    pub sent_pps: f64,
    /// Frames the kernel program saw.
    pub seen: u64,
    /// Frames that reached the recorder.
    pub delivered: u64,
    /// Frames the ring buffer had no room for (capture loss).
    pub lost: u64,
    /// CPU seconds of the recorder process.
    pub cpu: f64,
    /// The machine's one-minute load average after the replay (others' work shows here).
    pub load: f64,
}

impl Trial {
    /// No capture loss: the kernel program saw every frame sent and had room in the ring
    /// buffer for every one it wanted to copy.
    pub fn lossless(&self) -> bool {
        self.lost == 0 && self.seen >= self.sent
    }

    /// Capture loss (ring buffer full, or frames the kernel program never saw) as a share of
    /// the frames sent.
    pub fn loss(&self) -> f64 {
        (self.lost + self.sent.saturating_sub(self.seen)) as f64 / self.sent as f64
    }

    /// Frames seen but neither copied nor lost: the kernel filter passed over them because
    /// userspace had not yet put their call's media address into its map.
    pub fn filtered(&self) -> u64 {
        self.seen.saturating_sub(self.delivered + self.lost)
    }
}

/// What the live part found.
pub struct Live {
    /// Every trial, in order.
    pub trials: Vec<Trial>,
    /// The fastest lossless one.
    pub best: Option<Trial>,
    /// The one at twice its rate (or the top-speed one, if the sender could not reach it).
    pub double: Option<Trial>,
    /// The one at the sender's top speed.
    pub top: Trial,
    /// How the recorder captured (from its status).
    pub source: String,
    /// Frames in the replayed capture.
    pub frames: u64,
}

/// Two namespaces joined by a veth pair; removed on drop.
struct Rig {
    capture_ns: String,
    sender_ns: String,
    capture_if: String,
    sender_if: String,
}

fn sh(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

impl Rig {
    fn new() -> anyhow::Result<Rig> {
        let id = std::process::id() % 100_000;
        let rig = Rig {
            capture_ns: format!("rbcap{id}"),
            sender_ns: format!("rbsnd{id}"),
            capture_if: format!("rbc{id}"),
            sender_if: format!("rbs{id}"),
        };
        for ns in [&rig.capture_ns, &rig.sender_ns] {
            sh(&["ip", "netns", "add", ns])?;
            sh(&["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])?;
            // No IPv6 chatter (router solicitations) on the link: only the replay.
            for setting in [
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ] {
                sh(&["ip", "netns", "exec", ns, "sysctl", "-qw", setting])?;
            }
        }
        sh(&[
            "ip",
            "link",
            "add",
            &rig.capture_if,
            "type",
            "veth",
            "peer",
            "name",
            &rig.sender_if,
        ])?;
        sh(&[
            "ip",
            "link",
            "set",
            &rig.capture_if,
            "netns",
            &rig.capture_ns,
        ])?;
        sh(&["ip", "link", "set", &rig.sender_if, "netns", &rig.sender_ns])?;
        for (ns, iface) in [
            (&rig.capture_ns, &rig.capture_if),
            (&rig.sender_ns, &rig.sender_if),
        ] {
            sh(&["ip", "netns", "exec", ns, "ip", "link", "set", iface, "up"])?;
        }
        Ok(rig)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for ns in [&self.capture_ns, &self.sender_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn status(data: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(data.join("status.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn count(status: &Value, field: &str) -> u64 {
    status[field].as_u64().unwrap_or(0)
}

/// Waits until the recorder has handled everything sent: two fresh statuses in a row with
/// the same counts.
fn wait_drained(data: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last: Option<(String, u64, u64)> = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let Some(s) = status(data) else { continue };
        let now = (
            s["updated_at"].as_str().unwrap_or("").to_string(),
            count(&s, "frames_seen"),
            count(&s, "frames_delivered") + count(&s, "capture_lost"),
        );
        match &last {
            Some(prev) if prev.0 != now.0 => {
                if prev.1 == now.1 && prev.2 == now.2 {
                    return Ok(());
                }
                last = Some(now);
            }
            Some(_) => {}
            None => last = Some(now),
        }
    }
    bail!("the recorder did not settle within two minutes")
}

/// Numbers from tcpreplay's report: packets sent and the rate reached.
fn tcpreplay_stats(stdout: &str) -> Option<(u64, f64)> {
    let actual = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Actual: "))?;
    let sent = actual.split(' ').next()?.parse().ok()?;
    let rated = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Rated: "))?;
    let pps = rated
        .split(", ")
        .find_map(|p| p.strip_suffix(" pps"))?
        .trim()
        .parse()
        .ok()?;
    Some((sent, pps))
}

fn trial(
    bench: &mut Bench,
    rig: &Rig,
    capture: &Path,
    config: &Path,
    asked: Option<u64>,
) -> anyhow::Result<(Trial, String)> {
    let data = bench.fresh_dir("live")?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &rig.capture_ns])
        .arg(&bench.recorder)
        .args(["run", "--data"])
        .arg(&data)
        .args(["--iface", &rig.capture_if, "--config"])
        .arg(config);
    // `ip netns exec` execs the recorder, so this pid (and its rusage) is the recorder's.
    let recorder: Running = measure::spawn(&mut cmd)?;
    bench
        .report
        .command("live capture", &measure::describe(&cmd));
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&data).is_none() {
        if Instant::now() > deadline {
            recorder.signal(libc::SIGKILL);
            let (_, m) = recorder.wait_any()?;
            bail!("recorder run did not start: {}", m.stderr);
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let rate = match asked {
        Some(pps) => format!("--pps={pps}"),
        None => "--topspeed".to_string(),
    };
    let mut replay = Command::new("ip");
    replay
        .args([
            "netns",
            "exec",
            &rig.sender_ns,
            "tcpreplay",
            "-i",
            &rig.sender_if,
            &rate,
        ])
        .arg(capture);
    let replayed = measure::run(&mut replay);
    let settled = replayed.as_ref().ok().map(|_| wait_drained(&data));
    recorder.signal(libc::SIGINT);
    let (code, measured) = recorder.wait_any()?;
    let replayed = replayed.context("tcpreplay (Debian package tcpreplay)")?;
    bench.report.command("replay", &replayed.command);
    if let Some(Err(err)) = settled {
        return Err(err);
    }
    if code != 0 {
        bail!("recorder run exited with {code}: {}", measured.stderr);
    }
    let (sent, sent_pps) = tcpreplay_stats(&replayed.stdout)
        .with_context(|| format!("no statistics from tcpreplay: {}", replayed.stdout))?;
    let last = status(&data).context("no final status")?;
    let result = Trial {
        asked,
        sent,
        sent_pps,
        seen: count(&last, "frames_seen"),
        delivered: count(&last, "frames_delivered"),
        lost: count(&last, "capture_lost"),
        cpu: measured.cpu(),
        load: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split(' ').next()?.parse().ok())
            .unwrap_or(f64::NAN),
    };
    eprintln!(
        "live {rate}: sent {} at {:.0} pps, seen {}, delivered {}, lost {}",
        result.sent, result.sent_pps, result.seen, result.delivered, result.lost
    );
    let source = last["source"].as_str().unwrap_or("").to_string();
    Ok((result, source))
}

/// Runs the live part; `None` when it cannot (not root, no tcpreplay).
pub fn run(bench: &mut Bench) -> anyhow::Result<Option<Live>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let body = "Skipped: network namespaces and eBPF need root.\n".to_string();
        bench.report.section("Live capture (eBPF)", body);
        return Ok(None);
    }
    let (calls, duration) = bench.sizes.live;
    // Long calls that all start within a second: after the short set-up, the replay is a
    // steady flood of RTP of calls the kernel already knows, which is what the capture path
    // must keep up with.
    let options = Options {
        calls,
        duration,
        ramp: Some(1.0),
        ..Options::default()
    };
    let (summary, capture) = bench.generate("live", &options)?;
    let never = bench.config("never")?;
    let rig = Rig::new()?;

    // First the fastest the sender can go (on two cores it shares the machine with the
    // recorder, and the kernel program runs in its softirq); then halve the interval between
    // the fastest lossless and the slowest lossy rate three times.
    let (top, source) = trial(bench, &rig, &capture, &never, None)?;
    let mut trials = vec![top.clone()];
    let mut good = top.lossless().then(|| top.clone());
    if good.is_none() {
        let (mut lo, mut hi) = (0.0, top.sent_pps);
        for _ in 0..3 {
            let mid = ((lo + hi) / 2.0 / 1000.0).round() as u64 * 1000;
            let (result, _) = trial(bench, &rig, &capture, &never, Some(mid))?;
            trials.push(result.clone());
            if result.lossless() {
                lo = mid as f64;
                good = Some(result);
            } else {
                hi = mid as f64;
            }
        }
    }
    // Twice the lossless rate, when the sender can reach it; else its top speed is the
    // nearest there is.
    let double = match &good {
        Some(g) if g.asked.is_none() => None,
        Some(g) if 2.0 * g.sent_pps <= top.sent_pps => {
            let asked = g.asked.map(|r| r * 2);
            let (result, _) = trial(bench, &rig, &capture, &never, asked)?;
            trials.push(result.clone());
            Some(result)
        }
        Some(_) => Some(top.clone()),
        None => None,
    };
    drop(rig);
    std::fs::remove_file(&capture).ok();

    let live = Live {
        trials,
        best: good,
        double,
        top,
        source,
        frames: summary.frames,
    };
    section(bench, &live, calls, duration);
    Ok(Some(live))
}

fn section(bench: &mut Bench, live: &Live, calls: u32, duration: f64) {
    let rows: Vec<Vec<String>> = live
        .trials
        .iter()
        .map(|t| {
            vec![
                t.asked.map_or("top speed".into(), |r| thousands(r as f64)),
                thousands(t.sent_pps),
                thousands(t.seen as f64),
                thousands(t.delivered as f64),
                thousands(t.lost as f64),
                format!("{:.2}%", t.loss() * 100.0),
                thousands(t.filtered() as f64),
                format!("{:.2} s", t.cpu),
                thousands(t.delivered as f64 / t.cpu),
                format!("{:.1}", t.load),
            ]
        })
        .collect();
    let body = format!(
        "`recorder run` ({}, 32 MiB ring buffer, recording off) on one end of a veth pair; \
         `tcpreplay --pps=N` sends a generated capture of {calls} calls of {duration:.0} s, \
         all started within the first second ({} frames, every one of them SIP or announced \
         RTP, so every one is copied to userspace) into the other end. A rate counts as \
         lossless when there is no capture loss: the kernel program saw every frame sent and \
         found room in the ring buffer for each. \"Filtered early\" counts frames the kernel \
         program passed over because they came before userspace had read the SDP announcing \
         their address and put it into the kernel's media map: the first packets of calls, \
         lost while userspace lags behind (it writes the journal on the capture thread). The \
         recorder does not count them as capture loss either. The recorder's CPU time is its \
         own process (userspace); the kernel program runs in the sender's softirq. Load is the \
         one-minute load average after each replay: what else ran on the two cores.\n\n{}",
        live.source,
        thousands(live.frames as f64),
        table(
            &[
                "asked pps",
                "sent pps",
                "seen",
                "delivered",
                "capture lost",
                "capture loss",
                "filtered early",
                "recorder CPU",
                "packets/s per core",
                "load"
            ],
            &rows
        )
    );
    bench.report.section("Live capture (eBPF)", body);
}

/// The live rows of the targets table.
pub fn targets(bench: &mut Bench, live: Option<&Live>) {
    let Some(live) = live else {
        bench.report.target(Target {
            target: "live: packets/s through the eBPF path with no capture loss".into(),
            measured: "not run".into(),
            met: None,
            note: "needs root".into(),
        });
        return;
    };
    let per_packet = |t: &Trial| t.cpu / t.delivered as f64 * 1e6;
    let (measured, note) = match (&live.best, &live.double) {
        (Some(best), None) => (
            format!(
                "no capture loss up to the sender's top speed, {} packets/s; twice that could \
                 not be sent here",
                thousands(best.sent_pps)
            ),
            format!(
                "the sender (tcpreplay and the kernel program in its softirq); the recorder \
                 used {:.2} µs CPU a packet",
                per_packet(best)
            ),
        ),
        (Some(best), Some(double)) => (
            format!(
                "{} packets/s with no capture loss; at {} packets/s{}, {:.1}% capture loss",
                thousands(best.sent_pps),
                thousands(double.sent_pps),
                if double.asked.is_none() {
                    " (the sender's top speed, short of twice)"
                } else {
                    ""
                },
                double.loss() * 100.0
            ),
            format!(
                "the recorder's one thread ({:.2} µs CPU a packet) sharing two cores with the \
                 sender and other work (load {:.1}); {} frames filtered early at the lossless \
                 rate",
                per_packet(best),
                best.load,
                thousands(best.filtered() as f64)
            ),
        ),
        (None, _) => (
            format!(
                "capture loss at every rate tried, down to {} packets/s",
                thousands(
                    live.trials
                        .iter()
                        .map(|t| t.sent_pps)
                        .fold(f64::INFINITY, f64::min)
                )
            ),
            String::new(),
        ),
    };
    bench.report.target(Target {
        target: "live: packets/s through the eBPF path with no capture loss, and the loss at \
                 twice that rate (no target number in the issue)"
            .into(),
        measured,
        met: None,
        note,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tcpreplay() {
        let text = "Actual: 300591 packets (64494393 bytes) sent in 1.51 seconds\n\
                    Rated: 42712327.5 Bps, 341.69 Mbps, 199073.11 pps\n";
        assert_eq!(tcpreplay_stats(text), Some((300_591, 199_073.11)));
    }
}
