//! Build and maintenance helpers: `cargo xtask <command>`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use xtask::{bench, traffic};

/// Build helpers, the capture generator and the benchmarks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Regenerate tests/fixtures/oracle/*.json with tshark.
    Oracle,
    /// Write a capture of concurrent SIP calls with G.711 speech (deterministic from a seed).
    Gen(GenArgs),
    /// Measure the recorder beside tshark and opusenc and write BENCHMARKS.md.
    Bench(BenchArgs),
    /// Carry a capture's calls differently (see `tests::rewrite`): tunnels, SLL2, fragments,
    /// SIP over TCP or WebSocket, other ports, Opus, NAT, SSRC change, DTMF, a fork.
    Rewrite {
        /// What to change: one of tests::rewrite::kinds().
        kind: String,
        /// The capture to read (classic little-endian pcap).
        input: String,
        /// The capture to write.
        output: String,
    },
}

/// `cargo xtask bench`.
#[derive(Debug, Args)]
struct BenchArgs {
    /// A smaller run (a minute or two) to try the harness.
    #[arg(long)]
    quick: bool,
    /// Runs of each measurement (medians are over these) [default: 5, 3 for the slow ones].
    #[arg(long)]
    runs: Option<usize>,
    /// Skip the live eBPF capture part (it needs root).
    #[arg(long)]
    no_live: bool,
    /// Where generated captures and data folders go [default: bench/ in the build folder].
    #[arg(long)]
    work: Option<PathBuf>,
    /// The report to write [default: BENCHMARKS.md at the repository root].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `cargo xtask gen`.
#[derive(Debug, Args)]
struct GenArgs {
    /// Calls in the capture; their starts are spread so all are up at once.
    #[arg(long, default_value_t = 100)]
    calls: u32,
    /// Seconds of conversation per call (answer to BYE).
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds over which the call starts are spread [default: a quarter of --duration].
    #[arg(long)]
    ramp: Option<f64>,
    /// Share of RTP packets lost, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Largest extra delay of an RTP packet, ms.
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// Share of RTP packets arriving behind the next one, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Share of calls with `Record: on`/`Record: off` INFO pairs, 0 to 1.
    #[arg(long, default_value_t = 0.2)]
    record_share: f64,
    /// The seed: the same arguments give a byte-identical file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The pcap file to write.
    #[arg(long)]
    out: PathBuf,
    /// Also write a recorder configuration whose agents may press the record button.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl GenArgs {
    fn options(&self) -> traffic::Options {
        traffic::Options {
            calls: self.calls,
            duration: self.duration,
            ramp: self.ramp,
            loss: self.loss,
            jitter_ms: self.jitter_ms,
            reorder: self.reorder,
            record_share: self.record_share,
            seed: self.seed,
        }
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Task::Oracle => oracle(),
        Task::Rewrite {
            kind,
            input,
            output,
        } => rewrite(&kind, &input, &output),
        Task::Gen(args) => gen_capture(&args),
        Task::Bench(args) => bench::run(&bench::BenchOptions {
            quick: args.quick,
            runs: args.runs,
            no_live: args.no_live,
            work: args.work,
            out: args
                .out
                .unwrap_or_else(|| bench::repo_root().join("BENCHMARKS.md")),
        }),
    }
}

/// Regenerates what Wireshark sees in each fixture capture (needs tshark).
fn oracle() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(root.join("tests/oracle/regenerate.sh"))
        .status()
        .context("running tests/oracle/regenerate.sh")?;
    if !status.success() {
        bail!("regenerate.sh failed ({status})");
    }
    Ok(())
}

fn gen_capture(args: &GenArgs) -> anyhow::Result<()> {
    let options = args.options();
    options.validate().map_err(anyhow::Error::msg)?;
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let sink = std::io::BufWriter::with_capacity(1 << 20, file);
    let started = std::time::Instant::now();
    let (summary, _) = traffic::generate(&options, sink)
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.config {
        std::fs::write(path, traffic::recorder_config("on-demand"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let segments: usize = summary.calls.iter().map(|c| c.segments.len()).sum();
    let recorded = summary
        .calls
        .iter()
        .filter(|c| !c.segments.is_empty())
        .count();
    println!(
        "{}: {} frames ({} SIP, {} RTP), {:.1} MB, {} calls ({} up at once), {:.0} s of \
         capture; {recorded} calls with {segments} record-button segments; written in {:.1} s",
        args.out.display(),
        summary.frames,
        summary.sip_messages,
        summary.rtp_packets,
        summary.bytes as f64 / 1e6,
        summary.calls.len(),
        summary.max_concurrent,
        (summary.last_at - summary.first_at) as f64 / 1e6,
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Writes a variant of a capture (see `tests::rewrite`).
fn rewrite(kind: &str, input: &str, output: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        tests::rewrite::kinds().any(|k| k == kind),
        "unknown kind {kind}; one of: {}",
        tests::rewrite::kinds().collect::<Vec<_>>().join(", ")
    );
    let bytes = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    anyhow::ensure!(
        bytes.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1]) && bytes.len() >= 24,
        "{input} is not a little-endian microsecond pcap (the only kind rewrites read)"
    );
    let pcap = tests::pcap_edit::Pcap::read(std::path::Path::new(input));
    let variant = tests::rewrite::apply(kind, &pcap).context("the rewrite found no call")?;
    variant.write(std::path::Path::new(output));
    eprintln!("wrote {output}: {} frames", variant.records.len());
    Ok(())
}
