//! Where the time goes: `perf record` (CPU-clock sampling with DWARF call graphs) of one
//! import with recording off and one with recording on, of the throughput capture.
//!
//! Sampling, not counting: this VM has no hardware counters (`perf stat -e instructions` says
//! "not supported"), and callgrind misleads here, because valgrind hides SHA-NI from the CPU
//! feature check, so SHA-256 would run its software fallback and look many times dearer than
//! it is.

use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::Bench;
use super::import::Throughput;
use super::measure;
use super::report::table;

/// Samples per second for the recording-off import (short) and the recording-on one.
const FREQUENCY: [u32; 2] = [4000, 500];

/// What one profiled import spent its time on, as shares of all samples.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// Samples taken.
    pub samples: u64,
    /// Self time by part of the program.
    pub groups: Vec<(String, f64)>,
    /// Functions with the most self time.
    pub top_self: Vec<(String, f64)>,
    /// Recorder functions with the most time including what they call.
    pub top_inclusive: Vec<(String, f64)>,
}

impl Profile {
    /// The summed share of some groups (by name prefix), if profiled.
    pub fn share(&self, prefixes: &[&str]) -> Option<f64> {
        Some(
            self.groups
                .iter()
                .filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p)))
                .map(|(_, share)| share)
                .sum(),
        )
    }

    /// The `n` largest groups, as words.
    pub fn top_names(&self, n: usize) -> String {
        self.groups
            .iter()
            .take(n)
            .map(|(name, share)| format!("{name} {:.0}%", share * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The two profiles.
pub struct Profiles {
    /// Recording off.
    pub off: Profile,
    /// Recording on.
    pub on: Profile,
}

/// The part of the program a sampled function belongs to.
fn group(dso: &str, symbol: &str) -> &'static str {
    let malloc = [
        "malloc",
        "free",
        "_int_",
        "cfree",
        "unlink_chunk",
        "realloc",
        "calloc",
        "operator new",
        "operator delete",
        "tcache",
    ];
    if dso.contains("libopus") {
        "libopus (Opus encoding)"
    } else if symbol.contains("duckdb") {
        "DuckDB (journal)"
    } else if dso.contains("libstdc++") {
        if malloc.iter().any(|m| symbol.contains(m)) {
            "malloc/free"
        } else {
            "DuckDB (journal)"
        }
    } else if dso.starts_with("[kernel") {
        "kernel (read, write, fsync, threads)"
    } else if symbol.contains("sha2::") {
        "SHA-256 (file and recording digests)"
    } else if dso.contains("libpcap") || symbol.contains("fread") || symbol.contains("_IO_") {
        "libpcap (reading the file)"
    } else if dso.starts_with("libc") && malloc.iter().any(|m| symbol.contains(m)) {
        "malloc/free"
    } else if symbol.contains("core::hash::sip") || symbol.contains("RandomState") {
        "hashing (SipHash in HashMaps)"
    } else if symbol.contains("recorder::wire") {
        "recorder::wire (decode)"
    } else if symbol.contains("recorder::dialog") || symbol.contains("recorder::media::codec") {
        "recorder::dialog (correlator)"
    } else if symbol.contains("recorder::media") || symbol.contains("ogg::") {
        "recorder::media (decode, align, Ogg)"
    } else if symbol.contains("recorder::") {
        "recorder (pipeline, journal calls)"
    } else if dso.starts_with("libc") {
        "libc (memcpy, locks, other)"
    } else {
        "other"
    }
}

/// Reads `perf report --stdio` lines: percentages, then `dso [.] symbol` or `[.] symbol`.
fn lines(text: &str) -> Vec<(Vec<f64>, String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut percents = Vec::new();
            let mut rest = l.trim_start();
            while let Some((p, tail)) = rest.split_once('%') {
                let Ok(value) = p.trim().parse::<f64>() else {
                    break;
                };
                percents.push(value / 100.0);
                rest = tail.trim_start();
            }
            if percents.is_empty() {
                return None;
            }
            // `[.]` marks a user-space symbol, `[k]` a kernel one; the DSO comes before it.
            let marker = rest.find("[.] ").or_else(|| rest.find("[k] "));
            let (dso, symbol) = match marker {
                // perf pads the symbol column and may add empty ones after it.
                Some(at) => {
                    let symbol = rest[at + 4..].split("  ").next().unwrap_or("");
                    (rest[..at].trim(), symbol.trim())
                }
                None => ("", rest.trim()),
            };
            Some((percents, dso.to_string(), symbol.to_string()))
        })
        .collect()
}

fn report(data: &Path, args: &[&str]) -> anyhow::Result<String> {
    // --no-inline: resolving inlined frames runs addr2line per address on a binary with
    // DuckDB's debug info, which takes minutes.
    let out = Command::new("perf")
        .arg("report")
        .arg("-i")
        .arg(data)
        .args(["--no-inline", "--stdio", "-g", "none"])
        .args(args)
        .output()
        .context("perf report")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn profile_import(
    bench: &mut Bench,
    t: &Throughput,
    config: &Path,
    frequency: u32,
    name: &str,
) -> anyhow::Result<Profile> {
    let dir = bench.fresh_dir(&format!("profile-{name}"))?;
    let data = bench.work.join(format!("perf-{name}.data"));
    let mut cmd = Command::new("perf");
    cmd.args([
        "record",
        "-q",
        "-e",
        "cpu-clock",
        "-F",
        &frequency.to_string(),
    ])
    .args(["--call-graph", "dwarf,16384", "-o"])
    .arg(&data)
    .arg(&bench.recorder)
    .arg("import")
    .arg("--data")
    .arg(&dir)
    .arg("--config")
    .arg(config)
    .arg(&t.capture);
    let measured = measure::run(&mut cmd)?;
    bench
        .report
        .command(&format!("profile, recording {name}"), &measured.command);

    let flat = report(
        &data,
        &[
            "--no-children",
            "--sort",
            "dso,symbol",
            "--percent-limit",
            "0",
        ],
    )?;
    let mut profile = Profile::default();
    let by_dso = report(&data, &["--no-children", "--sort", "dso", "-n"])?;
    profile.samples = lines(&by_dso)
        .iter()
        .filter_map(|(_, _, rest)| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    let mut groups: Vec<(String, f64)> = Vec::new();
    for (percents, dso, symbol) in lines(&flat) {
        let name = group(&dso, &symbol);
        match groups.iter_mut().find(|(g, _)| g == name) {
            Some((_, share)) => *share += percents[0],
            None => groups.push((name.to_string(), percents[0])),
        }
        // Libraries shipped without symbols (Debian's libopus) show as addresses: one line
        // per library instead.
        let function = if symbol.starts_with("0x") {
            format!("functions without symbols ({dso})")
        } else {
            format!("{symbol} ({dso})")
        };
        match profile.top_self.iter_mut().find(|(f, _)| *f == function) {
            Some((_, share)) => *share += percents[0],
            None => profile.top_self.push((function, percents[0])),
        }
    }
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    profile.top_self.sort_by(|a, b| b.1.total_cmp(&a.1));
    profile.top_self.truncate(12);
    profile.groups = groups;

    let tree = report(
        &data,
        &["--children", "--sort", "symbol", "--percent-limit", "1"],
    )?;
    profile.top_inclusive = lines(&tree)
        .into_iter()
        .filter(|(p, _, s)| p.len() == 2 && s.contains("recorder::") && !s.contains("main"))
        .filter(|(_, _, s)| !s.contains("cli::run") && !s.contains("import::run"))
        .take(14)
        .map(|(p, _, s)| (s, p[0]))
        .collect();
    std::fs::remove_file(&data).ok();
    Ok(profile)
}

/// Profiles both imports, if perf is there.
pub fn run(bench: &mut Bench, t: &Throughput) -> anyhow::Result<Option<Profiles>> {
    if Command::new("perf").arg("version").output().is_err() {
        eprintln!("perf not found (Debian package linux-perf): no profile");
        return Ok(None);
    }
    let (never, always) = (bench.config("never")?, bench.config("always")?);
    let off = profile_import(bench, t, &never, FREQUENCY[0], "off")?;
    let on = profile_import(bench, t, &always, FREQUENCY[1], "on")?;
    Ok(Some(Profiles { off, on }))
}

impl Profiles {
    /// The report section.
    pub fn markdown(&self) -> String {
        let percent = |x: f64| format!("{:.1}%", x * 100.0);
        let mut out = String::from(
            "`perf record -e cpu-clock --call-graph dwarf` of one import of the throughput \
             capture each way (all threads, DuckDB's included). Shares are of all samples. \
             This VM has no hardware counters for `perf stat`, and callgrind is not used: \
             valgrind hides SHA-NI, so SHA-256 would look many times dearer than it is.\n\n",
        );
        for (name, p) in [("off", &self.off), ("on", &self.on)] {
            out.push_str(&format!("### Recording {name} ({} samples)\n\n", p.samples));
            let rows: Vec<Vec<String>> = p
                .groups
                .iter()
                .filter(|(_, s)| *s >= 0.005)
                .map(|(g, s)| vec![g.clone(), percent(*s)])
                .collect();
            out.push_str(&table(&["part (self time)", "share"], &rows));
            out.push('\n');
            let rows: Vec<Vec<String>> = p
                .top_self
                .iter()
                .map(|(f, s)| vec![format!("`{f}`"), percent(*s)])
                .collect();
            out.push_str(&table(&["function (self time)", "share"], &rows));
            out.push('\n');
            let rows: Vec<Vec<String>> = p
                .top_inclusive
                .iter()
                .map(|(f, s)| vec![format!("`{f}`"), percent(*s)])
                .collect();
            out.push_str(&table(
                &["recorder function (with callees)", "share"],
                &rows,
            ));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_perf_lines() {
        let text = "# comment\n     5.11%  libc.so.6             [.] _int_malloc    -    -\n\
                    \n    80.83%     0.00%  [.] recorder::cli::import::run\n\
                    1.7%  [kernel.kallsyms]  [k] _copy_to_iter\n";
        let l = lines(text);
        assert_eq!(l.len(), 3);
        assert_eq!(
            (l[2].1.as_str(), l[2].2.as_str()),
            ("[kernel.kallsyms]", "_copy_to_iter")
        );
        assert!((l[0].0[0] - 0.0511).abs() < 1e-12);
        assert_eq!(
            (l[0].1.as_str(), l[0].2.as_str()),
            ("libc.so.6", "_int_malloc")
        );
        assert_eq!(l[1].0.len(), 2);
        assert_eq!(l[1].2, "recorder::cli::import::run");
        assert_eq!(group("libc.so.6", "_int_malloc"), "malloc/free");
        assert_eq!(
            group("recorder", "duckdb::Planner::Optimize"),
            "DuckDB (journal)"
        );
    }
}
