//! `recorder import` through the whole pipeline: throughput with recording off and on, the
//! real-time capacity that follows from it, and memory per concurrent call.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use recorder::journal::{CallFilter, JournalReader};

use super::Bench;
use super::measure::{self, Measured};
use super::peers::Peers;
use super::profile::Profiles;
use super::report::{Target, table, thousands};
use crate::traffic::{Options, Summary};

/// What the import runs on the throughput capture found.
pub struct Throughput {
    /// The capture.
    pub capture: PathBuf,
    /// How it was generated.
    pub options: Options,
    /// What the generator put in it.
    pub summary: Summary,
    /// Imports with `default = "never"`: decode, streams and journal, no audio.
    pub off: measure::Summary,
    /// Imports with `default = "always"`: every call recorded.
    pub on: measure::Summary,
    /// Seconds of stereo audio the recording-on import wrote (sum of its segments).
    pub audio_seconds: f64,
    /// Segments it wrote.
    pub segments: usize,
}

impl Throughput {
    /// Packets per CPU second.
    pub fn packets_per_cpu_second(&self, m: &measure::Summary) -> f64 {
        self.summary.frames as f64 / m.cpu
    }

    /// Concurrent recorded calls one core keeps up with: seconds of call audio recorded per
    /// CPU second of the whole import (each call up for a second brings a second of audio).
    pub fn capacity(&self) -> f64 {
        self.audio_seconds / self.on.cpu
    }
}

/// Packets and calls from the summary line `recorder import` prints.
fn imported(stderr: &str) -> Option<(u64, u64)> {
    let line = stderr.lines().find(|l| l.starts_with("imported "))?;
    let rest = line.split_once("file(s): ")?.1;
    let mut numbers = rest
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse::<u64>().ok());
    let packets = numbers.next()?;
    let _sip = numbers.next()?;
    let calls = numbers.next()?;
    Some((packets, calls))
}

/// Imports `capture` into a fresh data folder; checks every packet and call arrived.
pub fn import(
    bench: &mut Bench,
    capture: &Path,
    config: &Path,
    data: &str,
    expect: &Summary,
    what: &str,
) -> anyhow::Result<(Measured, PathBuf)> {
    let dir = bench.fresh_dir(data)?;
    let mut cmd = Command::new(&bench.recorder);
    cmd.arg("import")
        .arg("--data")
        .arg(&dir)
        .arg("--config")
        .arg(config)
        .arg(capture);
    let measured = measure::run(&mut cmd)?;
    bench.report.command(what, &measured.command);
    let (packets, calls) = imported(&measured.stderr)
        .with_context(|| format!("no summary from the import: {}", measured.stderr))?;
    if packets != expect.frames || calls != expect.calls.len() as u64 {
        bail!(
            "the import saw {packets} packets and {calls} calls, the capture has {} and {}",
            expect.frames,
            expect.calls.len()
        );
    }
    eprintln!(
        "{what}: {:.2} s CPU, {:.2} s wall, {} MiB peak",
        measured.cpu(),
        measured.wall,
        measured.max_rss_kib / 1024
    );
    Ok((measured, dir))
}

/// Sum of segment lengths and number of segments in a data folder.
fn recorded(dir: &Path) -> anyhow::Result<(f64, usize)> {
    let journal = JournalReader::open(dir)?;
    let calls = journal.calls(&CallFilter::default())?;
    let segments = calls.iter().flat_map(|c| &c.segments);
    let seconds = segments.clone().filter_map(|s| s.duration_s).sum();
    Ok((seconds, segments.count()))
}

/// Import throughput with recording off and on.
pub fn throughput(bench: &mut Bench) -> anyhow::Result<Throughput> {
    let (calls, duration) = bench.sizes.throughput;
    let options = Options {
        calls,
        duration,
        ..Options::default()
    };
    let (summary, capture) = bench.generate("throughput", &options)?;
    let (never, always) = (bench.config("never")?, bench.config("always")?);

    let mut off = Vec::new();
    for _ in 0..bench.sizes.runs {
        let what = "import, recording off";
        off.push(import(bench, &capture, &never, "import-off", &summary, what)?.0);
    }
    let mut on = Vec::new();
    let mut data = PathBuf::new();
    for _ in 0..bench.sizes.slow_runs {
        let (m, dir) = import(
            bench,
            &capture,
            &always,
            "import-on",
            &summary,
            "import, recording on",
        )?;
        on.push(m);
        data = dir;
    }
    let (audio_seconds, segments) = recorded(&data)?;
    if segments != summary.calls.len() {
        bail!(
            "recording on wrote {segments} segments for {} calls",
            summary.calls.len()
        );
    }
    let result = Throughput {
        capture,
        options,
        off: measure::Summary::of(&off),
        on: measure::Summary::of(&on),
        audio_seconds,
        segments,
        summary,
    };

    let row = |name: &str, m: &measure::Summary| {
        vec![
            name.to_string(),
            format!("{:.2} s ({:.2}-{:.2})", m.cpu, m.cpu_min, m.cpu_max),
            format!("{:.2} s", m.wall),
            thousands(result.packets_per_cpu_second(m)),
            format!("{:.0}", result.summary.calls.len() as f64 / m.cpu),
            format!("{} MiB", m.max_rss_kib / 1024),
        ]
    };
    let body = format!(
        "`recorder import` of one generated capture: {calls} calls of {duration:.0} s each, all \
         up at once, {} frames ({} SIP, {} RTP G.711 at 20 ms), {:.0} MB. Recording off is \
         `default = \"never\"` (decode, SIP dialogs, RTP stream statistics, journal); \
         recording on is `default = \"always\"` (also G.711 decoding, alignment and stereo \
         Opus encoding with the default settings: SILK, complexity 0, 32 kbit/s; {} segments, \
         {:.0} s of audio).\n\n{}\n\
         Recording costs {:.2} CPU-seconds more for {:.0} s of stereo audio: {:.1} ms per \
         second of audio.\n",
        thousands(result.summary.frames as f64),
        result.summary.sip_messages,
        thousands(result.summary.rtp_packets as f64),
        result.summary.bytes as f64 / 1e6,
        result.segments,
        result.audio_seconds,
        table(
            &[
                "",
                "CPU (median, min-max)",
                "wall (median)",
                "packets/s per core",
                "calls/s per core",
                "peak RSS"
            ],
            &[
                row("recording off", &result.off),
                row("recording on", &result.on)
            ],
        ),
        result.on.cpu - result.off.cpu,
        result.audio_seconds,
        (result.on.cpu - result.off.cpu) / result.audio_seconds * 1000.0,
    );
    bench.report.section("Import throughput", body);
    Ok(result)
}

/// The real-time capacity section.
pub fn capacity(bench: &mut Bench, t: &Throughput, peers: &Peers, profiles: Option<&Profiles>) {
    let encoding = profiles
        .and_then(|p| p.on.share(&["libopus"]))
        .map(|share| {
            format!(
                " perf finds {:.0}% of the recording-on import's time in libopus.",
                share * 100.0
            )
        })
        .unwrap_or_default();
    let body = format!(
        "A recorded G.711 call brings 100 packets and one second of stereo audio per second. \
         The import with recording on did everything a live recorder does after capture for \
         {audio:.0} s of call audio in {cpu:.2} CPU-seconds, so one core keeps up with \
         **{cap:.0} concurrent recorded calls** in real time (audio seconds recorded per \
         CPU-second of the whole import). With recording off, one core keeps up with {off:.0} \
         concurrent calls ({pps} packets/s per core at 100 packets/s a call).{encoding}\n\n\
         For scale: opusenc alone encodes the same audio at {opus:.0} seconds of audio per \
         CPU-second.\n",
        audio = t.audio_seconds,
        cpu = t.on.cpu,
        cap = t.capacity(),
        off = t.packets_per_cpu_second(&t.off) / 100.0,
        pps = thousands(t.packets_per_cpu_second(&t.off)),
        opus = peers.opus_seconds / peers.opusenc.cpu,
    );
    bench.report.section("Real-time capacity", body);
}

/// Peak memory of imports at two numbers of concurrent calls.
pub struct Memory {
    /// Calls up at once in the two captures.
    pub concurrent: [u32; 2],
    /// Peak RSS with recording off, KiB.
    pub off: [u64; 2],
    /// Peak RSS with recording on, KiB.
    pub on: [u64; 2],
}

impl Memory {
    /// Peak RSS growth per concurrent call, KiB.
    pub fn per_call(&self, rss: [u64; 2]) -> f64 {
        (rss[1] as f64 - rss[0] as f64) / f64::from(self.concurrent[1] - self.concurrent[0])
    }
}

/// Peak RSS of imports of captures with two numbers of concurrent calls.
pub fn memory(bench: &mut Bench) -> anyhow::Result<Memory> {
    let (counts, duration) = bench.sizes.memory;
    let (never, always) = (bench.config("never")?, bench.config("always")?);
    let mut result = Memory {
        concurrent: [0; 2],
        off: [0; 2],
        on: [0; 2],
    };
    let mut rows = Vec::new();
    for (i, calls) in counts.into_iter().enumerate() {
        // Answers come 0.5 to 2.5 s after the INVITE: with starts spread over 0.5 s and 3 s
        // calls, all of them are talking between 3.0 and 3.5 s.
        let options = Options {
            calls,
            duration,
            ramp: Some(0.5),
            ..Options::default()
        };
        let name = format!("memory-{calls}");
        let (summary, capture) = bench.generate(&name, &options)?;
        result.concurrent[i] = summary.max_concurrent;
        let (off, _) = import(
            bench,
            &capture,
            &never,
            "memory-off",
            &summary,
            "import for memory, recording off",
        )?;
        let (on, _) = import(
            bench,
            &capture,
            &always,
            "memory-on",
            &summary,
            "import for memory, recording on",
        )?;
        result.off[i] = off.max_rss_kib;
        result.on[i] = on.max_rss_kib;
        rows.push(vec![
            thousands(f64::from(summary.max_concurrent)),
            thousands(summary.frames as f64),
            format!("{:.1} MiB", off.max_rss_kib as f64 / 1024.0),
            format!("{:.1} MiB", on.max_rss_kib as f64 / 1024.0),
        ]);
        std::fs::remove_file(&capture).ok();
    }
    rows.push(vec![
        "growth per call".into(),
        String::new(),
        format!("{:.1} KiB", result.per_call(result.off)),
        format!("{:.1} KiB", result.per_call(result.on)),
    ]);
    let body = format!(
        "Peak RSS (`ru_maxrss`) of `recorder import` of captures whose calls ({duration:.0} s \
         each, starts spread over half a second) are all up, and talking, at once; one run \
         each. Growth per call is the difference between the two runs divided by the \
         difference in concurrent calls: what one more active call costs, the process's fixed \
         part (DuckDB, libraries) taken out. With recording off nothing of a call's audio is \
         buffered, so that column is the memory per active call outside audio buffers; \
         recording on adds the Opus encoder, the jitter buffer and the Ogg page being filled. \
         It includes the journal rows DuckDB holds for the call until its commit.\n\n{}",
        table(
            &[
                "concurrent calls",
                "frames",
                "recording off",
                "recording on"
            ],
            &rows
        )
    );
    bench.report.section("Memory per call", body);
    Ok(result)
}

/// The import targets against what was measured.
pub fn targets(
    bench: &mut Bench,
    t: &Throughput,
    peers: &Peers,
    memory: &Memory,
    profiles: Option<&Profiles>,
) {
    let pps = t.packets_per_cpu_second(&t.off);
    let hot = |p: Option<&super::profile::Profile>| {
        p.map(|p| format!("; perf: most time in {}", p.top_names(3)))
            .unwrap_or_default()
    };
    bench.report.target(Target {
        target: "import, recording off: >= 1,000,000 packets/s per core".into(),
        measured: format!("{} packets/s per core", thousands(pps)),
        met: Some(pps >= 1e6),
        note: format!(
            "{:.2} µs of CPU a packet{}",
            1e6 / pps,
            hot(profiles.map(|p| &p.off))
        ),
    });
    let ratio = peers.tshark.cpu / t.off.cpu;
    bench.report.target(Target {
        target: format!(
            "import, recording off: >= 10x tshark's speed on the same file ({} packets, {} calls)",
            thousands(t.summary.frames as f64),
            t.summary.calls.len()
        ),
        measured: format!(
            "{ratio:.2}x (tshark {:.2} s CPU, import {:.2} s)",
            peers.tshark.cpu, t.off.cpu
        ),
        met: Some(ratio >= 10.0),
        note: "bound by the same per-packet cost as the line above".into(),
    });
    let ratio = peers.opusenc.cpu / t.on.cpu;
    let encoding = profiles
        .and_then(|p| p.on.share(&["libopus"]))
        .map(|s| {
            format!(
                "libopus is {:.0}% of the import's CPU time (perf)",
                s * 100.0
            )
        })
        .unwrap_or_default();
    bench.report.target(Target {
        target: "import, recording on: no slower than `opusenc --comp 0` alone on the same audio"
            .into(),
        measured: format!(
            "opusenc {:.2} s CPU, import {:.2} s: the import takes {:.2}x opusenc's time",
            peers.opusenc.cpu,
            t.on.cpu,
            1.0 / ratio
        ),
        met: Some(t.on.cpu <= peers.opusenc.cpu),
        note: encoding,
    });
    let capacity = t.capacity();
    bench.report.target(Target {
        target: ">= 1,000 concurrent recorded G.711 calls per core in real time".into(),
        measured: format!("{capacity:.0} calls per core"),
        met: Some(capacity >= 1000.0),
        note: format!(
            "{:.1} ms of CPU per second of call; of that, recording (decode, align, encode, \
             write) {:.1} ms{}",
            1000.0 / capacity,
            (t.on.cpu - t.off.cpu) / t.audio_seconds * 1000.0,
            hot(profiles.map(|p| &p.on))
        ),
    });
    let per_call = memory.per_call(memory.off);
    bench.report.target(Target {
        target: "< 64 KiB memory per active call outside audio buffers".into(),
        measured: format!(
            "{per_call:.1} KiB per call (recording off; {:.1} KiB with recording on); peak {:.0} \
             MiB at {} concurrent calls recorded, {:.0} MiB not recorded",
            memory.per_call(memory.on),
            memory.on[1] as f64 / 1024.0,
            thousands(f64::from(memory.concurrent[1])),
            memory.off[1] as f64 / 1024.0,
        ),
        met: Some(per_call < 64.0),
        note: "growth of peak RSS between two imports; includes journal rows held until commit"
            .into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_import_summary() {
        let text = "imported 1 of 1 file(s): 300591 packets, 800 SIP messages, 100 calls, 0 \
                    recorded (0 segments) in 1.22s\n";
        assert_eq!(imported(text), Some((300_591, 100)));
        assert_eq!(imported("error: x"), None);
    }
}
