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

use std::path::{Path, PathBuf};
use std::time::Instant;

use duckdb::{Connection, params};
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

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The data folder could not be created.
    #[error("cannot create data folder {path}: {source}")]
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
         `run`); wait for it, or ask a running `serve`/`run --listen` with --url"
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
    #[error("journal: {0}")]
    Db(#[from] duckdb::Error),
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
        };
        journal.recover()?;
        Ok(journal)
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

    /// Runs a statement through the connection's statement cache: the pipeline writes the same
    /// few statements for every call.
    ///
    /// TODO(#6): a call still costs about 2 ms of DuckDB statements (insert, two updates,
    /// its rows), so an INVITE flood above a few hundred calls a second outruns `run`;
    /// batching the rows of many calls per statement would lift that.
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

    /// Commits if the last commit is older than the commit interval.
    pub fn commit_if_due(&mut self) -> Result<(), JournalError> {
        if self.in_transaction && self.last_commit.elapsed() >= COMMIT_INTERVAL {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits what was written.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.in_transaction {
            self.conn.execute_batch("COMMIT")?;
            self.in_transaction = false;
        }
        self.last_commit = Instant::now();
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
        self.exec(
            "INSERT INTO calls (id, call_id, caller, caller_name, callee, direction, started_us, \
             state, recorded, verdict, decision, user_agent, joined_midway, import_id, \
             conversation) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', false, ?, ?, ?, ?, ?, ?)",
            params![
                call.key.0,
                call.call_id,
                call.caller,
                call.caller_name,
                call.callee,
                direction,
                call.started_at.as_micros(),
                verdict,
                decision,
                call.user_agent,
                call.joined_midway,
                self.import_id,
                call.conversation.0,
            ],
        )?;
        self.next_call = self.next_call.max(call.key.0 + 1);
        Ok(())
    }

    /// Records when a call was answered.
    pub fn call_answered(&mut self, call: i64, at: Timestamp) -> Result<(), JournalError> {
        self.begin()?;
        self.exec(
            "UPDATE calls SET answered_us = ?, disposition = 'answered' WHERE id = ?",
            params![at.as_micros(), call],
        )?;
        Ok(())
    }

    /// Records how a call ended (its media may still trickle in until it is finished).
    pub fn call_ended(&mut self, call: &Call) -> Result<(), JournalError> {
        self.begin()?;
        self.exec(
            "UPDATE calls SET ended_us = ?, disposition = ?, end_reason = ?, final_status = ? \
             WHERE id = ?",
            params![
                call.ended_at.map(Timestamp::as_micros),
                call.disposition.map(|d| d.as_str()),
                call.end_reason.map(|r| r.as_str()),
                call.final_status,
                call.key.0,
            ],
        )?;
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
        self.exec(
            "UPDATE calls SET caller = ?, callee = ?, answered_us = ?, ended_us = ?, \
             disposition = ?, \
             end_reason = ?, final_status = ?, state = 'finished', recorded = ?, rtcp_packets = ?, \
             other_media_packets = ?, dropped_messages = ?, note = ?, capture_lost = ? \
             WHERE id = ?",
            params![
                call.caller,
                call.callee,
                call.answered_at.map(Timestamp::as_micros),
                call.ended_at.map(Timestamp::as_micros),
                call.disposition.map(|d| d.as_str()),
                call.end_reason.map(|r| r.as_str()),
                call.final_status,
                finished.recorded,
                call.rtcp_packets as i64,
                call.other_media_packets as i64,
                call.dropped_messages as i64,
                finished.note,
                finished.capture_lost as i64,
                key,
            ],
        )?;

        // Rows through cached INSERTs: a call has a handful of each, and creating three
        // appenders per call cost milliseconds, which an INVITE flood multiplies.
        let mut streams = self
            .conn
            .prepare_cached("INSERT INTO streams VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")?;
        for s in &call.streams {
            streams.execute(params![
                key,
                s.src.to_string(),
                s.dst.to_string(),
                i64::from(s.ssrc),
                s.direction.as_str(),
                s.codec,
                s.packets as i64,
                s.lost(),
                s.max_jitter_ms,
                s.events as i64,
                s.digits,
                s.first_at.as_micros(),
                s.last_at.as_micros(),
            ])?;
        }
        drop(streams);

        let mut decisions = self
            .conn
            .prepare_cached("INSERT INTO decisions VALUES (?, ?, ?, ?)")?;
        for d in finished.decisions {
            decisions.execute(params![key, d.at.as_micros(), d.action, d.reason])?;
        }
        drop(decisions);

        let mut messages = self
            .conn
            .prepare_cached("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)")?;
        for m in &call.messages {
            messages.execute(params![
                key,
                m.at.as_micros(),
                m.src.to_string(),
                m.dst.to_string(),
                m.label,
                m.cseq,
                m.has_sdp,
                m.duplicates as i32,
            ])?;
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
