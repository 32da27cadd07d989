//! Retention and legal holds: calls that ended more than the configured number of days ago
//! are deleted with their recordings, except calls under legal hold. Every deletion and every
//! hold change is written to the audit log.
//!
//! A call is deleted in one transaction that also appends its audit row (under the audit
//! chain's lock, so no other writer can slip a row in between), and its files are removed
//! after the commit: a crash in between leaves files the journal no longer lists, which
//! `recorder verify` reports, never journal rows whose files are gone.

use duckdb::{Connection, OptionalExt, params};
use web::{AuditAction, AuditEvent};

use super::{JournalError, audit};
use crate::time::Timestamp;

/// A call old enough to go.
#[derive(Clone, Debug, PartialEq)]
pub struct Expired {
    /// Journal id.
    pub call: i64,
    /// SIP Call-ID.
    pub call_id: String,
    /// When it ended (or started, if its end is unknown).
    pub ended_at: Timestamp,
    /// Its recordings: segment id, file (relative to the data folder), SHA-256.
    pub recordings: Vec<(i64, Option<String>, Option<String>)>,
}

/// What a retention run did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetentionReport {
    /// Calls deleted (or to delete).
    pub deleted: Vec<Expired>,
    /// Calls old enough but kept under legal hold.
    pub held: usize,
    /// Recording files that could not be removed (path and why).
    pub leftover: Vec<(String, String)>,
}

/// Finished calls that ended before `cutoff` and are not under hold; and how many are held.
pub fn expired(
    conn: &Connection,
    cutoff: Timestamp,
) -> Result<(Vec<Expired>, usize), JournalError> {
    let held: i64 = conn.query_row(
        "SELECT count(*) FROM calls WHERE state = 'finished' \
         AND coalesce(ended_us, started_us) < ? AND id IN (SELECT call FROM holds)",
        params![cutoff.as_micros()],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(
        "SELECT id, coalesce(call_id, ''), coalesce(ended_us, started_us) FROM calls \
         WHERE state = 'finished' AND coalesce(ended_us, started_us) < ? \
         AND id NOT IN (SELECT call FROM holds) ORDER BY id",
    )?;
    let mut calls: Vec<Expired> = stmt
        .query_map(params![cutoff.as_micros()], |r| {
            Ok(Expired {
                call: r.get(0)?,
                call_id: r.get(1)?,
                ended_at: Timestamp::from_micros(r.get(2)?),
                recordings: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt =
        conn.prepare("SELECT id, path, sha256 FROM segments WHERE call = ? ORDER BY seq")?;
    for call in &mut calls {
        call.recordings = stmt
            .query_map(params![call.call], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok((calls, held as usize))
}

/// Deletes what [`expired`] found, auditing each call as deleted by `who`; with `dry_run`,
/// only reports.
pub fn run(
    conn: &Connection,
    dir: &std::path::Path,
    cutoff: Timestamp,
    who: &str,
    dry_run: bool,
) -> Result<RetentionReport, JournalError> {
    let (calls, held) = expired(conn, cutoff)?;
    let mut report = RetentionReport {
        deleted: Vec::new(),
        held,
        leftover: Vec::new(),
    };
    for call in calls {
        if !dry_run {
            delete_call(conn, &call, cutoff, who)?;
            for (_, path, _) in &call.recordings {
                let Some(rel) = path else { continue };
                let file = dir.join(rel);
                match std::fs::remove_file(&file) {
                    Ok(()) => remove_empty_parents(&file, &dir.join(super::RECORDINGS_DIR)),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => {
                        tracing::warn!(path = %rel, %err, "expired recording not removed");
                        report.leftover.push((rel.clone(), err.to_string()));
                    }
                }
            }
        }
        report.deleted.push(call);
    }
    if !dry_run && !report.deleted.is_empty() {
        tracing::info!(
            calls = report.deleted.len(),
            held,
            "retention: expired calls deleted"
        );
    }
    Ok(report)
}

/// Removes the day, month and year folders a deleted file leaves empty.
fn remove_empty_parents(file: &std::path::Path, root: &std::path::Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

fn delete_call(
    conn: &Connection,
    call: &Expired,
    cutoff: Timestamp,
    who: &str,
) -> Result<(), JournalError> {
    let recordings: Vec<String> = call
        .recordings
        .iter()
        .map(|(id, _, sha)| format!("{id} sha256={}", sha.as_deref().unwrap_or("none")))
        .collect();
    let detail = format!(
        "Call-ID {}; ended {}; older than {}; recordings: {}",
        call.call_id,
        call.ended_at.to_rfc3339(),
        cutoff.to_rfc3339(),
        if recordings.is_empty() {
            "none".to_string()
        } else {
            recordings.join(", ")
        }
    );
    let event = AuditEvent {
        at_us: chrono::Utc::now().timestamp_micros(),
        user: who.to_string(),
        address: "local".into(),
        action: AuditAction::RetentionDelete,
        call: Some(call.call),
        recording: None,
        detail: Some(detail),
    };
    audit::append_with(conn, &event, |conn| {
        for table in ["segments", "streams", "decisions", "messages"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE call = ?"),
                params![call.call],
            )?;
        }
        conn.execute("DELETE FROM calls WHERE id = ?", params![call.call])?;
        Ok(())
    })?;
    Ok(())
}

/// Why a hold could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// No such call in the journal.
    #[error("no call {0} in the journal")]
    NoCall(i64),
    /// The call is under hold already.
    #[error("call {0} is under legal hold already")]
    Held(i64),
    /// The call is not under hold.
    #[error("call {0} is not under legal hold")]
    NotHeld(i64),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl From<duckdb::Error> for HoldError {
    fn from(err: duckdb::Error) -> Self {
        HoldError::Journal(err.into())
    }
}

/// Fails with [`HoldError::NoCall`] unless the journal has the call.
fn require_call(conn: &Connection, call: i64) -> Result<(), HoldError> {
    let exists: Option<i64> = conn
        .query_row("SELECT id FROM calls WHERE id = ?", params![call], |r| {
            r.get(0)
        })
        .optional()?;
    match exists {
        Some(_) => Ok(()),
        None => Err(HoldError::NoCall(call)),
    }
}

/// Puts a call under legal hold, audited as done by `who` from `address`.
pub fn hold(
    conn: &Connection,
    call: i64,
    reason: &str,
    who: &str,
    address: &str,
) -> Result<(), HoldError> {
    require_call(conn, call)?;
    if held(conn, call)? {
        return Err(HoldError::Held(call));
    }
    let now = chrono::Utc::now().timestamp_micros();
    let event = AuditEvent {
        at_us: now,
        user: who.to_string(),
        address: address.to_string(),
        action: AuditAction::HoldAdded,
        call: Some(call),
        recording: None,
        detail: Some(reason.to_string()),
    };
    audit::append_with(conn, &event, |conn| {
        conn.execute(
            "INSERT INTO holds VALUES (?, ?, ?, ?)",
            params![call, reason, who, now],
        )?;
        Ok(())
    })?;
    Ok(())
}

/// Lifts a call's legal hold, audited as done by `who` from `address`.
pub fn release(
    conn: &Connection,
    call: i64,
    reason: Option<&str>,
    who: &str,
    address: &str,
) -> Result<(), HoldError> {
    require_call(conn, call)?;
    if !held(conn, call)? {
        return Err(HoldError::NotHeld(call));
    }
    let event = AuditEvent {
        at_us: chrono::Utc::now().timestamp_micros(),
        user: who.to_string(),
        address: address.to_string(),
        action: AuditAction::HoldRemoved,
        call: Some(call),
        recording: None,
        detail: reason.map(str::to_string),
    };
    audit::append_with(conn, &event, |conn| {
        conn.execute("DELETE FROM holds WHERE call = ?", params![call])?;
        Ok(())
    })?;
    Ok(())
}

fn held(conn: &Connection, call: i64) -> Result<bool, JournalError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM holds WHERE call = ?",
        params![call],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;

    fn call(conn: &Connection, id: i64, ended_us: i64) {
        conn.execute(
            "INSERT INTO calls (id, call_id, started_us, ended_us, state) \
             VALUES (?, ?, ?, ?, 'finished')",
            params![id, format!("c{id}"), ended_us - 1_000_000, ended_us],
        )
        .unwrap();
    }

    #[test]
    fn old_calls_go_with_their_files_and_audit_rows_held_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let conn = journal.connection();
        let day = 86_400_000_000;
        let now = 100 * day;
        call(conn, 1, now - 40 * day);
        call(conn, 2, now - 40 * day);
        call(conn, 3, now - 10 * day);
        let rel = "recordings/1970/01/01/7.opus";
        std::fs::create_dir_all(dir.path().join("recordings/1970/01/01")).unwrap();
        std::fs::write(dir.path().join(rel), b"OggS").unwrap();
        conn.execute(
            "INSERT INTO segments (id, call, seq, path, sha256, status) \
             VALUES (7, 1, 1, ?, 'ab', 'complete')",
            params![rel],
        )
        .unwrap();
        hold(conn, 2, "case 42", "tester", "local").unwrap();
        assert!(matches!(
            hold(conn, 2, "again", "tester", "local"),
            Err(HoldError::Held(2))
        ));
        assert!(matches!(
            hold(conn, 9, "none", "tester", "local"),
            Err(HoldError::NoCall(9))
        ));

        let cutoff = Timestamp::from_micros(now - 30 * day);
        let dry = run(conn, dir.path(), cutoff, "tester", true).unwrap();
        assert_eq!(dry.deleted.iter().map(|c| c.call).collect::<Vec<_>>(), [1]);
        assert!(dir.path().join(rel).exists(), "a dry run deletes nothing");

        let report = run(conn, dir.path(), cutoff, "tester", false).unwrap();
        assert_eq!(report.deleted.len(), 1);
        assert_eq!(report.held, 1);
        assert!(!dir.path().join(rel).exists());
        assert!(
            !dir.path().join("recordings/1970").exists(),
            "empty folders removed"
        );
        assert!(dir.path().join("recordings").exists());
        let left: Vec<i64> = conn
            .prepare("SELECT id FROM calls ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, [2, 3]);
        let segments: i64 = conn
            .query_row("SELECT count(*) FROM segments", [], |r| r.get(0))
            .unwrap();
        assert_eq!(segments, 0);

        let actions: Vec<(String, Option<i64>)> = conn
            .prepare("SELECT action, call FROM audit ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            actions,
            [
                ("hold_added".to_string(), Some(2)),
                ("retention_delete".to_string(), Some(1))
            ]
        );
        assert!(audit::check(conn).unwrap().problems.is_empty());

        release(conn, 2, Some("case closed"), "tester", "local").unwrap();
        assert!(matches!(
            release(conn, 2, None, "tester", "local"),
            Err(HoldError::NotHeld(2))
        ));
        let report = run(conn, dir.path(), cutoff, "tester", false).unwrap();
        assert_eq!(
            report.deleted.iter().map(|c| c.call).collect::<Vec<_>>(),
            [2]
        );
    }
}
