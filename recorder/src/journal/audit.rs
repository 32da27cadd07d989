//! The audit log as a hash chain: each row stores the hash of the row before it and its own,
//! so a row altered, removed or reordered afterwards breaks the chain (`recorder verify`).
//!
//! # Canonical encoding
//!
//! A row's *content* is its fields in this order: `id`, `at_us`, `user_name`, `address`,
//! `action`, `call`, `recording`, `detail`. Each field is one byte `0` when it is NULL, else
//! one byte `1`, the byte length of its value as a big-endian `u32`, and the value: text as
//! UTF-8, integers in decimal ASCII (`-` for negatives, no leading zeros). The encoding starts
//! with the ASCII tag `recorder-audit-v1` so a future layout cannot be mistaken for this one.
//!
//! `hash = SHA-256(prev_hash || content)`, where `prev_hash` is the previous row's `hash` (by
//! ascending `id`) as 32 raw bytes, and 32 zero bytes for the first row. Both are stored as
//! lower-case hex in the columns `prev_hash` and `hash`.
//!
//! Rows are appended under a process-wide lock (the web's threads and the command line's
//! retention run may write at once), and one process at a time holds the journal for
//! writing, so the chain has one head. Rows written before the chain existed are sealed into
//! it, in id order, the next time the journal is opened for writing.
//!
//! TODO(#6): the chain proves the rows agree with each other, not that the newest rows are
//! all there: deleting rows from the end leaves a shorter valid chain. `recorder verify`
//! prints the head hash so it can be compared with one noted earlier; anchoring it outside the
//! machine (a log server, a signed receipt) is left to the operator.

use std::sync::Mutex;

use duckdb::{Connection, params};
use sha2::{Digest, Sha256};
use web::AuditEvent;

use super::JournalError;

/// Serialises appends within the process: the head must be read and extended at once.
static APPEND: Mutex<()> = Mutex::new(());

/// The `prev_hash` of the first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// One audit row as stored, for hashing and checking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Row id (ascending in insertion order).
    pub id: i64,
    /// When, in microseconds since the epoch.
    pub at_us: i64,
    /// Who.
    pub user_name: Option<String>,
    /// From where.
    pub address: Option<String>,
    /// What (`login`, `play`, `retention_delete`, ...).
    pub action: Option<String>,
    /// The call concerned.
    pub call: Option<i64>,
    /// The recording concerned.
    pub recording: Option<i64>,
    /// More about it.
    pub detail: Option<String>,
}

impl AuditRow {
    /// The canonical encoding of the row's content (see the module docs).
    pub fn canonical(&self) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, value: Option<&str>) {
            match value {
                None => out.push(0),
                Some(text) => {
                    out.push(1);
                    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        let mut out = b"recorder-audit-v1".to_vec();
        field(&mut out, Some(&self.id.to_string()));
        field(&mut out, Some(&self.at_us.to_string()));
        field(&mut out, self.user_name.as_deref());
        field(&mut out, self.address.as_deref());
        field(&mut out, self.action.as_deref());
        field(&mut out, self.call.map(|c| c.to_string()).as_deref());
        field(&mut out, self.recording.map(|r| r.to_string()).as_deref());
        field(&mut out, self.detail.as_deref());
        out
    }

    /// `SHA-256(prev || content)`.
    pub fn hash(&self, prev: &[u8; 32]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(prev);
        hasher.update(self.canonical());
        hasher.finalize().into()
    }
}

/// Appends an event to the chain; returns its id.
pub fn append(conn: &Connection, event: &AuditEvent) -> Result<i64, JournalError> {
    let _appending = APPEND.lock().unwrap_or_else(|e| e.into_inner());
    append_locked(conn, event)
}

/// Runs `work` and appends `event` in one transaction on `conn` (which must not be in one):
/// the change and its audit row are committed together or not at all. Returns the row's id.
pub fn append_with(
    conn: &Connection,
    event: &AuditEvent,
    work: impl FnOnce(&Connection) -> Result<(), JournalError>,
) -> Result<i64, JournalError> {
    let _appending = APPEND.lock().unwrap_or_else(|e| e.into_inner());
    conn.execute_batch("BEGIN TRANSACTION")?;
    let result = work(conn).and_then(|()| append_locked(conn, event));
    match result {
        Ok(id) => {
            conn.execute_batch("COMMIT")?;
            Ok(id)
        }
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

fn append_locked(conn: &Connection, event: &AuditEvent) -> Result<i64, JournalError> {
    let head: Option<(i64, Option<String>)> = conn
        .query_row(
            "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            duckdb::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let (id, prev) = match head {
        Some((last, hash)) => (last + 1, decode(hash.as_deref())),
        None => (1, GENESIS),
    };
    let row = AuditRow {
        id,
        at_us: event.at_us,
        user_name: Some(event.user.clone()),
        address: Some(event.address.clone()),
        action: Some(event.action.as_str().to_string()),
        call: event.call,
        recording: event.recording,
        detail: event.detail.clone(),
    };
    insert(conn, &row, &prev)?;
    Ok(id)
}

fn insert(conn: &Connection, row: &AuditRow, prev: &[u8; 32]) -> Result<(), JournalError> {
    conn.execute(
        "INSERT INTO audit (id, at_us, user_name, address, action, call, recording, detail, \
         prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            row.id,
            row.at_us,
            row.user_name,
            row.address,
            row.action,
            row.call,
            row.recording,
            row.detail,
            hex::encode(prev),
            hex::encode(row.hash(prev)),
        ],
    )?;
    Ok(())
}

/// A stored hash as bytes; a missing or garbled one counts as the genesis value (the chain
/// check then reports the row).
fn decode(hash: Option<&str>) -> [u8; 32] {
    hash.and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .unwrap_or(GENESIS)
}

/// A row with its stored `prev_hash` and `hash`.
pub type StoredRow = (AuditRow, Option<String>, Option<String>);

/// Every row with its stored `prev_hash` and `hash`, in id order.
pub fn rows(conn: &Connection) -> Result<Vec<StoredRow>, JournalError> {
    let mut stmt = conn.prepare(
        "SELECT id, at_us, user_name, address, action, call, recording, detail, prev_hash, hash \
         FROM audit ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            AuditRow {
                id: r.get(0)?,
                at_us: r.get(1)?,
                user_name: r.get(2)?,
                address: r.get(3)?,
                action: r.get(4)?,
                call: r.get(5)?,
                recording: r.get(6)?,
                detail: r.get(7)?,
            },
            r.get(8)?,
            r.get(9)?,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Seals rows written before the chain existed (no `hash`) into it, in id order. Only rows
/// after the last hashed one are sealed; a row without hash before it is left for
/// [`check`] to report.
pub fn seal_unchained(conn: &Connection) -> Result<usize, JournalError> {
    let _appending = APPEND.lock().unwrap_or_else(|e| e.into_inner());
    let all = rows(conn)?;
    let start = all
        .iter()
        .rposition(|(_, _, hash)| hash.is_some())
        .map_or(0, |i| i + 1);
    let mut prev = match start {
        0 => GENESIS,
        i => decode(all[i - 1].2.as_deref()),
    };
    for (row, _, _) in &all[start..] {
        let hash = row.hash(&prev);
        conn.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?",
            params![hex::encode(prev), hex::encode(hash), row.id],
        )?;
        prev = hash;
    }
    let sealed = all.len() - start;
    if sealed > 0 {
        tracing::info!(
            rows = sealed,
            "audit rows written before the hash chain sealed into it"
        );
    }
    Ok(sealed)
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct ChainReport {
    /// Rows checked.
    pub rows: usize,
    /// The last row's hash (hex), when there are rows.
    pub head: Option<String>,
    /// One line per problem.
    pub problems: Vec<String>,
}

/// Checks the whole chain: each row's `prev_hash` is the previous row's `hash`, and each
/// `hash` is that of the row's content.
pub fn check(conn: &Connection) -> Result<ChainReport, JournalError> {
    let mut report = ChainReport::default();
    let mut prev = GENESIS;
    let mut prev_id: Option<i64> = None;
    for (row, stored_prev, stored_hash) in rows(conn)? {
        report.rows += 1;
        if let Some(before) = prev_id
            && row.id != before + 1
        {
            report.problems.push(format!(
                "audit row {}: follows row {before} (rows missing or ids changed)",
                row.id
            ));
        }
        if stored_prev.as_deref() != Some(hex::encode(prev).as_str()) {
            report.problems.push(format!(
                "audit row {}: prev_hash is not the hash of the row before (a row before it was \
                 removed, inserted or altered)",
                row.id
            ));
        }
        let expected = row.hash(&decode(stored_prev.as_deref()));
        if stored_hash.as_deref() != Some(hex::encode(expected).as_str()) {
            report.problems.push(format!(
                "audit row {}: hash does not match its content (the row was altered)",
                row.id
            ));
        }
        // Go on from what is stored, so one altered row is reported once, not for every row
        // after it.
        prev = decode(stored_hash.as_deref());
        prev_id = Some(row.id);
        report.head = stored_hash;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;
    use web::AuditAction;

    fn event(n: i64) -> AuditEvent {
        AuditEvent {
            at_us: n,
            user: format!("user{n}"),
            address: "127.0.0.1".into(),
            action: AuditAction::Play,
            call: Some(n),
            recording: None,
            detail: None,
        }
    }

    fn chain() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        for n in 1..=4 {
            assert_eq!(append(journal.connection(), &event(n)).unwrap(), n);
        }
        (dir, journal)
    }

    #[test]
    fn the_canonical_encoding_is_stable() {
        let row = AuditRow {
            id: 1,
            at_us: -5,
            user_name: Some("é".into()),
            address: None,
            action: Some("play".into()),
            call: None,
            recording: Some(2),
            detail: None,
        };
        let mut expected = b"recorder-audit-v1".to_vec();
        expected.extend_from_slice(b"\x01\0\0\0\x011\x01\0\0\0\x02-5\x01\0\0\0\x02\xc3\xa9\0");
        expected.extend_from_slice(b"\x01\0\0\0\x04play\0\x01\0\0\0\x012\0");
        assert_eq!(row.canonical(), expected);
        // SHA-256 of 32 zero bytes and that encoding, computed apart with sha256sum.
        let mut input = vec![0u8; 32];
        input.extend_from_slice(&expected);
        assert_eq!(row.hash(&GENESIS), <[u8; 32]>::from(Sha256::digest(&input)));
    }

    #[test]
    fn an_intact_chain_checks_and_links_each_row_to_the_one_before() {
        let (_dir, journal) = chain();
        let report = check(journal.connection()).unwrap();
        assert_eq!(report.rows, 4);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let rows = rows(journal.connection()).unwrap();
        assert_eq!(rows[0].1.as_deref(), Some(hex::encode(GENESIS).as_str()));
        for pair in rows.windows(2) {
            assert_eq!(pair[1].1, pair[0].2);
        }
        assert_eq!(report.head, rows[3].2);
    }

    #[test]
    fn an_altered_row_is_reported() {
        let (_dir, journal) = chain();
        journal
            .connection()
            .execute("UPDATE audit SET user_name = 'mallory' WHERE id = 2", [])
            .unwrap();
        let report = check(journal.connection()).unwrap();
        assert_eq!(
            report.problems,
            ["audit row 2: hash does not match its content (the row was altered)"]
        );
    }

    #[test]
    fn a_removed_row_is_reported() {
        let (_dir, journal) = chain();
        journal
            .connection()
            .execute("DELETE FROM audit WHERE id = 2", [])
            .unwrap();
        let report = check(journal.connection()).unwrap();
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        assert!(report.problems[0].starts_with("audit row 3: follows row 1"));
        assert!(report.problems[1].starts_with("audit row 3: prev_hash is not"));
    }

    #[test]
    fn a_row_rehashed_after_alteration_breaks_the_next_link() {
        let (_dir, journal) = chain();
        let conn = journal.connection();
        conn.execute("UPDATE audit SET detail = 'forged' WHERE id = 3", [])
            .unwrap();
        // A forger who recomputes the altered row's hash still breaks row 4's link.
        let (row, prev, _) = rows(conn).unwrap().remove(2);
        let forged = hex::encode(row.hash(&decode(prev.as_deref())));
        conn.execute("UPDATE audit SET hash = ? WHERE id = 3", params![forged])
            .unwrap();
        let report = check(conn).unwrap();
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].starts_with("audit row 4: prev_hash is not"));
    }

    #[test]
    fn rows_from_before_the_chain_are_sealed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let journal = Journal::open(dir.path()).unwrap();
            let conn = journal.connection();
            for n in 1..=3 {
                conn.execute(
                    "INSERT INTO audit (id, at_us, user_name, action) \
                     VALUES (?, ?, 'old', 'login')",
                    params![n, n],
                )
                .unwrap();
            }
            assert_eq!(check(conn).unwrap().problems.len(), 6);
        }
        let journal = Journal::open(dir.path()).unwrap();
        append(journal.connection(), &event(9)).unwrap();
        let report = check(journal.connection()).unwrap();
        assert_eq!(report.rows, 4);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}
