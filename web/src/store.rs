//! What the web needs from the journal, as a trait the `recorder` crate implements on DuckDB.
//!
//! The web cannot depend on `recorder` (the `recorder` binary serves the web), so the journal
//! is reached through [`Store`]. Calls travel as JSON values in the shape of `recorder calls
//! --json`: that shape is defined once, by the recorder, and the web only reads fields it
//! shows. Everything else is a small type of the web's own.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing to add exists already (a user name).
    #[error("{0} exists already")]
    Conflict(String),
    /// The journal refused a change for a reason the user can act on (no such call, a hold
    /// that is already there).
    #[error("{0}")]
    Refused(String),
    /// The journal failed.
    #[error("journal: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What a user may see and do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, and manages users; reads the audit log.
    Admin,
    /// Every call.
    Supervisor,
    /// Only calls where the user's extension is caller or callee.
    Agent,
}

impl Role {
    /// The name stored in the journal and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "admin" => Ok(Role::Admin),
            "supervisor" => Ok(Role::Supervisor),
            "agent" => Ok(Role::Agent),
            other => Err(format!(
                "unknown role '{other}' (use admin, supervisor or agent)"
            )),
        }
    }
}

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// What the user may see.
    pub role: Role,
    /// The user's phone extension (an agent sees the calls it takes part in).
    pub extension: Option<String>,
    /// Argon2 hash in PHC string form.
    pub password_hash: String,
}

/// Which calls to list; the web's own copy of the journal's filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallQuery {
    /// Only this call.
    pub id: Option<i64>,
    /// Calls that started at or after this time (microseconds since the epoch).
    pub from_us: Option<i64>,
    /// Calls that started before this time (microseconds since the epoch).
    pub to_us: Option<i64>,
    /// Caller or callee matches this number (`*` and `?` wildcards).
    pub number: Option<String>,
    /// `inbound`, `outbound`, `internal` or `unknown`.
    pub direction: Option<String>,
    /// `answered`, `cancelled`, `busy`, `rejected` or `failed`.
    pub disposition: Option<String>,
    /// Only calls with recordings.
    pub recorded_only: bool,
    /// Only calls that lasted (answer to end) at least this long.
    pub min_duration_s: Option<f64>,
    /// Only calls where this extension is caller or callee.
    pub party: Option<String>,
    /// At most this many calls.
    pub limit: Option<u32>,
    /// Skip this many calls first.
    pub offset: Option<u32>,
}

/// What `recorder verify` finds: the audit chain and every recording against its digest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Audit rows checked.
    pub audit_rows: usize,
    /// The newest audit row's hash (hex), to note and compare with a later run.
    pub audit_head: Option<String>,
    /// Recordings whose file matched the journal's SHA-256.
    pub recordings_matched: usize,
    /// Recordings checked.
    pub recordings_checked: usize,
    /// One line per problem (an altered, missing or unknown file, a broken chain).
    pub problems: Vec<String>,
}

/// A recording segment's file, found by its id.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// Segment id.
    pub id: i64,
    /// The call it belongs to.
    pub call: i64,
    /// The file: the data folder joined with the journal's relative path.
    pub path: PathBuf,
    /// SHA-256 the journal stored when the file was written.
    pub sha256: Option<String>,
}

/// One SIP message of a call, for the ladder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SipMessage {
    /// When it was seen (microseconds since the epoch).
    pub at_us: i64,
    /// Sender `address:port`.
    pub src: String,
    /// Receiver `address:port`.
    pub dst: String,
    /// Method or status line summary (`INVITE`, `200 OK`).
    pub label: String,
    /// The CSeq header.
    pub cseq: Option<String>,
    /// Whether it carried SDP.
    pub has_sdp: bool,
    /// Retransmissions of it that were seen.
    pub duplicates: i32,
}

/// What an audit row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A successful login.
    Login,
    /// A login with a wrong name or password, or refused by the rate limit.
    LoginFailed,
    /// A logout.
    Logout,
    /// A recording played (its first byte requested).
    Play,
    /// A recording downloaded.
    Download,
    /// Calls exported.
    Export,
    /// A user added.
    UserAdded,
    /// A call put under legal hold (retention keeps it).
    HoldAdded,
    /// A legal hold lifted.
    HoldRemoved,
    /// A call and its recordings deleted by the retention policy.
    RetentionDelete,
}

impl AuditAction {
    /// The name stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::Logout => "logout",
            AuditAction::Play => "play",
            AuditAction::Download => "download",
            AuditAction::Export => "export",
            AuditAction::UserAdded => "user_added",
            AuditAction::HoldAdded => "hold_added",
            AuditAction::HoldRemoved => "hold_removed",
            AuditAction::RetentionDelete => "retention_delete",
        }
    }
}

impl FromStr for AuditAction {
    type Err = String;

    fn from_str(text: &str) -> Result<AuditAction, String> {
        Ok(match text {
            "login" => AuditAction::Login,
            "login_failed" => AuditAction::LoginFailed,
            "logout" => AuditAction::Logout,
            "play" => AuditAction::Play,
            "download" => AuditAction::Download,
            "export" => AuditAction::Export,
            "user_added" => AuditAction::UserAdded,
            "hold_added" => AuditAction::HoldAdded,
            "hold_removed" => AuditAction::HoldRemoved,
            "retention_delete" => AuditAction::RetentionDelete,
            other => return Err(format!("unknown audit action '{other}'")),
        })
    }
}

/// An event to append to the audit log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    /// When (microseconds since the epoch).
    pub at_us: i64,
    /// Who (the name given, for failed logins).
    pub user: String,
    /// The client's IP address, or `local` for the command line.
    pub address: String,
    /// What happened.
    pub action: AuditAction,
    /// The call concerned.
    pub call: Option<i64>,
    /// The recording concerned.
    pub recording: Option<i64>,
    /// More (an export's filter, why a login failed).
    pub detail: Option<String>,
}

/// An audit row as stored: the event and its id (ascending in insertion order).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Row id, ascending in insertion order.
    pub id: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// The journal, as the web sees it. Methods block (DuckDB); the server calls them on its
/// blocking thread pool.
pub trait Store: Send + Sync + 'static {
    /// Calls matching a query, newest first, each as `recorder calls --json` shows it.
    fn calls(&self, query: &CallQuery) -> Result<Vec<Value>, StoreError>;

    /// How many calls match a query (ignoring its limit and offset).
    fn count_calls(&self, query: &CallQuery) -> Result<u64, StoreError>;

    /// The SIP messages of a call, in the order seen.
    fn messages(&self, call: i64) -> Result<Vec<SipMessage>, StoreError>;

    /// A recording segment by id.
    fn recording(&self, id: i64) -> Result<Option<Recording>, StoreError>;

    /// A user by login name.
    fn user(&self, name: &str) -> Result<Option<User>, StoreError>;

    /// Every user, by name.
    fn users(&self) -> Result<Vec<User>, StoreError>;

    /// Adds a user; [`StoreError::Conflict`] if the name is taken.
    fn add_user(&self, user: &User) -> Result<(), StoreError>;

    /// Appends an audit event; returns its id.
    fn audit_append(&self, event: &AuditEvent) -> Result<i64, StoreError>;

    /// Audit rows newest first: at most `limit`, with ids below `before` when given.
    fn audit(&self, limit: u32, before: Option<i64>) -> Result<Vec<AuditEntry>, StoreError>;

    /// Puts a call under legal hold (retention keeps it), audited as done by `who` from
    /// `address`.
    fn hold(&self, call: i64, reason: &str, who: &str, address: &str) -> Result<(), StoreError>;

    /// Checks the audit chain and every recording (files still being written are not
    /// problems: a recorder may be running).
    fn verify(&self) -> Result<VerifyReport, StoreError>;

    /// Lifts a call's legal hold, audited.
    fn release(
        &self,
        call: i64,
        reason: Option<&str>,
        who: &str,
        address: &str,
    ) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_actions_round_trip_through_their_names() {
        for role in [Role::Admin, Role::Supervisor, Role::Agent] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        for action in [
            AuditAction::Login,
            AuditAction::LoginFailed,
            AuditAction::Logout,
            AuditAction::Play,
            AuditAction::Download,
            AuditAction::Export,
            AuditAction::UserAdded,
            AuditAction::HoldAdded,
            AuditAction::HoldRemoved,
            AuditAction::RetentionDelete,
        ] {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(action));
        }
    }
}
