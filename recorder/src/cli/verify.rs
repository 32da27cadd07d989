//! `recorder verify`: checks the audit log's hash chain and every recording's SHA-256 against
//! the journal, and lists missing and unknown files. One line per problem on standard output,
//! then a summary; exit code 1 when anything is wrong. With `--url`, the running recorder
//! checks its own journal and folder (an admin's login), as it keeps the journal to itself.

use std::process::ExitCode;

use super::VerifyArgs;
use super::remote::Remote;
use crate::journal::{JournalReader, verify};

/// Runs `recorder verify`.
pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = if args.remote.url.is_some() {
        Remote::connect(&args.remote)?.verify()?
    } else {
        let data = args
            .data
            .as_deref()
            .expect("clap requires --data without --url");
        let journal = JournalReader::open(data)?;
        verify::report(journal.connection(), data, false)?
    };
    for problem in &report.problems {
        println!("{problem}");
    }
    let problems = report.problems.len();
    let head = report.audit_head.as_deref().unwrap_or("none");
    println!(
        "audit chain: {} rows, head {head}; recordings: {} of {} match the journal; {problems} \
         problem(s)",
        report.audit_rows, report.recordings_matched, report.recordings_checked
    );
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
