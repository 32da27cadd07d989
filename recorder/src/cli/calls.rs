//! `recorder calls`: the journal as a table or JSON, from the data folder or, with `--url`,
//! from a running recorder's web API (the same JSON either way).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::CallsArgs;
use super::remote::Remote;
use crate::journal::{CallView, JournalReader};

/// Runs `recorder calls`.
pub fn run(args: &CallsArgs) -> anyhow::Result<ExitCode> {
    args.filter.check()?;
    let calls = if args.remote.url.is_some() {
        Remote::connect(&args.remote)?.calls(&args.filter, args.limit)?
    } else {
        let data = args
            .data
            .as_deref()
            .context("give --data DIR or --url URL")?;
        let journal = JournalReader::open(data)?;
        let mut filter = args.filter.to_filter();
        filter.limit = args.limit;
        journal.calls(&filter)?
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &calls)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &calls)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(out: &mut impl Write, calls: &[CallView]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>6}  {:<20}  {:<18}  {:<18}  {:<10}  {:>8}  {:<3}  {:>4}",
        "ID", "STARTED (UTC)", "CALLER", "CALLEE", "OUTCOME", "DURATION", "REC", "SEGS"
    )?;
    for call in calls {
        let started = call
            .started_at
            .get(..19)
            .unwrap_or(&call.started_at)
            .replace('T', " ");
        let duration = call
            .duration_s
            .map(|d| format!("{d:.1}s"))
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:>6}  {:<20}  {:<18}  {:<18}  {:<10}  {:>8}  {:<3}  {:>4}",
            call.id,
            started,
            truncate(&call.caller, 18),
            truncate(&call.callee, 18),
            call.disposition.as_deref().unwrap_or("-"),
            duration,
            if call.recorded { "REC" } else { "" },
            call.segments.len()
        )?;
    }
    let plural = if calls.len() == 1 { "" } else { "s" };
    writeln!(out, "{} call{plural}", calls.len())
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let cut: String = text.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}
