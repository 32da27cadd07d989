//! `recorder hold add|remove|list`: legal holds, which keep calls from the retention policy.
//!
//! TODO(#6): holds are changed on the journal file only; while `run` or `serve` holds it, an
//! admin cannot change one (the web API has no hold endpoint yet).

use std::process::ExitCode;

use super::user::local_user;
use super::{HoldArgs, HoldCommand};
use crate::journal::retention;
use crate::journal::{CallFilter, Journal, JournalReader};

/// Runs `recorder hold ...`.
pub fn run(args: &HoldArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        HoldCommand::Add { data, call, reason } => {
            anyhow::ensure!(
                !reason.trim().is_empty(),
                "--reason must say why the call is kept"
            );
            let journal = Journal::open(data)?;
            retention::hold(journal.connection(), *call, reason, &local_user(), "local")?;
            eprintln!("call {call} is under legal hold: {reason}");
        }
        HoldCommand::Remove { data, call, reason } => {
            let journal = Journal::open(data)?;
            retention::release(
                journal.connection(),
                *call,
                reason.as_deref(),
                &local_user(),
                "local",
            )?;
            eprintln!("call {call} is no longer under legal hold");
        }
        HoldCommand::List { data } => {
            let journal = JournalReader::open(data)?;
            let calls = journal.calls(&CallFilter::default())?;
            for call in calls {
                if let Some(hold) = &call.hold {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        call.id, call.call_id, hold.at, hold.by, hold.reason
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
