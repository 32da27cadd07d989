//! `recorder verify`: checks the audit log's hash chain and every recording's SHA-256 against
//! the journal, and lists missing and unknown files. One line per problem on standard output,
//! then a summary; exit code 1 when anything is wrong.

use std::process::ExitCode;

use super::VerifyArgs;
use crate::journal::{JournalReader, audit, verify};

/// Runs `recorder verify`.
pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let journal = JournalReader::open(&args.data)?;
    let chain = audit::check(journal.connection())?;
    let files = verify::recordings(journal.connection(), &args.data)?;
    for problem in chain.problems.iter().chain(&files.problems) {
        println!("{problem}");
    }
    let problems = chain.problems.len() + files.problems.len();
    let head = chain.head.as_deref().unwrap_or("none");
    println!(
        "audit chain: {} rows, head {head}; recordings: {} of {} match the journal; {problems} \
         problem(s)",
        chain.rows, files.matched, files.checked
    );
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
