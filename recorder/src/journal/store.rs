//! The web's [`web::Store`] on the DuckDB journal: calls in the shape of `recorder calls
//! --json`, SIP messages, recordings by id, users and the audit log.
//!
//! One DuckDB database per process: the store is made from a connection of the journal the
//! process opened (`Connection::try_clone`), and clones more for concurrent requests, so the
//! web reads while the pipeline writes through its own connection. Audit and user writes are
//! serialised by a mutex, which also keeps audit ids ascending in insertion order.

use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use duckdb::{Connection, OptionalExt, params};
use serde_json::Value;
use web::{
    AuditAction, AuditEntry, AuditEvent, CallQuery, Recording, Role, SipMessage, Store, StoreError,
    User, VerifyReport,
};

use super::{CallFilter, JournalError, query};
use crate::time::Timestamp;

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 8;

/// The journal as the web's store.
pub struct JournalStore {
    dir: PathBuf,
    base: Mutex<Connection>,
    idle: Mutex<Vec<Connection>>,
    writes: Mutex<()>,
}

impl JournalStore {
    /// A store on the journal `conn` belongs to, whose data folder is `dir`.
    pub fn new(conn: &Connection, dir: &Path) -> Result<JournalStore, JournalError> {
        Ok(JournalStore {
            dir: dir.to_path_buf(),
            base: Mutex::new(conn.try_clone()?),
            idle: Mutex::new(Vec::new()),
            writes: Mutex::new(()),
        })
    }

    /// Runs `f` on a connection of its own.
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self
                .base
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_clone()
                .map_err(backend)?,
        };
        let result = f(&conn).map_err(backend);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }
}

fn backend(err: impl Into<JournalError>) -> StoreError {
    StoreError::Backend(Box::new(err.into()))
}

fn filter_of(query: &CallQuery) -> CallFilter {
    CallFilter {
        id: query.id,
        from: query.from_us.map(Timestamp::from_micros),
        to: query.to_us.map(Timestamp::from_micros),
        number: query.number.clone(),
        recorded_only: query.recorded_only,
        direction: query.direction.clone(),
        disposition: query.disposition.clone(),
        min_duration_s: query.min_duration_s,
        party: query.party.clone(),
        limit: query.limit,
        offset: query.offset,
    }
}

/// A journal path that stays inside the data folder: relative, with no `..`.
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(rel))
}

impl Store for JournalStore {
    fn calls(&self, query: &CallQuery) -> Result<Vec<Value>, StoreError> {
        let calls = self.with(|conn| query::calls(conn, &filter_of(query)))?;
        calls
            .iter()
            .map(|c| serde_json::to_value(c).map_err(|e| StoreError::Backend(Box::new(e))))
            .collect()
    }

    fn count_calls(&self, query: &CallQuery) -> Result<u64, StoreError> {
        let n = self.with(|conn| query::count(conn, &filter_of(query)))?;
        Ok(n.max(0) as u64)
    }

    fn messages(&self, call: i64) -> Result<Vec<SipMessage>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT at_us, src, dst, label, cseq, coalesce(has_sdp, false), \
                 coalesce(duplicates, 0) FROM messages WHERE call = ? ORDER BY at_us, rowid",
            )?;
            let rows = stmt.query_map(params![call], |r| {
                Ok(SipMessage {
                    at_us: r.get(0)?,
                    src: r.get(1)?,
                    dst: r.get(2)?,
                    label: r.get(3)?,
                    cseq: r.get(4)?,
                    has_sdp: r.get(5)?,
                    duplicates: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn recording(&self, id: i64) -> Result<Option<Recording>, StoreError> {
        let row: Option<(i64, String, Option<String>)> = self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT call, path, sha256 FROM segments WHERE id = ? AND status <> 'empty'",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?)
        })?;
        let Some((call, rel, sha256)) = row else {
            return Ok(None);
        };
        let Some(path) = inside(&self.dir, &rel) else {
            tracing::warn!(segment = id, path = %rel, "recording path leaves the data folder");
            return Ok(None);
        };
        Ok(Some(Recording {
            id,
            call,
            path,
            sha256,
        }))
    }

    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self.users_where(Some(name))?.into_iter().next())
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        self.users_where(None)
    }

    fn add_user(&self, user: &User) -> Result<(), StoreError> {
        let _writing = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        if self.user(&user.name)?.is_some() {
            return Err(StoreError::Conflict(format!("user {}", user.name)));
        }
        self.with(|conn| {
            conn.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                params![
                    user.name,
                    user.role.as_str(),
                    user.extension,
                    user.password_hash,
                    chrono::Utc::now().timestamp_micros()
                ],
            )?;
            Ok(())
        })
    }

    fn audit_append(&self, event: &AuditEvent) -> Result<i64, StoreError> {
        self.with(|conn| super::audit::append(conn, event))
    }

    fn hold(&self, call: i64, reason: &str, who: &str, address: &str) -> Result<(), StoreError> {
        let _writing = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        self.with(|conn| Ok(super::retention::hold(conn, call, reason, who, address)))?
            .map_err(hold_refused)
    }

    fn release(
        &self,
        call: i64,
        reason: Option<&str>,
        who: &str,
        address: &str,
    ) -> Result<(), StoreError> {
        let _writing = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        self.with(|conn| Ok(super::retention::release(conn, call, reason, who, address)))?
            .map_err(hold_refused)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.with(|conn| super::verify::report(conn, &self.dir, true))
    }

    fn audit(&self, limit: u32, before: Option<i64>) -> Result<Vec<AuditEntry>, StoreError> {
        // The action is parsed after the query: DuckDB's row closure cannot fail with ours.
        let rows: Vec<(AuditEntry, String)> = self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, at_us, user_name, address, action, call, recording, detail \
                 FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?",
            )?;
            let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
                let entry = AuditEntry {
                    id: r.get(0)?,
                    event: AuditEvent {
                        at_us: r.get(1)?,
                        user: r.get(2)?,
                        address: r.get(3)?,
                        action: AuditAction::Login,
                        call: r.get(5)?,
                        recording: r.get(6)?,
                        detail: r.get(7)?,
                    },
                };
                Ok((entry, r.get(4)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        rows.into_iter()
            .map(|(mut entry, action)| {
                entry.event.action = action
                    .parse()
                    .map_err(|e: String| StoreError::Backend(e.into()))?;
                Ok(entry)
            })
            .collect()
    }
}

impl JournalStore {
    fn users_where(&self, name: Option<&str>) -> Result<Vec<User>, StoreError> {
        let rows: Vec<(String, String, Option<String>, String)> = self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, role, extension, password_hash FROM users \
                 WHERE ? IS NULL OR name = ? ORDER BY name",
            )?;
            let rows = stmt.query_map(params![name, name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        rows.into_iter()
            .map(|(name, role, extension, password_hash)| {
                let role: Role = role
                    .parse()
                    .map_err(|e: String| StoreError::Backend(e.into()))?;
                Ok(User {
                    name,
                    role,
                    extension,
                    password_hash,
                })
            })
            .collect()
    }
}

/// A refused hold change as the web reports it (409 with the reason), a journal failure as
/// a failure.
fn hold_refused(err: super::retention::HoldError) -> StoreError {
    use super::retention::HoldError;
    match err {
        HoldError::Journal(err) => backend(err),
        refused => StoreError::Refused(refused.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;

    fn store() -> (tempfile::TempDir, Journal, JournalStore) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let store = JournalStore::new(journal.connection(), dir.path()).unwrap();
        (dir, journal, store)
    }

    fn user(name: &str) -> User {
        User {
            name: name.into(),
            role: Role::Agent,
            extension: Some("1001".into()),
            password_hash: "$argon2id$x".into(),
        }
    }

    #[test]
    fn users_are_added_once_and_found_by_name() {
        let (_dir, _journal, store) = store();
        store.add_user(&user("bob")).unwrap();
        store.add_user(&user("alice")).unwrap();
        assert!(matches!(
            store.add_user(&user("bob")),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.user("alice").unwrap(), Some(user("alice")));
        assert_eq!(store.user("carol").unwrap(), None);
        let names: Vec<String> = store.users().unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["alice", "bob"]);
    }

    #[test]
    fn audit_ids_ascend_and_list_newest_first() {
        let (_dir, _journal, store) = store();
        let event = |action, recording| AuditEvent {
            at_us: 1,
            user: "alice".into(),
            address: "127.0.0.1".into(),
            action,
            call: Some(7),
            recording,
            detail: None,
        };
        assert_eq!(
            store
                .audit_append(&event(AuditAction::Login, None))
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .audit_append(&event(AuditAction::Play, Some(3)))
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .audit_append(&event(AuditAction::Download, Some(3)))
                .unwrap(),
            3
        );
        let all = store.audit(10, None).unwrap();
        let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
        assert_eq!(ids, [3, 2, 1]);
        assert_eq!(all[1].event, event(AuditAction::Play, Some(3)));
        let older = store.audit(10, Some(3)).unwrap();
        assert_eq!(older.len(), 2);
    }

    #[test]
    fn recording_paths_must_stay_inside_the_data_folder() {
        let dir = Path::new("/data");
        assert_eq!(
            inside(dir, "recordings/2026/12/04/1.opus"),
            Some(PathBuf::from("/data/recordings/2026/12/04/1.opus"))
        );
        assert_eq!(inside(dir, "../etc/passwd"), None);
        assert_eq!(inside(dir, "/etc/passwd"), None);
    }
}
