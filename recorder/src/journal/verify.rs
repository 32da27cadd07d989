//! Checks the recordings folder against the journal: every recording the journal lists with a
//! digest is on disk with that SHA-256, and no file in `recordings/` is unknown to it.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use duckdb::Connection;
use sha2::{Digest, Sha256};

use super::{JournalError, RECORDINGS_DIR};

/// A segment's id, call, path, digest and status.
type SegmentRow = (i64, i64, Option<String>, Option<String>, Option<String>);

/// What [`recordings`] found.
#[derive(Debug, Default)]
pub struct RecordingsReport {
    /// Recordings whose file matched the journal's digest.
    pub matched: usize,
    /// Files checked, including the ones that did not match.
    pub checked: usize,
    /// One line per problem.
    pub problems: Vec<String>,
}

/// The whole check: the audit chain, then every recording (see [`recordings`] for `live`).
pub fn report(
    conn: &Connection,
    dir: &Path,
    live: bool,
) -> Result<web::VerifyReport, JournalError> {
    let chain = super::audit::check(conn)?;
    let files = recordings(conn, dir, live)?;
    Ok(web::VerifyReport {
        audit_rows: chain.rows,
        audit_head: chain.head,
        recordings_matched: files.matched,
        recordings_checked: files.checked,
        problems: chain.problems.into_iter().chain(files.problems).collect(),
    })
}

/// Checks every recording against the journal rows of `conn`, in the data folder `dir`.
///
/// `live`: a recorder is running on this journal, so a recording still being written is
/// normal (offline, it means a crash nobody recovered from).
pub fn recordings(
    conn: &Connection,
    dir: &Path,
    live: bool,
) -> Result<RecordingsReport, JournalError> {
    let mut stmt =
        conn.prepare("SELECT id, call, path, sha256, status FROM segments ORDER BY id")?;
    let rows: Vec<SegmentRow> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    drop(stmt);

    let mut report = RecordingsReport::default();
    let mut known: HashSet<PathBuf> = HashSet::new();
    for (id, call, path, sha256, status) in rows {
        let status = status.unwrap_or_default();
        let Some(rel) = path else { continue };
        let file = dir.join(&rel);
        match (status.as_str(), sha256) {
            ("complete" | "incomplete", Some(expected)) => {
                known.insert(file.clone());
                report.checked += 1;
                match digest(&file) {
                    Ok(actual) if actual == expected => report.matched += 1,
                    Ok(_) => report.problems.push(format!(
                        "recording {id} (call {call}): {rel} does not match the SHA-256 in the \
                         journal (the file was altered)"
                    )),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        report
                            .problems
                            .push(format!("recording {id} (call {call}): {rel} is missing"));
                    }
                    Err(err) => report.problems.push(format!(
                        "recording {id} (call {call}): {rel} cannot be read: {err}"
                    )),
                }
            }
            ("recording", _) if live => {
                known.insert(file);
            }
            ("recording", _) => {
                known.insert(file);
                report.problems.push(format!(
                    "recording {id} (call {call}): still being written (a recorder crashed and \
                     was not started again; opening the journal for writing marks it \
                     incomplete)"
                ));
            }
            ("complete" | "incomplete", None) => report.problems.push(format!(
                "recording {id} (call {call}): the journal has no SHA-256 for {rel}"
            )),
            // failed and empty recordings have no file.
            _ => {}
        }
    }

    let mut files = Vec::new();
    walk(&dir.join(RECORDINGS_DIR), &mut files);
    files.sort();
    // Look-back audio is kept outside the journal until a record button claims it (and is
    // deleted if none does), so a running recorder's look-back files are not strangers.
    let look_back = dir.join(crate::pipeline::LOOK_BACK_DIR);
    for file in files {
        if !known.contains(&file) && !file.starts_with(&look_back) {
            let rel = file.strip_prefix(dir).unwrap_or(&file);
            report.problems.push(format!(
                "{}: a file the journal does not list",
                rel.display()
            ));
        }
    }
    Ok(report)
}

/// Every file under `dir`, recursively (none if it does not exist).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out),
            Ok(_) => out.push(path),
            Err(_) => {}
        }
    }
}

/// Lower-case hex SHA-256 of a file.
pub fn digest(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
