//! `recorder hold add|remove|list`: legal holds, which keep calls from the retention policy.
//! With `--url`, the change goes through a running recorder's web API (an admin's login), as
//! `run` and `serve` keep the journal file to themselves.

use std::process::ExitCode;

use super::remote::Remote;
use super::user::local_user;
use super::{HoldArgs, HoldCommand, HoldTarget};
use crate::journal::retention;
use crate::journal::{CallFilter, Journal, JournalReader};

/// Where a hold is changed: the journal file, or a running recorder.
fn open(target: &HoldTarget) -> anyhow::Result<Result<Journal, Remote>> {
    if target.remote.url.is_some() {
        return Ok(Err(Remote::connect(&target.remote)?));
    }
    let data = target
        .data
        .as_deref()
        .expect("clap requires --data without --url");
    Ok(Ok(Journal::open_existing(data)?))
}

/// Runs `recorder hold ...`.
pub fn run(args: &HoldArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        HoldCommand::Add { target, reason } => {
            let call = target.call;
            anyhow::ensure!(
                !reason.trim().is_empty(),
                "--reason must say why the call is kept"
            );
            match open(target)? {
                Ok(journal) => {
                    retention::hold(journal.connection(), call, reason, &local_user(), "local")?
                }
                Err(remote) => remote.change_hold(call, true, Some(reason))?,
            }
            eprintln!("call {call} is under legal hold: {reason}");
        }
        HoldCommand::Remove { target, reason } => {
            let call = target.call;
            match open(target)? {
                Ok(journal) => retention::release(
                    journal.connection(),
                    call,
                    reason.as_deref(),
                    &local_user(),
                    "local",
                )?,
                Err(remote) => remote.change_hold(call, false, reason.as_deref())?,
            }
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
