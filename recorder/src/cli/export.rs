//! `recorder export`: calls and recordings for compliance, provably unaltered.
//!
//! The export folder holds `manifest.json` (the calls, in the shape of `recorder calls
//! --json`, with segment paths relative to the export), `manifest.csv` (one row per
//! segment), the recordings under `recordings/`, `export.json` (who, when, which filter) and
//! `SHA256SUMS` covering every other file, which `sha256sum -c SHA256SUMS` checks. Every
//! recording is hashed while it is copied and compared with the digest the journal stored
//! when it was written: an altered or missing recording stops the export.
//!
//! With `--url` the calls and recordings come from a running recorder's web API instead
//! (which keeps the journal locked); the digests checked are still the journal's, as the API
//! reports them. Either way the export is written to the audit log.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};

use web::{AuditAction, AuditEvent, Store};

use super::remote::Remote;
use super::{ExportArgs, FilterArgs};
use crate::journal::{CallFilter, CallView, Journal, JournalStore, query};

#[derive(Serialize)]
struct ExportInfo<'a> {
    generated_at: String,
    recorder_version: &'static str,
    data: String,
    filter: Filter<'a>,
    calls: usize,
    recordings: usize,
}

#[derive(Serialize)]
struct Filter<'a> {
    from: Option<String>,
    to: Option<String>,
    number: Option<&'a str>,
    recorded_only: bool,
}

/// The journal opened by this process.
struct Local {
    data: std::path::PathBuf,
    store: JournalStore,
    journal: Journal,
}

/// Where the calls and recordings come from.
enum Source {
    /// The journal file, opened by this process.
    Local(Box<Local>),
    /// A running recorder's API.
    Remote(Remote),
}

impl Source {
    fn open(args: &ExportArgs) -> anyhow::Result<Source> {
        if args.remote.url.is_some() {
            return Ok(Source::Remote(Remote::connect(&args.remote)?));
        }
        let data = args.data.clone().context("give --data DIR or --url URL")?;
        // Opened for writing, for the audit row; a running recorder holds the lock, and the
        // error then says to use --url.
        let journal = Journal::open_existing(&data)?;
        let store = JournalStore::new(journal.connection(), &data)?;
        Ok(Source::Local(Box::new(Local {
            data,
            store,
            journal,
        })))
    }

    /// The calls to export; a remote recorder audits the export here.
    fn calls(
        &self,
        filter: &FilterArgs,
        journal_filter: &CallFilter,
    ) -> anyhow::Result<Vec<CallView>> {
        match self {
            Source::Local(local) => Ok(query::calls(local.journal.connection(), journal_filter)?),
            Source::Remote(remote) => remote.start_export(filter),
        }
    }

    /// The bytes of a recording (`path` relative to the data folder).
    fn recording(&self, call: i64, segment: i64, path: &str) -> anyhow::Result<Box<dyn Read>> {
        match self {
            Source::Local(local) => {
                let path = local.data.join(path);
                let file = fs::File::open(&path).with_context(|| {
                    format!(
                        "recording {segment} of call {call} is missing ({})",
                        path.display()
                    )
                })?;
                Ok(Box::new(file))
            }
            Source::Remote(remote) => Ok(Box::new(remote.download(segment)?)),
        }
    }

    /// Writes the local export's audit row (the API audits its own).
    fn audit(&self, detail: String) -> anyhow::Result<()> {
        if let Source::Local(local) = self {
            local.store.audit_append(&AuditEvent {
                at_us: chrono::Utc::now().timestamp_micros(),
                user: super::user::local_user(),
                address: "local".into(),
                action: AuditAction::Export,
                call: None,
                recording: None,
                detail: Some(detail),
            })?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match self {
            // Absolute, so the export says where it came from wherever it is read.
            Source::Local(local) => std::path::absolute(&local.data)
                .unwrap_or_else(|_| local.data.clone())
                .display()
                .to_string(),
            Source::Remote(remote) => remote.url().to_string(),
        }
    }
}

/// Runs `recorder export`.
pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    // Before anything is asked of the journal: a remote export is audited when it starts.
    args.filter.check()?;
    check_out_dir(&args.out)?;
    let source = Source::open(args)?;
    let filter = args.filter.to_filter();
    let mut calls = source.calls(&args.filter, &filter)?;
    // Everything goes into a sibling folder first, renamed into place at the end: a failed
    // export leaves no half-filled folder behind.
    let final_out = args.out.clone();
    let partial = partial_dir(&final_out);
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let guard = RemoveOnDrop(Some(partial.clone()));
    let out = partial.as_path();

    let segments: usize = calls
        .iter()
        .flat_map(|c| &c.segments)
        .filter(|s| has_file(&s.status))
        .count();
    let progress = super::progress_bar(
        segments as u64,
        "exporting [{bar:30}] {pos}/{len} recordings",
    );
    let mut sums: Vec<(String, String)> = Vec::new();

    for call in &mut calls {
        for segment in &mut call.segments {
            if !has_file(&segment.status) {
                // Listed in the manifest with its status, but there is no audio to export.
                segment.path = String::new();
                continue;
            }
            let rel = format!("recordings/{}/{}.opus", call.id, segment.id);
            let target = out.join(&rel);
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let input = source.recording(call.id, segment.id, &segment.path)?;
            let digest = copy_hashed(input, &target)?;
            match segment.sha256.as_deref() {
                Some(stored) if stored == digest => {}
                Some(stored) => bail!(
                    "recording {} of call {} does not match the journal (SHA-256 {digest}, \
                     journal {stored}): it was altered after recording; export stopped",
                    segment.id,
                    call.id
                ),
                None => bail!(
                    "recording {} of call {} has no digest in the journal (status {}); \
                     export stopped",
                    segment.id,
                    call.id,
                    segment.status
                ),
            }
            segment.path = rel.clone();
            sums.push((digest, rel));
            if let Some(bar) = &progress {
                bar.inc(1);
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    let mut manifest = serde_json::to_vec_pretty(&calls)?;
    manifest.push(b'\n');
    sums.push(write_hashed(out, "manifest.json", &manifest)?);
    let csv = manifest_csv(&calls)?;
    sums.push(write_hashed(out, "manifest.csv", &csv)?);
    let info = ExportInfo {
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        recorder_version: env!("CARGO_PKG_VERSION"),
        data: source.describe(),
        filter: Filter {
            from: filter.from.map(|t| t.to_rfc3339()),
            to: filter.to.map(|t| t.to_rfc3339()),
            number: filter.number.as_deref(),
            recorded_only: filter.recorded_only,
        },
        calls: calls.len(),
        recordings: segments,
    };
    let mut info = serde_json::to_vec_pretty(&info)?;
    info.push(b'\n');
    sums.push(write_hashed(out, "export.json", &info)?);

    let mut listing = String::new();
    for (digest, rel) in &sums {
        listing.push_str(&format!("{digest}  {rel}\n"));
    }
    fs::write(out.join("SHA256SUMS"), listing).context("writing SHA256SUMS")?;
    source.audit(format!(
        "{} calls, {segments} recordings to {}",
        calls.len(),
        final_out.display()
    ))?;

    // An empty folder the user made for the export is replaced by the finished one.
    if final_out.exists() {
        fs::remove_dir(&final_out).with_context(|| format!("replacing {}", final_out.display()))?;
    }
    fs::rename(out, &final_out)
        .with_context(|| format!("moving the export to {}", final_out.display()))?;
    drop(guard);

    eprintln!(
        "exported {} calls and {segments} recordings to {} \
         (check with: cd {} && sha256sum -c SHA256SUMS)",
        calls.len(),
        args.out.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn check_out_dir(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        if !out.is_dir() {
            bail!(
                "{} exists and is not a folder; choose a new folder for the export",
                out.display()
            );
        }
        let mut entries =
            fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty; choose a new folder for the export",
                out.display()
            );
        }
    }
    Ok(())
}

/// Whether a segment of this status has a file to export (failed and empty ones have none;
/// one still being recorded is not final).
fn has_file(status: &str) -> bool {
    matches!(status, "complete" | "incomplete")
}

fn partial_dir(out: &Path) -> std::path::PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Removes the partial export folder unless the export finished (and renamed it away).
struct RemoveOnDrop(Option<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && path.exists()
        {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn copy_hashed(mut input: Box<dyn Read>, target: &Path) -> anyhow::Result<String> {
    let mut output =
        fs::File::create(target).with_context(|| format!("creating {}", target.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("reading the recording for {}", target.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .with_context(|| format!("writing {}", target.display()))?;
    }
    output
        .sync_all()
        .with_context(|| format!("writing {}", target.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

fn write_hashed(out: &Path, name: &str, data: &[u8]) -> anyhow::Result<(String, String)> {
    fs::write(out.join(name), data).with_context(|| format!("writing {name}"))?;
    Ok((hex::encode(Sha256::digest(data)), name.to_string()))
}

fn manifest_csv(calls: &[CallView]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "call_id_journal",
        "call_id",
        "caller",
        "callee",
        "direction",
        "started_at",
        "answered_at",
        "ended_at",
        "disposition",
        "end_reason",
        "recorded",
        "decision",
        "segment_id",
        "segment_started_at",
        "segment_ended_at",
        "segment_duration_s",
        "trigger",
        "path",
        "sha256",
    ])?;
    for call in calls {
        let base = [
            call.id.to_string(),
            call.call_id.clone(),
            call.caller.clone(),
            call.callee.clone(),
            call.direction.clone(),
            call.started_at.clone(),
            call.answered_at.clone().unwrap_or_default(),
            call.ended_at.clone().unwrap_or_default(),
            call.disposition.clone().unwrap_or_default(),
            call.end_reason.clone().unwrap_or_default(),
            call.recorded.to_string(),
            call.decision.clone(),
        ];
        if call.segments.is_empty() {
            let mut row = base.to_vec();
            row.extend(std::iter::repeat_n(String::new(), 7));
            writer.write_record(&row)?;
        }
        for segment in &call.segments {
            let mut row = base.to_vec();
            row.extend([
                segment.id.to_string(),
                segment.started_at.clone(),
                segment.ended_at.clone().unwrap_or_default(),
                segment
                    .duration_s
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                segment.trigger.clone(),
                segment.path.clone(),
                segment.sha256.clone().unwrap_or_default(),
            ]);
            writer.write_record(&row)?;
        }
    }
    Ok(writer.into_inner()?)
}
