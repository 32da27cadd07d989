//! The call journal: DuckDB in one file, `journal.duckdb`, under the data folder, with the
//! recordings beside it in `recordings/`.
//!
//! Writes are grouped into transactions committed at least every [`COMMIT_INTERVAL`], so a
//! kill loses under a second of journal, never a finished call's committed rows. A segment's
//! row is written when it opens (status `recording`) and completed when it closes; on open,
//! rows left `recording` by a crash become `incomplete` with the digest of what is on disk.

pub mod audit;
pub mod query;
pub mod retention;
pub mod store;
pub mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use duckdb::types::Value;
use duckdb::{Connection, appender_params_from_iter, params};
use sha2::{Digest, Sha256};

use crate::dialog::Call;
use crate::media::FinishedSegment;
use crate::policy::{Decision, Trigger};
use crate::time::Timestamp;

pub use query::{CallFilter, CallView, SegmentView, StreamView, UnboundStreamView};
pub use store::JournalStore;

/// The journal's file name inside the data folder.
pub const JOURNAL_FILE: &str = "journal.duckdb";

/// The recordings folder inside the data folder.
pub const RECORDINGS_DIR: &str = "recordings";

/// How long writes may wait before they are committed.
const COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Most changed call rows and rows of finished calls held for the next commit; more commit now.
const MAX_HELD_ROWS: usize = 2_000;

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The data folder (or its recordings folder) could not be created.
    #[error("cannot create data folder {path} (or its recordings folder in it): {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the journal open for writing.
    #[error(
        "the journal {path} is in use by another recorder process (an import, `serve` or \
         `run`); wait for it, or ask a running `serve`/`run --listen` with --url (calls, \
         export, verify, hold add/remove)"
    )]
    Locked {
        /// The journal file.
        path: PathBuf,
    },
    /// There is no journal in the folder (read-only commands).
    #[error("no journal in {0} (nothing imported or recorded there yet)")]
    Missing(PathBuf),
    /// The data folder is a file.
    #[error("{0} is not a folder")]
    NotAFolder(PathBuf),
    /// The journal file cannot be written.
    #[error("cannot open the journal {0} for writing: permission denied")]
    ReadOnly(PathBuf),
    /// DuckDB failed.
    #[error("journal: {}", db_message(.0))]
    Db(#[from] duckdb::Error),
}

/// DuckDB's message without the generic code that duckdb-rs appends to some of them
/// (`...: Error code 1: Unknown error code`), which tells a user nothing.
fn db_message(err: &duckdb::Error) -> String {
    let text = err.to_string();
    match text.find(": Error code ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A call's row as the pipeline hands it over at the end.
#[derive(Debug)]
pub struct FinishedCall<'a> {
    /// The call as the correlator left it.
    pub call: &'a Call,
    /// Whether any segment was recorded.
    pub recorded: bool,
    /// Every policy decision.
    pub decisions: &'a [Decision],
    /// Problems worth noting (undecodable codec, disk full).
    pub note: Option<String>,
    /// Media frames the capture lost before userspace (live eBPF capture).
    pub capture_lost: u64,
}

/// The journal, opened for writing.
pub struct Journal {
    conn: Connection,
    dir: PathBuf,
    in_transaction: bool,
    last_commit: Instant,
    next_segment: i64,
    next_call: i64,
    import_id: Option<i64>,
    /// Rows of finished calls not yet handed to DuckDB: appended in bulk at the next commit.
    pending: PendingRows,
    /// The rows of calls not yet finished, as last written (see [`CallRow`]).
    call_rows: HashMap<i64, CallRow>,
    /// The ids of the rows changed since the last commit, once each.
    changed_calls: Vec<i64>,
}

/// The columns of `calls`, in table order (an appender fills whole rows).
const CALL_COLUMNS: [&str; 25] = [
    "id",
    "call_id",
    "caller",
    "caller_name",
    "callee",
    "direction",
    "started_us",
    "answered_us",
    "ended_us",
    "disposition",
    "end_reason",
    "final_status",
    "state",
    "recorded",
    "verdict",
    "decision",
    "user_agent",
    "joined_midway",
    "rtcp_packets",
    "other_media_packets",
    "dropped_messages",
    "note",
    "import_id",
    "capture_lost",
    "conversation",
];

/// Copies every staged row of `call_changes` over its call's row (built once from
/// [`CALL_COLUMNS`]).
static UPDATE_CHANGED_CALLS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let assignments: Vec<String> = CALL_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = u.{c}"))
        .collect();
    format!(
        "UPDATE calls SET {} FROM call_changes u WHERE calls.id = u.id",
        assignments.join(", ")
    )
});

/// Where each column the pipeline changes after a call's start sits in [`CALL_COLUMNS`].
mod col {
    pub const CALLER: usize = 2;
    pub const CALLEE: usize = 4;
    pub const ANSWERED: usize = 7;
    pub const ENDED: usize = 8;
    pub const DISPOSITION: usize = 9;
    pub const END_REASON: usize = 10;
    pub const FINAL_STATUS: usize = 11;
    pub const STATE: usize = 12;
    pub const RECORDED: usize = 13;
    pub const RTCP_PACKETS: usize = 18;
    pub const OTHER_MEDIA_PACKETS: usize = 19;
    pub const DROPPED_MESSAGES: usize = 20;
    pub const NOTE: usize = 21;
    pub const CAPTURE_LOST: usize = 23;
}

/// A call's whole row, kept from its start until it is finished. A change only marks it; the
/// commit hands every changed row to DuckDB at once: new rows through an appender, rows
/// already stored through one `UPDATE ... FROM` a staging table. A statement per change cost
/// DuckDB most of a millisecond and was the import's largest cost. Between commits nothing
/// is on disk either way, so a crash loses no more than before.
struct CallRow {
    values: [Value; 25],
    /// Whether DuckDB has the row (from an earlier commit).
    stored: bool,
    /// Whether it changed since the last commit.
    changed: bool,
}

impl CallRow {
    fn set(&mut self, column: usize, value: Value) {
        self.values[column] = value;
    }

    fn finished(&self) -> bool {
        matches!(&self.values[col::STATE], Value::Text(state) if state == "finished")
    }
}

/// The stream, decision and message rows of finished calls, kept until the next commit. One
/// appender per table per commit costs far less than a statement per row (each INSERT costs
/// DuckDB tens of microseconds of planning, and a call has a dozen rows).
#[derive(Default)]
struct PendingRows {
    streams: Vec<[Value; 13]>,
    decisions: Vec<[Value; 4]>,
    messages: Vec<[Value; 8]>,
}

impl PendingRows {
    /// Appends every row to its table (inside the open transaction) and empties the lists.
    fn append_to(&mut self, conn: &Connection) -> Result<(), JournalError> {
        fn append<const N: usize>(
            conn: &Connection,
            table: &str,
            rows: &mut Vec<[Value; N]>,
        ) -> Result<(), JournalError> {
            if rows.is_empty() {
                return Ok(());
            }
            let mut appender = conn.appender(table)?;
            for row in rows.drain(..) {
                appender.append_row(appender_params_from_iter(row))?;
            }
            appender.flush()?;
            Ok(())
        }
        append(conn, "streams", &mut self.streams)?;
        append(conn, "decisions", &mut self.decisions)?;
        append(conn, "messages", &mut self.messages)
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir` for writing, and recovers from a crash.
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(dir.join(RECORDINGS_DIR)).map_err(|source| {
            JournalError::Folder {
                path: dir.to_path_buf(),
                source,
            }
        })?;
        let path = dir.join(JOURNAL_FILE);
        let conn = open_connection(&path, false)?;
        conn.execute_batch(include_str!("schema.sql"))?;
        // Where the commit stages changed call rows (this connection's own, never on disk).
        conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS call_changes AS SELECT * FROM calls LIMIT 0",
        )?;
        audit::seal_unchained(&conn)?;

        let next_call: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM calls", [], |r| {
                r.get(0)
            })?;
        let next_segment: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM segments", [], |r| {
                r.get(0)
            })?;
        let mut journal = Journal {
            conn,
            dir: dir.to_path_buf(),
            in_transaction: false,
            last_commit: Instant::now(),
            next_segment,
            next_call,
            import_id: None,
            pending: PendingRows::default(),
            call_rows: HashMap::new(),
            changed_calls: Vec::new(),
        };
        journal.recover()?;
        Ok(journal)
    }

    /// Opens an existing journal for writing; unlike [`Journal::open`] it creates nothing,
    /// for commands that change what is there (a mistyped folder is an error, not a new
    /// empty journal).
    pub fn open_existing(dir: &Path) -> Result<Journal, JournalError> {
        if dir.exists() && !dir.is_dir() {
            return Err(JournalError::NotAFolder(dir.to_path_buf()));
        }
        if !dir.join(JOURNAL_FILE).exists() {
            return Err(JournalError::Missing(dir.to_path_buf()));
        }
        Journal::open(dir)
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id the next new call gets.
    pub fn next_call_id(&self) -> i64 {
        self.next_call
    }

    /// The DuckDB connection, for queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Marks segments and calls a crash left open: segments become `incomplete` with the
    /// digest of what is on disk (the file plays up to its last written page).
    fn recover(&mut self) -> Result<(), JournalError> {
        // Look-back audio that no record button claimed before a crash was never consented to.
        let look_back = self.dir.join(crate::pipeline::LOOK_BACK_DIR);
        if let Ok(entries) = std::fs::read_dir(&look_back) {
            let leftovers = entries.filter_map(Result::ok).count();
            let _ = std::fs::remove_dir_all(&look_back);
            if leftovers > 0 {
                tracing::warn!(
                    leftovers,
                    "unclaimed look-back recordings from before a crash deleted"
                );
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, path FROM segments WHERE status = 'recording'")?;
        let open: Vec<(i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        drop(stmt);
        for (id, rel) in &open {
            let path = self.dir.join(rel);
            let (sha, bytes) = match std::fs::read(&path) {
                Ok(data) => (Some(hex::encode(Sha256::digest(&data))), data.len() as i64),
                Err(_) => (None, 0),
            };
            self.conn.execute(
                "UPDATE segments SET status = 'incomplete', sha256 = ?, bytes = ? WHERE id = ?",
                params![sha, bytes, id],
            )?;
            tracing::debug!(segment = id, path = %path.display(), "recording marked incomplete");
        }
        if !open.is_empty() {
            tracing::warn!(
                recordings = open.len(),
                "recordings interrupted by a crash marked incomplete (they play up to their last \
                 written second)"
            );
        }
        let calls = self.conn.execute(
            "UPDATE calls SET state = 'finished', \
             end_reason = coalesce(end_reason, 'capture_stopped'), \
             note = coalesce(note || '; ', '') || 'interrupted by a crash' WHERE state = 'active'",
            [],
        )?;
        if calls > 0 {
            tracing::warn!(calls, "calls interrupted by a crash closed");
        }
        self.conn.execute(
            "UPDATE imports SET status = 'interrupted' WHERE status = 'running'",
            [],
        )?;
        Ok(())
    }

    /// Runs a statement through the connection's statement cache (the few statements the
    /// pipeline still runs per call or segment are prepared once).
    fn exec(&self, sql: &str, params: impl duckdb::Params) -> Result<usize, JournalError> {
        Ok(self.conn.prepare_cached(sql)?.execute(params)?)
    }

    fn begin(&mut self) -> Result<(), JournalError> {
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN TRANSACTION")?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Commits if the last commit is older than the commit interval, or if the rows held for
    /// it reach [`MAX_HELD_ROWS`] (a fast import or a call flood would otherwise gather a
    /// commit interval's worth of calls in memory).
    pub fn commit_if_due(&mut self) -> Result<(), JournalError> {
        let held = self.changed_calls.len()
            + self.pending.streams.len()
            + self.pending.decisions.len()
            + self.pending.messages.len();
        if self.in_transaction
            && (self.last_commit.elapsed() >= COMMIT_INTERVAL || held >= MAX_HELD_ROWS)
        {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits what was written.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.in_transaction {
            self.write_call_rows()?;
            self.pending.append_to(&self.conn)?;
            self.conn.execute_batch("COMMIT")?;
            self.in_transaction = false;
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// A call's row, to be changed: noted for the next commit.
    fn changed_row(&mut self, id: i64) -> Option<&mut CallRow> {
        let row = self.call_rows.get_mut(&id)?;
        if !row.changed {
            row.changed = true;
            self.changed_calls.push(id);
        }
        Some(row)
    }

    /// Hands the call rows changed since the last commit to DuckDB, and forgets finished ones.
    fn write_call_rows(&mut self) -> Result<(), JournalError> {
        let mut new_rows = Vec::new();
        let mut changed_rows = Vec::new();
        for id in &self.changed_calls {
            let Some(row) = self.call_rows.get(id) else {
                continue;
            };
            if row.stored {
                changed_rows.push(&row.values);
            } else {
                new_rows.push(&row.values);
            }
        }
        new_rows.sort_unstable_by_key(|values| call_id(values));
        if !new_rows.is_empty() {
            let mut appender = self.conn.appender("calls")?;
            for values in new_rows {
                appender.append_row(appender_params_from_iter(values.iter()))?;
            }
            appender.flush()?;
        }
        if !changed_rows.is_empty() {
            let mut appender =
                self.conn
                    .appender_to_catalog_and_db("call_changes", "temp", "main")?;
            for values in changed_rows {
                appender.append_row(appender_params_from_iter(values.iter()))?;
            }
            appender.flush()?;
            drop(appender);
            self.exec(&UPDATE_CHANGED_CALLS, [])?;
            self.exec("DELETE FROM call_changes", [])?;
        }
        for id in self.changed_calls.drain(..) {
            if let Some(row) = self.call_rows.get_mut(&id) {
                row.stored = true;
                row.changed = false;
                if row.finished() {
                    self.call_rows.remove(&id);
                }
            }
        }
        Ok(())
    }

    /// An earlier import of a capture file with this digest: id, path and status
    /// (`complete`, `truncated` or `interrupted`).
    pub fn find_import(&self, sha256: &str) -> Result<Option<(i64, String, String)>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, path, status FROM imports WHERE sha256 = ? \
             AND status IN ('complete', 'truncated', 'interrupted') ORDER BY id LIMIT 1",
        )?;
        let mut rows = stmt.query(params![sha256])?;
        match rows.next()? {
            Some(row) => Ok(Some((row.get(0)?, row.get(1)?, row.get(2)?))),
            None => Ok(None),
        }
    }

    /// Records the start of an import; calls written from now on belong to it.
    pub fn start_import(
        &mut self,
        path: &str,
        sha256: &str,
        now: Timestamp,
    ) -> Result<i64, JournalError> {
        let id: i64 =
            self.conn
                .query_row("SELECT coalesce(max(id), 0) + 1 FROM imports", [], |r| {
                    r.get(0)
                })?;
        self.conn.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, NULL, 0, 0, 'running', NULL)",
            params![id, path, sha256, now.as_micros()],
        )?;
        self.import_id = Some(id);
        Ok(id)
    }

    /// Records how an import ended.
    pub fn finish_import(
        &mut self,
        id: i64,
        now: Timestamp,
        packets: u64,
        calls: u64,
        status: &str,
        note: Option<&str>,
    ) -> Result<(), JournalError> {
        self.commit()?;
        self.conn.execute(
            "UPDATE imports SET finished_us = ?, packets = ?, calls = ?, status = ?, note = ? \
             WHERE id = ?",
            params![
                now.as_micros(),
                packets as i64,
                calls as i64,
                status,
                note,
                id
            ],
        )?;
        self.import_id = None;
        Ok(())
    }

    /// Writes a call's row when it starts (state `active`).
    pub fn call_started(
        &mut self,
        call: &Call,
        direction: &str,
        verdict: &str,
        decision: &str,
    ) -> Result<(), JournalError> {
        self.begin()?;
        let text = |t: &str| Value::Text(t.to_string());
        let values = [
            Value::BigInt(call.key.0),
            text(&call.call_id),
            text(&call.caller),
            call.caller_name.as_deref().map_or(Value::Null, text),
            text(&call.callee),
            text(direction),
            Value::BigInt(call.started_at.as_micros()),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            text("active"),
            Value::Boolean(false),
            text(verdict),
            text(decision),
            call.user_agent.as_deref().map_or(Value::Null, text),
            Value::Boolean(call.joined_midway),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            self.import_id.map_or(Value::Null, Value::BigInt),
            Value::Null,
            Value::BigInt(call.conversation.0),
        ];
        self.call_rows.insert(
            call.key.0,
            CallRow {
                values,
                stored: false,
                changed: true,
            },
        );
        self.changed_calls.push(call.key.0);
        self.next_call = self.next_call.max(call.key.0 + 1);
        Ok(())
    }

    /// Records when a call was answered.
    pub fn call_answered(&mut self, call: i64, at: Timestamp) -> Result<(), JournalError> {
        self.begin()?;
        if let Some(row) = self.changed_row(call) {
            row.set(col::ANSWERED, Value::BigInt(at.as_micros()));
            row.set(col::DISPOSITION, Value::Text("answered".into()));
        }
        Ok(())
    }

    /// Records how a call ended (its media may still trickle in until it is finished).
    pub fn call_ended(&mut self, call: &Call) -> Result<(), JournalError> {
        self.begin()?;
        if let Some(row) = self.changed_row(call.key.0) {
            set_end(row, call);
        }
        Ok(())
    }

    /// Allocates a segment id and writes its row (status `recording`). Returns the id and
    /// the file path relative to the data folder.
    pub fn segment_opened(
        &mut self,
        call: i64,
        seq: i32,
        at: Timestamp,
        trigger: Trigger,
    ) -> Result<(i64, String), JournalError> {
        self.begin()?;
        let id = self.next_segment;
        self.next_segment += 1;
        let date = at.to_datetime().format("%Y/%m/%d");
        let rel = format!("{RECORDINGS_DIR}/{date}/{id}.opus");
        self.exec(
            "INSERT INTO segments VALUES (?, ?, ?, ?, NULL, ?, ?, NULL, NULL, 'recording', 0, 0)",
            params![id, call, seq, at.as_micros(), trigger.as_str(), rel],
        )?;
        // The row must be on disk before the file is, so a crash leaves no file unaccounted.
        self.commit()?;
        Ok((id, rel))
    }

    /// Completes a segment's row.
    pub fn segment_closed(&mut self, segment: &FinishedSegment) -> Result<(), JournalError> {
        self.begin()?;
        self.exec(
            "UPDATE segments SET started_us = ?, ended_us = ?, sha256 = ?, bytes = ?, \
             status = 'complete', caller_packets = ?, callee_packets = ? WHERE id = ?",
            params![
                segment.started_at.as_micros(),
                segment.ended_at.as_micros(),
                segment.sha256,
                segment.bytes as i64,
                segment.packets[0] as i64,
                segment.packets[1] as i64,
                segment.id,
            ],
        )?;
        Ok(())
    }

    /// The file of a segment, relative to the data folder.
    pub fn segment_path(&self, id: i64) -> Result<Option<String>, JournalError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT path FROM segments WHERE id = ?")?;
        let mut rows = stmt.query(params![id])?;
        Ok(match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        })
    }

    /// Marks a segment that got no audio at all (its file was removed).
    pub fn segment_empty(&mut self, segment: &FinishedSegment) -> Result<(), JournalError> {
        self.begin()?;
        self.exec(
            "UPDATE segments SET started_us = ?, ended_us = ?, status = 'empty', sha256 = NULL, \
             bytes = 0 WHERE id = ?",
            params![
                segment.started_at.as_micros(),
                segment.ended_at.as_micros(),
                segment.id
            ],
        )?;
        Ok(())
    }

    /// Marks a segment whose writing stopped at `at` (the disk filled up): `incomplete` with
    /// the digest of what reached the disk, which plays up to its last whole page; `failed`
    /// (and the file removed) when nothing but headers did.
    pub fn segment_cut_short(
        &mut self,
        id: i64,
        at: Timestamp,
    ) -> Result<&'static str, JournalError> {
        let Some(rel) = self.segment_path(id)? else {
            return Ok("failed");
        };
        let path = self.dir.join(&rel);
        match std::fs::read(&path) {
            // Two header pages take about a kilobyte; audio pages follow.
            Ok(data) if data.len() > 1024 => {
                self.begin()?;
                self.exec(
                    "UPDATE segments SET status = 'incomplete', ended_us = ?, sha256 = ?, \
                     bytes = ? WHERE id = ?",
                    params![
                        at.as_micros(),
                        hex::encode(Sha256::digest(&data)),
                        data.len() as i64,
                        id
                    ],
                )?;
                Ok("incomplete")
            }
            _ => {
                let _ = std::fs::remove_file(&path);
                self.segment_failed(id, at)?;
                Ok("failed")
            }
        }
    }

    /// Marks a segment whose file could not be written.
    pub fn segment_failed(&mut self, id: i64, at: Timestamp) -> Result<(), JournalError> {
        self.begin()?;
        self.exec(
            "UPDATE segments SET status = 'failed', ended_us = ? WHERE id = ?",
            params![at.as_micros(), id],
        )?;
        Ok(())
    }

    /// Completes a call's row and writes its streams, decisions and messages.
    pub fn call_finished(&mut self, finished: &FinishedCall<'_>) -> Result<(), JournalError> {
        self.begin()?;
        let call = finished.call;
        let key = call.key.0;
        if let Some(row) = self.changed_row(key) {
            set_end(row, call);
            row.set(col::CALLER, Value::Text(call.caller.clone()));
            row.set(col::CALLEE, Value::Text(call.callee.clone()));
            let answered = call.answered_at.map(Timestamp::as_micros);
            row.set(col::ANSWERED, answered.map_or(Value::Null, Value::BigInt));
            row.set(col::STATE, Value::Text("finished".into()));
            row.set(col::RECORDED, Value::Boolean(finished.recorded));
            row.set(col::RTCP_PACKETS, Value::BigInt(call.rtcp_packets as i64));
            let other = call.other_media_packets as i64;
            row.set(col::OTHER_MEDIA_PACKETS, Value::BigInt(other));
            let dropped = call.dropped_messages as i64;
            row.set(col::DROPPED_MESSAGES, Value::BigInt(dropped));
            let note = finished.note.clone();
            row.set(col::NOTE, note.map_or(Value::Null, Value::Text));
            let lost = finished.capture_lost as i64;
            row.set(col::CAPTURE_LOST, Value::BigInt(lost));
        }

        // Kept for the commit, which appends the rows of all calls finished since the last.
        let key = Value::BigInt(key);
        let text = |t: &str| Value::Text(t.to_string());
        let at = |t: Timestamp| Value::BigInt(t.as_micros());
        for st in &call.streams {
            self.pending.streams.push([
                key.clone(),
                Value::Text(st.src.to_string()),
                Value::Text(st.dst.to_string()),
                Value::BigInt(i64::from(st.ssrc)),
                text(st.direction.as_str()),
                st.codec.as_deref().map_or(Value::Null, text),
                Value::BigInt(st.packets as i64),
                Value::BigInt(st.lost()),
                Value::Double(st.max_jitter_ms),
                Value::BigInt(st.events as i64),
                text(&st.digits),
                at(st.first_at),
                at(st.last_at),
            ]);
        }
        for d in finished.decisions {
            self.pending
                .decisions
                .push([key.clone(), at(d.at), text(d.action), text(&d.reason)]);
        }
        for m in &call.messages {
            self.pending.messages.push([
                key.clone(),
                at(m.at),
                Value::Text(m.src.to_string()),
                Value::Text(m.dst.to_string()),
                text(&m.label),
                text(&m.cseq),
                Value::Boolean(m.has_sdp),
                Value::Int(m.duplicates as i32),
            ]);
        }
        Ok(())
    }
}

impl Journal {
    /// Writes RTP streams that no call claimed.
    pub fn unbound_streams(
        &mut self,
        streams: &[crate::dialog::unbound::UnboundStream],
    ) -> Result<(), JournalError> {
        self.begin()?;
        let mut appender = self.conn.appender("unbound_streams")?;
        for s in streams {
            appender.append_row(params![
                s.src.to_string(),
                s.dst.to_string(),
                i64::from(s.ssrc),
                i32::from(s.payload_type),
                s.packets as i64,
                s.lost(),
                s.first_at.as_micros(),
                s.last_at.as_micros(),
                self.import_id,
            ])?;
        }
        appender.flush()?;
        Ok(())
    }
}

/// Sets the columns that say how a call ended.
fn set_end(row: &mut CallRow, call: &Call) {
    let ended = call.ended_at.map(Timestamp::as_micros);
    row.set(col::ENDED, ended.map_or(Value::Null, Value::BigInt));
    let disposition = call.disposition.map(|d| Value::Text(d.as_str().into()));
    row.set(col::DISPOSITION, disposition.unwrap_or(Value::Null));
    let reason = call.end_reason.map(|r| Value::Text(r.as_str().into()));
    row.set(col::END_REASON, reason.unwrap_or(Value::Null));
    let status = call.final_status.map(|s| Value::Int(i32::from(s)));
    row.set(col::FINAL_STATUS, status.unwrap_or(Value::Null));
}

/// The id in a call row.
fn call_id(values: &[Value; 25]) -> i64 {
    match values[0] {
        Value::BigInt(id) => id,
        _ => 0,
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Err(err) = self.commit() {
            tracing::error!(%err, "journal commit on close failed");
        }
    }
}

/// Opens the DuckDB file, turning a lock conflict into [`JournalError::Locked`].
fn open_connection(path: &Path, read_only: bool) -> Result<Connection, JournalError> {
    let mut config = duckdb::Config::default();
    if read_only {
        config = config.access_mode(duckdb::AccessMode::ReadOnly)?;
    }
    // The journal never needs extensions from the network.
    config = config.enable_autoload_extension(false)?;
    match Connection::open_with_flags(path, config) {
        Ok(conn) => Ok(conn),
        Err(err) if err.to_string().contains("lock") => Err(JournalError::Locked {
            path: path.to_path_buf(),
        }),
        Err(err) => Err(err.into()),
    }
}

/// The journal opened read-only, for listing and exporting.
pub struct JournalReader {
    conn: Connection,
    dir: PathBuf,
}

impl JournalReader {
    /// Opens the journal in `dir` read-only.
    pub fn open(dir: &Path) -> Result<JournalReader, JournalError> {
        if dir.exists() && !dir.is_dir() {
            return Err(JournalError::NotAFolder(dir.to_path_buf()));
        }
        let path = dir.join(JOURNAL_FILE);
        if !path.exists() {
            return Err(JournalError::Missing(dir.to_path_buf()));
        }
        let conn = open_connection(&path, true)?;
        Ok(JournalReader {
            conn,
            dir: dir.to_path_buf(),
        })
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The DuckDB connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Calls matching a filter, newest first, with their segments and streams.
    pub fn calls(&self, filter: &CallFilter) -> Result<Vec<CallView>, JournalError> {
        query::calls(&self.conn, filter)
    }

    /// RTP streams no SIP announced.
    pub fn unbound_streams(&self) -> Result<Vec<UnboundStreamView>, JournalError> {
        query::unbound_streams(&self.conn)
    }
}
