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
    let name = ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(account_name);
    format!("{name} (command line)")
}

/// The name of the account this process runs as, from the password database (services and
/// `sudo -i` shells may have no `USER`); `uid N` if it has none.
fn account_name() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r writes only into `entry` and `buffer`, whose
    // sizes it is given, and `found` points at `entry` or is null.
    unsafe {
        let uid = libc::getuid();
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut buffer = vec![0 as libc::c_char; 4096];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let status = libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        );
        if status == 0 && !found.is_null() && !entry.pw_name.is_null() {
            return std::ffi::CStr::from_ptr(entry.pw_name)
                .to_string_lossy()
                .into_owned();
        }
        format!("uid {uid}")
    }
}
