//! `recorder policy explain`: what the policy would decide.

use std::process::ExitCode;

use super::{PolicyArgs, PolicyCommand, load_config};
use crate::policy::{CallFacts, Policy};

/// Runs `recorder policy`.
pub fn run(args: &PolicyArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        PolicyCommand::Explain {
            config,
            caller,
            callee,
            user,
        } => {
            let config = load_config(config.as_deref())?;
            let policy = Policy::new(&config);
            let facts = CallFacts { caller, callee };
            for line in policy.explain(facts, user.as_deref()) {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
