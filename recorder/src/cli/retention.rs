//! `recorder retention`: deletes calls (and their recordings) that ended more than the
//! configured number of days ago, except calls under legal hold; `--dry-run` lists them.
//! `recorder run` does the same on its own every hour ([`spawn`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::user::local_user;
use super::{RetentionArgs, load_config};
use crate::journal::Journal;
use crate::journal::retention::{self, RetentionReport};
use crate::time::{self, Timestamp};

/// How often `recorder run` applies the retention policy.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// Runs `recorder retention`.
pub fn run(args: &RetentionArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let Some(days) = args.days.or(config.retention.days) else {
        anyhow::bail!(
            "no retention period: set [retention] days in the configuration, or give --days"
        );
    };
    anyhow::ensure!(days >= 1, "--days must be at least 1");
    let journal = Journal::open_existing(&args.data)?;
    let cutoff = cutoff(days);
    let report = retention::run(
        journal.connection(),
        &args.data,
        cutoff,
        &local_user(),
        args.dry_run,
    )?;
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for call in &report.deleted {
        println!(
            "{verb} call {} (Call-ID {}, ended {}): {} recording(s)",
            call.call,
            call.call_id,
            call.ended_at.to_rfc3339(),
            call.recordings.len()
        );
    }
    for (path, err) in &report.leftover {
        println!("error: {path} not removed: {err}");
    }
    println!(
        "retention {days} days (before {}): {verb} {} call(s), {} recording(s); {} call(s) kept \
         under legal hold",
        cutoff.to_rfc3339(),
        report.deleted.len(),
        report
            .deleted
            .iter()
            .map(|c| c.recordings.len())
            .sum::<usize>(),
        report.held
    );
    Ok(if report.leftover.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The moment before which calls expire, `days` days before now.
pub fn cutoff(days: u32) -> Timestamp {
    Timestamp::from_micros(chrono::Utc::now().timestamp_micros())
        - time::Duration::from_secs(i64::from(days) * 86_400)
}

/// Applies the retention policy now and then every [`INTERVAL`] on a thread of its own,
/// with a connection of its own to the journal, until `stop` is set.
pub fn spawn(
    journal: &Journal,
    data: &Path,
    days: u32,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let conn = journal
        .connection()
        .try_clone()
        .context("a journal connection for retention")?;
    let data: PathBuf = data.to_path_buf();
    let who = "retention policy (recorder run)".to_string();
    let handle = std::thread::Builder::new()
        .name("retention".into())
        .spawn(move || {
            let mut last: Option<Instant> = None;
            while !stop.load(Ordering::Relaxed) {
                if last.is_none_or(|at| at.elapsed() >= INTERVAL) {
                    last = Some(Instant::now());
                    match retention::run(&conn, &data, cutoff(days), &who, false) {
                        Ok(RetentionReport { deleted, held, .. }) => tracing::debug!(
                            deleted = deleted.len(),
                            held,
                            days,
                            "retention checked"
                        ),
                        Err(err) => tracing::error!(%err, "retention failed; retried next hour"),
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
        .context("starting the retention thread")?;
    Ok(handle)
}
