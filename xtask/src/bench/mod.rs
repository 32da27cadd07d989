//! `cargo xtask bench`: measures the recorder on generated captures, side by side with peers
//! doing the same job on the same data in the same run, and writes BENCHMARKS.md.
//!
//! The machine is shared (builds run beside the benchmark), so wall-clock times are noisy:
//! every figure is computed from CPU time (user + system of the measured process, all its
//! threads, from wait4(2)), reported as the median of repeated runs, with the median wall
//! time beside it. Each part is its own module:
//!
//! - [`import`]: `recorder import` throughput with recording off and on, and memory per call;
//! - [`peers`]: tshark on the same capture, opusenc on the same audio;
//! - [`live`]: the eBPF capture path on a veth pair between two network namespaces;
//! - [`journal`]: list and filter queries on a journal of a million calls;
//! - [`profile`]: where the time goes (perf sampling).

pub mod import;
pub mod journal;
pub mod live;
pub mod measure;
pub mod peers;
pub mod profile;
pub mod report;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::traffic::{self, Options, Summary};
use report::Report;

/// How big the runs are.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Runs of each cheap measurement (medians are over these).
    pub runs: usize,
    /// Runs of each expensive one (imports with recording on, opusenc).
    pub slow_runs: usize,
    /// The throughput capture: calls and seconds of conversation each.
    pub throughput: (u32, f64),
    /// The memory captures: two call counts (all up at once) and seconds each; call starts
    /// are spread over half a second, so every call is talking (and recorded) at once.
    pub memory: ([u32; 2], f64),
    /// The live capture: calls and seconds each.
    pub live: (u32, f64),
    /// Calls in the synthetic journal.
    pub journal_calls: u64,
    /// Whether to profile the imports with perf.
    pub profile: bool,
}

impl Sizes {
    /// The full run (about ten minutes on two cores).
    pub fn full() -> Sizes {
        Sizes {
            runs: 5,
            slow_runs: 3,
            throughput: (100, 30.0),
            memory: ([1_000, 10_000], 3.0),
            live: (200, 60.0),
            journal_calls: 1_000_000,
            profile: true,
        }
    }

    /// A quick run (a minute or two) to try the harness.
    pub fn quick() -> Sizes {
        Sizes {
            runs: 1,
            slow_runs: 1,
            throughput: (100, 10.0),
            memory: ([100, 500], 3.0),
            live: (100, 30.0),
            journal_calls: 100_000,
            profile: false,
        }
    }
}

/// What `cargo xtask bench` was asked.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// A smaller run.
    pub quick: bool,
    /// Overrides the number of runs of every measurement.
    pub runs: Option<usize>,
    /// Skip the live capture part (it needs root).
    pub no_live: bool,
    /// Where generated captures and data folders go.
    pub work: Option<PathBuf>,
    /// The report to write.
    pub out: PathBuf,
}

/// The state shared by the parts.
pub struct Bench {
    /// The `recorder` binary.
    pub recorder: PathBuf,
    /// Generated files and data folders.
    pub work: PathBuf,
    /// How big the runs are.
    pub sizes: Sizes,
    /// What was found.
    pub report: Report,
}

impl Bench {
    /// Generates a capture into the work folder (always afresh: the generator may have
    /// changed; it takes seconds).
    pub fn generate(
        &mut self,
        name: &str,
        options: &Options,
    ) -> anyhow::Result<(Summary, PathBuf)> {
        let path = self.work.join(format!("{name}.pcap"));
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let sink = std::io::BufWriter::with_capacity(1 << 20, file);
        let (summary, _) = traffic::generate(options, sink)
            .with_context(|| format!("writing {}", path.display()))?;
        let mut line = format!(
            "cargo xtask gen --calls {} --duration {} --record-share {} --seed {}",
            options.calls, options.duration, options.record_share, options.seed
        );
        if let Some(ramp) = options.ramp {
            line.push_str(&format!(" --ramp {ramp}"));
        }
        line.push_str(&format!(" --out {}", path.display()));
        self.report.command(&format!("capture `{name}`"), &line);
        eprintln!(
            "generated {}: {} frames, {} calls ({} up at once)",
            path.display(),
            summary.frames,
            summary.calls.len(),
            summary.max_concurrent
        );
        Ok((summary, path))
    }

    /// A recorder configuration with the given default mode, in the work folder.
    pub fn config(&self, mode: &str) -> anyhow::Result<PathBuf> {
        let path = self.work.join(format!("{mode}.toml"));
        std::fs::write(&path, traffic::recorder_config(mode))?;
        Ok(path)
    }

    /// An empty data folder in the work folder.
    pub fn fresh_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.work.join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
        Ok(path)
    }
}

/// The repository root (where BENCHMARKS.md goes).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the recorder (release) and returns its path, next to this xtask binary.
fn build_recorder() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo_root())
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "recorder",
            "--bin",
            "recorder",
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the recorder failed");
    }
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("recorder");
    if !bin.exists() {
        bail!("{} not found after the build", bin.display());
    }
    Ok(bin)
}

/// Runs every part and writes the report.
pub fn run(options: &BenchOptions) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut sizes = if options.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if let Some(runs) = options.runs {
        sizes.runs = runs.max(1);
        sizes.slow_runs = runs.max(1);
    }
    let recorder = build_recorder()?;
    let work = match &options.work {
        Some(dir) => dir.clone(),
        // Next to the build: kept out of git, and on the disk that has room for it.
        None => recorder.parent().unwrap_or(Path::new(".")).join("bench"),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let mut bench = Bench {
        recorder,
        work,
        sizes,
        report: Report::default(),
    };

    let duckdb_version = journal::duckdb_version(&bench.work)?;
    let machine = report::machine(&duckdb_version);
    println!("## Machine\n\n{machine}");

    let throughput = import::throughput(&mut bench)?;
    let profile = if bench.sizes.profile {
        profile::run(&mut bench, &throughput)?
    } else {
        None
    };
    let peers = peers::run(&mut bench, &throughput)?;
    import::capacity(&mut bench, &throughput, &peers, profile.as_ref());
    let memory = import::memory(&mut bench)?;
    let live = if options.no_live {
        None
    } else {
        live::run(&mut bench)?
    };
    let journal = journal::run(&mut bench)?;
    if let Some(profile) = &profile {
        bench
            .report
            .section("Where the time goes (perf)", profile.markdown());
    }
    import::targets(&mut bench, &throughput, &peers, &memory, profile.as_ref());
    live::targets(&mut bench, live.as_ref());
    journal::targets(&mut bench, &journal);

    let elapsed = started.elapsed().as_secs_f64();
    println!("\n## Targets\n\n{}", bench.report.targets_table());
    let preamble = preamble(options, &bench, &machine, elapsed);
    bench.report.write(&options.out, &preamble)?;
    println!(
        "\nwrote {} ({:.0} s in all)",
        options.out.display(),
        elapsed
    );
    Ok(())
}

fn preamble(options: &BenchOptions, bench: &Bench, machine: &str, elapsed: f64) -> String {
    let commit = report::first_line(
        "git",
        &[
            "-C",
            &repo_root().display().to_string(),
            "describe",
            "--always",
            "--dirty",
        ],
    );
    let date = report::first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let how = if options.quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    format!(
        "# Benchmarks\n\n\
         Written by `{how}` on {date} at commit `{commit}`, in {elapsed:.0} s. Generated files \
         and data folders were in `{work}`. Run it again to refresh this file; `--quick` does a \
         smaller run, `--no-live` skips the part that needs root.\n\n\
         How to read it: the machine is shared with builds, so wall-clock times are noisy. Rates \
         are computed from **CPU time** (user + system of the measured process and all its \
         threads, from `wait4`), {runs}; \"per core\" means per CPU-second.\n\n\
         ## Machine\n\n{machine}",
        work = bench.work.display(),
        runs = if bench.sizes.runs == 1 && bench.sizes.slow_runs == 1 {
            "from a single run of each".to_string()
        } else {
            format!(
                "the median of {} runs ({} for the slow ones: recording on, opusenc)",
                bench.sizes.runs, bench.sizes.slow_runs
            )
        },
    )
}
