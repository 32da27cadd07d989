//! `recorder user add`: web users in the journal.

use std::process::ExitCode;

use web::{AuditAction, AuditEvent, Store, StoreError};

use super::{UserArgs, UserCommand, read_password};
use crate::journal::{Journal, JournalStore};

/// Runs `recorder user ...`.
pub fn run(args: &UserArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        UserCommand::Add {
            data,
            name,
            role,
            extension,
        } => {
            // Checked before the password is asked for.
            role.parse::<web::Role>().map_err(anyhow::Error::msg)?;
            let password = read_password(&format!("password for {name}: "))?;
            let user = web::new_user(name, role, extension.clone(), &password)
                .map_err(anyhow::Error::msg)?;
            let journal = Journal::open(data)?;
            let store = JournalStore::new(journal.connection(), data)?;
            match store.add_user(&user) {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    anyhow::bail!("user {name} exists already")
                }
                Err(err) => return Err(err.into()),
            }
            store.audit_append(&AuditEvent {
                at_us: chrono::Utc::now().timestamp_micros(),
                user: local_user(),
                address: "local".into(),
                action: AuditAction::UserAdded,
                call: None,
                recording: None,
                detail: Some(format!("{} ({})", user.name, user.role)),
            })?;
            eprintln!("added {} ({})", user.name, user.role);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Who runs the command, for the audit log.
pub fn local_user() -> String {
    let name = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{name} (command line)")
}
