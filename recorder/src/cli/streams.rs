//! `recorder streams`: RTP that no SIP message announced.

use std::io::Write;
use std::process::ExitCode;

use super::StreamsArgs;
use crate::journal::JournalReader;

/// Runs `recorder streams`.
pub fn run(args: &StreamsArgs) -> anyhow::Result<ExitCode> {
    let journal = JournalReader::open(&args.data)?;
    let streams = journal.unbound_streams()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &streams)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<24}  {:<24}  {:<10}  {:>3}  {:>8}  {:>6}  FIRST (UTC)",
        "SOURCE", "DESTINATION", "SSRC", "PT", "PACKETS", "LOST"
    )?;
    for s in &streams {
        writeln!(
            out,
            "{:<24}  {:<24}  {:<10}  {:>3}  {:>8}  {:>6}  {}",
            s.src,
            s.dst,
            s.ssrc,
            s.payload_type,
            s.packets,
            s.lost,
            s.first_at
                .get(..19)
                .unwrap_or(&s.first_at)
                .replace('T', " ")
        )?;
    }
    writeln!(out, "{} streams without signalling", streams.len())?;
    Ok(ExitCode::SUCCESS)
}
