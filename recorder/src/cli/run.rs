//! `recorder run`: the appliance. Captures on an interface until SIGINT or SIGTERM, then ends
//! the calls still up (`capture_stopped`), finishes their recordings and exits.
//!
//! One thread does the work: it polls the source, runs every frame through the pipeline,
//! advances time once a second, and writes `DATA/status.json` every few seconds for
//! `recorder status`. With `--listen`, the web journal runs beside it on its own threads,
//! reading the same DuckDB database through its own connection.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::{CaptureKind, RunArgs, load_config};
use crate::capture::ebpf::{EbpfOptions, EbpfSource};
use crate::capture::live::{LiveSource, LiveStats, now};
use crate::capture::pcap_live::PcapSource;
use crate::dialog::EndReason;
use crate::journal::{Journal, JournalStore};
use crate::pipeline::{Pipeline, PipelineStats};
use crate::time::Timestamp;

/// The status file's name in the data folder.
pub const STATUS_FILE: &str = "status.json";

/// What `recorder status` shows; written by the running recorder.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Status {
    /// The recorder's process id.
    pub pid: u32,
    /// How it captures.
    pub source: String,
    /// When it started.
    pub started_at: String,
    /// When this status was written.
    pub updated_at: String,
    /// Set when the recorder stopped.
    pub stopped_at: Option<String>,
    /// Frames seen on the interface.
    pub frames_seen: u64,
    /// Frames handed to userspace.
    pub frames_delivered: u64,
    /// Frames lost before userspace (capture loss, not network loss).
    pub capture_lost: u64,
    /// Calls followed now.
    pub active_calls: usize,
    /// Calls finished since start.
    pub calls_finished: u64,
    /// Calls recorded since start.
    pub calls_recorded: u64,
    /// SIP messages since start.
    pub sip_messages: u64,
    /// Where the web journal listens, when it does.
    #[serde(default)]
    pub web: Option<String>,
}

/// Runs `recorder run`.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let journal = Journal::open(&args.data)?;
    let web = match args.listen {
        Some(listen) => Some(start_web(&journal, args, listen)?),
        None => None,
    };
    let mut source = open_source(args, &config.capture.sip_ports)?;
    let description = source.describe();
    tracing::info!(source = %description, data = %args.data.display(), "recorder running");

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handler")?;
    }

    let retention = match config.retention.days {
        Some(days) => Some(super::retention::spawn(
            &journal,
            &args.data,
            days,
            Arc::clone(&stop),
        )?),
        None => None,
    };
    let mut pipeline = Pipeline::new(&config, journal);
    if let Some(filter) = source.take_media_filter() {
        pipeline.set_media_filter(filter);
    }

    let started_at = now();
    let mut last_tick = Instant::now();
    let mut last_status = Instant::now() - Duration::from_secs(60);
    let mut reported_loss = 0;
    let mut failure: Option<anyhow::Error> = None;

    while !stop.load(Ordering::Relaxed) {
        let mut error = None;
        let polled = source.poll(Duration::from_millis(100), &mut |frame| {
            if error.is_none()
                && let Err(err) = pipeline.process(frame.at, frame.link, frame.data)
            {
                error = Some(err);
            }
        });
        if let Some(err) = error {
            failure = Some(anyhow::Error::new(err).context("writing the journal"));
            break;
        }
        if let Err(err) = polled {
            failure = Some(anyhow::Error::new(err).context("capture failed"));
            break;
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            if let Err(err) = pipeline.tick(now()) {
                failure = Some(anyhow::Error::new(err).context("writing the journal"));
                break;
            }
        }
        if last_status.elapsed() >= Duration::from_secs(2) {
            last_status = Instant::now();
            let live = source.stats();
            if live.capture_lost > reported_loss {
                tracing::warn!(
                    lost = live.capture_lost - reported_loss,
                    total = live.capture_lost,
                    "capture loss: frames dropped before userspace"
                );
                reported_loss = live.capture_lost;
            }
            let mut status = status(&description, started_at, &live, &pipeline, None);
            let scheme = if args.tls.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            status.web = web.as_ref().map(|w| format!("{scheme}://{}", w.addr()));
            write_status(&args.data, &status);
        }
    }

    tracing::info!("stopping: ending open calls");
    let finished = pipeline.finish(EndReason::CaptureStopped);
    let live = source.stats();
    let status = status(&description, started_at, &live, &pipeline, Some(now()));
    write_status(&args.data, &status);
    drop(source);
    if let Some(web) = web {
        web.stop();
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(thread) = retention {
        let _ = thread.join();
    }
    finished.context("writing the journal")?;
    if let Some(err) = failure {
        return Err(err);
    }
    let stats = pipeline.stats();
    tracing::info!(
        calls = stats.calls_finished,
        recorded = stats.calls_recorded,
        capture_lost = live.capture_lost,
        "recorder stopped"
    );
    Ok(ExitCode::SUCCESS)
}

fn start_web(
    journal: &Journal,
    args: &RunArgs,
    listen: std::net::SocketAddr,
) -> anyhow::Result<web::Background> {
    let store = JournalStore::new(journal.connection(), &args.data)?;
    let config = web::WebConfig {
        listen,
        secure_cookies: args.secure_cookies,
        tls: args.tls.load()?,
        ..web::WebConfig::default()
    };
    let background = web::Background::start(Arc::new(store), &config)
        .with_context(|| format!("serving the web journal on {listen}"))?;
    tracing::info!(addr = %background.addr(), "web journal listening");
    Ok(background)
}

fn open_source(args: &RunArgs, sip_ports: &[u16]) -> anyhow::Result<Box<dyn LiveSource>> {
    match args.capture {
        CaptureKind::Pcap => Ok(Box::new(PcapSource::open(&args.iface)?)),
        CaptureKind::Ebpf | CaptureKind::Tc => {
            let options = EbpfOptions {
                iface: args.iface.clone(),
                sip_ports: sip_ports.to_vec(),
                ring_bytes: args.ring_mib.next_power_of_two().max(1) * 1024 * 1024,
                drop_after_capture: args.mirror_only,
                force_tc: args.capture == CaptureKind::Tc,
            };
            match EbpfSource::open(&options) {
                Ok(source) => Ok(Box::new(source)),
                Err(err) => {
                    tracing::warn!(%err, "eBPF capture unavailable, falling back to libpcap");
                    Ok(Box::new(PcapSource::open(&args.iface)?))
                }
            }
        }
    }
}

fn status(
    source: &str,
    started_at: Timestamp,
    live: &LiveStats,
    pipeline: &Pipeline,
    stopped_at: Option<Timestamp>,
) -> Status {
    let stats: PipelineStats = pipeline.stats();
    Status {
        pid: std::process::id(),
        source: source.to_string(),
        started_at: started_at.to_rfc3339(),
        updated_at: now().to_rfc3339(),
        stopped_at: stopped_at.map(Timestamp::to_rfc3339),
        frames_seen: live.seen,
        frames_delivered: live.delivered,
        capture_lost: live.capture_lost,
        active_calls: pipeline.active_calls(),
        calls_finished: stats.calls_finished,
        calls_recorded: stats.calls_recorded,
        sip_messages: stats.sip_messages,
        web: None,
    }
}

/// Writes the status file atomically (a reader never sees half of it).
fn write_status(data: &Path, status: &Status) {
    let path = data.join(STATUS_FILE);
    let tmp = data.join(format!("{STATUS_FILE}.tmp"));
    let result = serde_json::to_vec_pretty(status)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(err) = result {
        tracing::warn!(%err, path = %path.display(), "status file not written");
    }
}
