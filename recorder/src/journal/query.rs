//! Reading calls back: filters, and the JSON shape shared by the CLI, the export and the web.

use std::collections::HashMap;

use duckdb::{Connection, ToSql, params_from_iter};
use serde::{Deserialize, Serialize};

use super::JournalError;
use crate::time::Timestamp;

/// Which calls to list.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CallFilter {
    /// Calls that started at or after this time.
    pub from: Option<Timestamp>,
    /// Calls that started before this time.
    pub to: Option<Timestamp>,
    /// Calls where caller or callee matches this number (`*` and `?` allowed).
    pub number: Option<String>,
    /// Only calls with at least one recording segment.
    #[serde(default)]
    pub recorded_only: bool,
    /// Only calls in this direction.
    pub direction: Option<String>,
    /// Only calls with this disposition.
    pub disposition: Option<String>,
    /// Only calls that lasted (answer to end) at least this many seconds.
    pub min_duration_s: Option<f64>,
    /// Only calls where this extension is a party (an agent's own calls).
    pub party: Option<String>,
    /// Only this call.
    pub id: Option<i64>,
    /// At most this many calls.
    pub limit: Option<u32>,
    /// Skip this many calls first (pagination).
    pub offset: Option<u32>,
}

/// A recording segment, as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SegmentView {
    /// Segment id (also the file name).
    pub id: i64,
    /// Start of the audio, RFC 3339.
    pub started_at: String,
    /// End of the audio, RFC 3339; null while recording.
    pub ended_at: Option<String>,
    /// Length in seconds.
    pub duration_s: Option<f64>,
    /// `policy` or `info`.
    pub trigger: String,
    /// The file, relative to the data folder.
    pub path: String,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: Option<String>,
    /// `complete`, `recording` (still being written), `incomplete` (cut short by a crash; plays
    /// up to its last second), `failed` (could not be written) or `empty` (no audio came).
    pub status: String,
    /// RTP packets recorded from the caller.
    pub caller_packets: i64,
    /// RTP packets recorded from the callee.
    pub callee_packets: i64,
}

/// An RTP stream, as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StreamView {
    /// Sender `address:port`.
    pub src: String,
    /// Receiver `address:port`.
    pub dst: String,
    /// SSRC as `0x` and eight hex digits.
    pub ssrc: String,
    /// The voice codec.
    pub codec: Option<String>,
    /// Packets received.
    pub packets: i64,
    /// Packets lost (expected minus received).
    pub lost: i64,
    /// Whose voice: `caller` or `callee`.
    pub direction: String,
    /// Largest interarrival jitter, ms.
    pub max_jitter_ms: f64,
    /// DTMF digits seen as RFC 4733 events.
    pub digits: String,
    /// First packet, RFC 3339.
    pub first_at: String,
    /// Last packet, RFC 3339.
    pub last_at: String,
}

/// A policy decision, as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DecisionView {
    /// When, RFC 3339.
    pub at: String,
    /// What was decided.
    pub action: String,
    /// Why.
    pub reason: String,
}

/// A call, as `recorder calls --json`, the export manifest and the web API show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CallView {
    /// Journal id.
    pub id: i64,
    /// SIP Call-ID.
    pub call_id: String,
    /// Caller's number.
    pub caller: String,
    /// Caller's display name.
    pub caller_name: Option<String>,
    /// Called number.
    pub callee: String,
    /// inbound, outbound, internal, unknown.
    pub direction: String,
    /// First INVITE, RFC 3339.
    pub started_at: String,
    /// Answer, RFC 3339.
    pub answered_at: Option<String>,
    /// End, RFC 3339.
    pub ended_at: Option<String>,
    /// Seconds from answer to end.
    pub duration_s: Option<f64>,
    /// answered, cancelled, busy, rejected, failed; null if never known.
    pub disposition: Option<String>,
    /// bye, final_response, timeout, capture_end, capture_stopped, replaced.
    pub end_reason: Option<String>,
    /// Whether any audio was recorded.
    pub recorded: bool,
    /// Why the call was (or was not) recorded, at its start.
    pub decision: String,
    /// Every decision, in order.
    pub decisions: Vec<DecisionView>,
    /// Recording segments.
    pub segments: Vec<SegmentView>,
    /// RTP streams.
    pub streams: Vec<StreamView>,
    /// Problems worth noting.
    pub note: Option<String>,
    /// Media frames of the call lost by the capture before userspace (live capture only):
    /// capture loss, apart from the network loss in each stream's `lost`.
    pub capture_lost: i64,
    /// The conversation this call belongs to: the id of its first leg when a PBX or SBC
    /// bridged it under another Call-ID, else its own id.
    pub conversation: i64,
    /// The legal hold on the call, if any: retention keeps it until the hold is lifted.
    #[serde(default)]
    pub hold: Option<HoldView>,
}

/// A legal hold, as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HoldView {
    /// Why the call is kept.
    pub reason: String,
    /// Who put it on hold.
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
}

fn rfc3339(micros: i64) -> String {
    Timestamp::from_micros(micros).to_rfc3339()
}

/// Turns a `*`/`?` pattern into a SQL LIKE pattern with `\` escapes.
fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Builds the WHERE clause and its parameters for a filter.
fn where_clause(filter: &CallFilter) -> (String, Vec<Box<dyn ToSql>>) {
    let mut conditions = vec!["state = 'finished'".to_string()];
    let mut params: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(id) = filter.id {
        conditions.push("id = ?".into());
        params.push(Box::new(id));
    }
    if let Some(from) = filter.from {
        conditions.push("started_us >= ?".into());
        params.push(Box::new(from.as_micros()));
    }
    if let Some(to) = filter.to {
        conditions.push("started_us < ?".into());
        params.push(Box::new(to.as_micros()));
    }
    if let Some(number) = &filter.number {
        conditions.push("(caller LIKE ? ESCAPE '\\' OR callee LIKE ? ESCAPE '\\')".into());
        let like = like_pattern(number);
        params.push(Box::new(like.clone()));
        params.push(Box::new(like));
    }
    if filter.recorded_only {
        conditions.push("recorded".into());
    }
    if let Some(direction) = &filter.direction {
        conditions.push("direction = ?".into());
        params.push(Box::new(direction.clone()));
    }
    if let Some(disposition) = &filter.disposition {
        conditions.push("disposition = ?".into());
        params.push(Box::new(disposition.clone()));
    }
    if let Some(min) = filter.min_duration_s {
        conditions.push("(ended_us - answered_us) >= ?".into());
        params.push(Box::new((min * 1e6) as i64));
    }
    if let Some(party) = &filter.party {
        conditions.push("(caller = ? OR callee = ?)".into());
        params.push(Box::new(party.clone()));
        params.push(Box::new(party.clone()));
    }
    (conditions.join(" AND "), params)
}

/// Counts the calls matching a filter (ignoring limit and offset).
pub fn count(conn: &Connection, filter: &CallFilter) -> Result<i64, JournalError> {
    let (clause, params) = where_clause(filter);
    let sql = format!("SELECT count(*) FROM calls WHERE {clause}");
    let mut stmt = conn.prepare(&sql)?;
    let n = stmt.query_row(params_from_iter(params.iter().map(|p| p.as_ref())), |r| {
        r.get(0)
    })?;
    Ok(n)
}

/// Calls matching a filter, newest first, with segments, streams and decisions.
pub fn calls(conn: &Connection, filter: &CallFilter) -> Result<Vec<CallView>, JournalError> {
    let (clause, params) = where_clause(filter);
    let mut sql = format!(
        "SELECT id, call_id, coalesce(caller, ''), caller_name, coalesce(callee, ''), \
         coalesce(direction, 'unknown'), started_us, answered_us, ended_us, disposition, \
         end_reason, coalesce(recorded, false), coalesce(decision, ''), note, \
         coalesce(capture_lost, 0), coalesce(conversation, id) \
         FROM calls WHERE {clause} ORDER BY started_us DESC, id DESC"
    );
    if let Some(limit) = filter.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    if let Some(offset) = filter.offset {
        sql.push_str(&format!(" OFFSET {offset}"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(params.iter().map(|p| p.as_ref())), |r| {
        let started: i64 = r.get(6)?;
        let answered: Option<i64> = r.get(7)?;
        let ended: Option<i64> = r.get(8)?;
        Ok(CallView {
            id: r.get(0)?,
            call_id: r.get(1)?,
            caller: r.get(2)?,
            caller_name: r.get(3)?,
            callee: r.get(4)?,
            direction: r.get(5)?,
            started_at: rfc3339(started),
            answered_at: answered.map(rfc3339),
            ended_at: ended.map(rfc3339),
            duration_s: answered
                .zip(ended)
                .map(|(a, e)| round3((e - a).max(0) as f64 / 1e6)),
            disposition: r.get(9)?,
            end_reason: r.get(10)?,
            recorded: r.get(11)?,
            decision: r.get(12)?,
            decisions: Vec::new(),
            segments: Vec::new(),
            streams: Vec::new(),
            note: r.get(13)?,
            capture_lost: r.get(14)?,
            conversation: r.get(15)?,
            hold: None,
        })
    })?;
    let mut calls: Vec<CallView> = rows.collect::<Result<_, _>>()?;
    if calls.is_empty() {
        return Ok(calls);
    }

    // Children of the listed calls, fetched in one query each.
    let ids: Vec<String> = calls.iter().map(|c| c.id.to_string()).collect();
    let id_list = ids.join(",");
    let index: HashMap<i64, usize> = calls.iter().enumerate().map(|(i, c)| (c.id, i)).collect();

    let mut stmt = conn.prepare(&format!(
        "SELECT call, id, started_us, ended_us, trigger, path, sha256, status, \
         coalesce(caller_packets, 0), coalesce(callee_packets, 0) FROM segments \
         WHERE call IN ({id_list}) ORDER BY call, seq"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let call: i64 = r.get(0)?;
        let started: i64 = r.get(2)?;
        let ended: Option<i64> = r.get(3)?;
        let segment = SegmentView {
            id: r.get(1)?,
            started_at: rfc3339(started),
            ended_at: ended.map(rfc3339),
            duration_s: ended.map(|e| round3((e - started).max(0) as f64 / 1e6)),
            trigger: r.get(4)?,
            path: r.get(5)?,
            sha256: r.get(6)?,
            status: r.get(7)?,
            caller_packets: r.get(8)?,
            callee_packets: r.get(9)?,
        };
        if let Some(&i) = index.get(&call) {
            calls[i].segments.push(segment);
        }
    }

    let mut stmt = conn.prepare(&format!(
        "SELECT call, coalesce(reason, ''), coalesce(user_name, ''), at_us FROM holds \
         WHERE call IN ({id_list})"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let call: i64 = r.get(0)?;
        if let Some(&i) = index.get(&call) {
            calls[i].hold = Some(HoldView {
                reason: r.get(1)?,
                by: r.get(2)?,
                at: rfc3339(r.get(3)?),
            });
        }
    }

    let mut stmt = conn.prepare(&format!(
        "SELECT call, src, dst, ssrc, codec, packets, lost, direction, max_jitter_ms, digits, \
         first_us, last_us \
         FROM streams WHERE call IN ({id_list}) ORDER BY call, first_us"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let call: i64 = r.get(0)?;
        let ssrc: i64 = r.get(3)?;
        let stream = StreamView {
            src: r.get(1)?,
            dst: r.get(2)?,
            ssrc: format!("0x{ssrc:08x}"),
            codec: r.get(4)?,
            packets: r.get(5)?,
            lost: r.get(6)?,
            direction: r.get(7)?,
            max_jitter_ms: round3(r.get(8)?),
            digits: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            first_at: rfc3339(r.get(10)?),
            last_at: rfc3339(r.get(11)?),
        };
        if let Some(&i) = index.get(&call) {
            calls[i].streams.push(stream);
        }
    }

    let mut stmt = conn.prepare(&format!(
        "SELECT call, at_us, action, reason FROM decisions WHERE call IN ({id_list}) \
         ORDER BY call, at_us, rowid"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let call: i64 = r.get(0)?;
        let decision = DecisionView {
            at: rfc3339(r.get(1)?),
            action: r.get(2)?,
            reason: r.get(3)?,
        };
        if let Some(&i) = index.get(&call) {
            calls[i].decisions.push(decision);
        }
    }
    Ok(calls)
}

/// An RTP stream no SIP announced, as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnboundStreamView {
    /// Sender `address:port`.
    pub src: String,
    /// Receiver `address:port`.
    pub dst: String,
    /// SSRC as `0x` and eight hex digits.
    pub ssrc: String,
    /// The payload type of the first packet.
    pub payload_type: i32,
    /// Packets seen.
    pub packets: i64,
    /// Expected minus received.
    pub lost: i64,
    /// First packet, RFC 3339.
    pub first_at: String,
    /// Last packet, RFC 3339.
    pub last_at: String,
}

/// RTP streams no SIP announced, in order of appearance.
pub fn unbound_streams(conn: &Connection) -> Result<Vec<UnboundStreamView>, JournalError> {
    let mut stmt = conn.prepare(
        "SELECT src, dst, ssrc, payload_type, packets, lost, first_us, last_us \
         FROM unbound_streams ORDER BY first_us",
    )?;
    let rows = stmt.query_map([], |r| {
        let ssrc: i64 = r.get(2)?;
        Ok(UnboundStreamView {
            src: r.get(0)?,
            dst: r.get(1)?,
            ssrc: format!("0x{ssrc:08x}"),
            payload_type: r.get(3)?,
            packets: r.get(4)?,
            lost: r.get(5)?,
            first_at: rfc3339(r.get(6)?),
            last_at: rfc3339(r.get(7)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_sql_wildcards() {
        assert_eq!(like_pattern("+4930*"), "+4930%");
        assert_eq!(like_pattern("1?0_1%"), "1_0\\_1\\%");
    }
}
