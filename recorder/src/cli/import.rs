//! `recorder import`: capture files through the whole pipeline into the journal.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use super::{ImportArgs, load_config};
use crate::capture::{CaptureError, FileSource};
use crate::dialog::EndReason;
use crate::journal::Journal;
use crate::pipeline::Pipeline;
use crate::time::Timestamp;

/// Runs `recorder import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let journal = Journal::open(&args.data)?;
    let mut pipeline = Pipeline::new(&config, journal);
    let started = std::time::Instant::now();
    let mut problems = 0;
    let mut imported = 0;

    // Ctrl-C (or SIGTERM) stops reading, ends the calls in progress and commits, rather than
    // leaving them half-written.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handler")?;
    }

    for path in &args.captures {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match import_file(&mut pipeline, path, args.force, &stop) {
            Ok(FileOutcome::Imported) => imported += 1,
            Ok(FileOutcome::Skipped(message)) => eprintln!("{message}"),
            Err(ImportProblem::Capture(err)) => {
                problems += 1;
                eprintln!("error: {err}");
            }
            Err(ImportProblem::Damaged(err)) => {
                // What came before the damage is imported; say so and go on.
                problems += 1;
                imported += 1;
                eprintln!("error: {err}; the packets before it were imported");
            }
            Err(ImportProblem::Interrupted(packets)) => {
                let _ = pipeline.finish(EndReason::CaptureStopped);
                eprintln!(
                    "interrupted: {} read up to packet {packets}; calls in progress were ended \
                     (capture_stopped) and everything before is in the journal; import it again \
                     with --force to redo it",
                    path.display()
                );
                return Ok(ExitCode::from(130));
            }
            Err(ImportProblem::Fatal(err)) => {
                // The journal itself failed: end the calls we have and stop.
                let _ = pipeline.finish(EndReason::CaptureEnd);
                return Err(err);
            }
        }
    }
    pipeline
        .finish(EndReason::CaptureEnd)
        .context("writing the journal")?;

    let stats = pipeline.stats();
    let correlator = pipeline.correlator_stats();
    let decode = pipeline.decode_stats();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "imported {imported} of {} file(s): {} packets, {} SIP messages, {} calls, {} recorded \
         ({} segments) in {seconds:.2}s",
        args.captures.len(),
        stats.frames,
        stats.sip_messages,
        stats.calls_finished,
        stats.calls_recorded,
        stats.segments,
    );
    let skipped = decode.malformed + stats.sip_malformed;
    if skipped > 0 || stats.segments_failed > 0 || correlator.calls_evicted > 0 {
        eprintln!(
            "skipped: {} malformed packets, {} unparsable SIP messages; {} recordings failed; \
             {} calls evicted",
            decode.malformed, stats.sip_malformed, stats.segments_failed, correlator.calls_evicted
        );
    }
    let evicted = pipeline.evictions();
    if evicted.any() {
        eprintln!(
            "limits: {} calls, {} TCP streams ({} bytes), {} fragmented datagrams, {} unsignalled \
             RTP streams evicted ([limits] in the configuration)",
            evicted.calls,
            evicted.tcp_streams,
            evicted.tcp_bytes,
            evicted.fragments,
            evicted.unbound_streams
        );
    }
    if stats.segments_failed > 0 {
        eprintln!(
            "error: {} recordings could not be written; `recorder calls --json` notes why",
            stats.segments_failed
        );
        problems += 1;
    }
    Ok(if problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

enum FileOutcome {
    Imported,
    Skipped(String),
}

enum ImportProblem {
    /// The file could not be read at all.
    Capture(CaptureError),
    /// The file broke part-way.
    Damaged(CaptureError),
    /// The user interrupted it after this many packets.
    Interrupted(u64),
    /// The journal failed.
    Fatal(anyhow::Error),
}

fn import_file(
    pipeline: &mut Pipeline,
    path: &Path,
    force: bool,
    stop: &AtomicBool,
) -> Result<FileOutcome, ImportProblem> {
    let mut source = FileSource::open(path).map_err(ImportProblem::Capture)?;
    let digest = crate::journal::verify::digest(path).map_err(|e| {
        ImportProblem::Capture(CaptureError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    })?;

    let journal = pipeline.journal();
    let earlier = journal
        .find_import(&digest)
        .map_err(|e| ImportProblem::Fatal(e.into()))?;
    if let (Some((id, earlier_path, status)), false) = (earlier, force) {
        let how = if status == "interrupted" {
            "partly imported (interrupted)"
        } else {
            "already imported"
        };
        return Ok(FileOutcome::Skipped(format!(
            "{}: {how} as import {id}, from {earlier_path}; --force imports it again (its calls \
             then appear twice)",
            path.display()
        )));
    }
    let file_name = path.display().to_string();
    let import_id = journal
        .start_import(&file_name, &digest, Timestamp::from_micros(now_micros()))
        .map_err(|e| ImportProblem::Fatal(e.into()))?;
    tracing::info!(file = %file_name, import = import_id, "import started");

    let calls_before = pipeline.correlator_stats().calls;
    pipeline.start_source();
    let progress = progress_bar(source.size(), path);
    let mut damage = None;
    let mut interrupted = false;
    let mut last_update = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        match source.next_frame() {
            Ok(Some(frame)) => {
                pipeline
                    .process(frame.at, frame.link, frame.data)
                    .map_err(|e| ImportProblem::Fatal(e.into()))?;
            }
            Ok(None) => break,
            Err(err) => {
                damage = Some(err);
                break;
            }
        }
        if let Some(bar) = &progress
            && source.packets() - last_update >= 4096
        {
            last_update = source.packets();
            bar.set_position(source.position());
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    let (status, note) = match &damage {
        Some(err) => ("truncated", Some(err.to_string())),
        None if interrupted => ("interrupted", Some("interrupted by the user".to_string())),
        None => ("complete", None),
    };
    let calls = pipeline.correlator_stats().calls - calls_before;
    pipeline
        .journal()
        .finish_import(
            import_id,
            Timestamp::from_micros(now_micros()),
            source.packets(),
            calls,
            status,
            note.as_deref(),
        )
        .map_err(|e| ImportProblem::Fatal(e.into()))?;
    tracing::info!(file = %file_name, packets = source.packets(), status, "import finished");
    match damage {
        Some(err) => Err(ImportProblem::Damaged(err)),
        None if interrupted => Err(ImportProblem::Interrupted(source.packets())),
        None => Ok(FileOutcome::Imported),
    }
}

fn progress_bar(size: u64, path: &Path) -> Option<indicatif::ProgressBar> {
    let bar = super::progress_bar(size, "{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    bar.set_message(name);
    Some(bar)
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
