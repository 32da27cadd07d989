//! The SIP ladder: a call's messages as arrows between the endpoints that sent them.
//!
//! Endpoints (`address:port`) become lanes, in order of first appearance. The page draws the
//! ladder as a table with two half-columns per lane, the lane's lifeline on the border
//! between them; an arrow from lane `a` to lane `b` spans the half-columns from the middle
//! of `a` to the middle of `b`.

use serde::Serialize;

use crate::store::SipMessage;

/// A ladder, ready for the template.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ladder {
    /// The endpoints, left to right.
    pub lanes: Vec<String>,
    /// One row per message.
    pub rows: Vec<Row>,
}

/// One message as a row of the ladder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// When, `HH:MM:SS.mmm` UTC.
    pub time: String,
    /// Milliseconds since the first message.
    pub offset_ms: i64,
    /// The message summary.
    pub label: String,
    /// CSeq header.
    pub cseq: String,
    /// Whether it carried SDP.
    pub has_sdp: bool,
    /// Retransmissions seen.
    pub duplicates: i32,
    /// Half-columns before the arrow.
    pub before: usize,
    /// Half-columns the arrow spans (at least 1).
    pub span: usize,
    /// Half-columns after the arrow.
    pub after: usize,
    /// Whether the arrow points left (sender right of receiver).
    pub leftward: bool,
    /// Whether sender and receiver are the same lane.
    pub to_self: bool,
}

impl Ladder {
    /// Lays out a call's messages.
    pub fn new(messages: &[SipMessage]) -> Ladder {
        let mut lanes: Vec<String> = Vec::new();
        let mut lane = |endpoint: &str| -> usize {
            match lanes.iter().position(|l| l == endpoint) {
                Some(i) => i,
                None => {
                    lanes.push(endpoint.to_string());
                    lanes.len() - 1
                }
            }
        };
        let placed: Vec<(usize, usize)> = messages
            .iter()
            .map(|m| (lane(&m.src), lane(&m.dst)))
            .collect();
        let columns = lanes.len() * 2;
        let first = messages.first().map(|m| m.at_us).unwrap_or(0);

        let rows = messages
            .iter()
            .zip(placed)
            .map(|(m, (from, to))| {
                let (lo, hi) = (from.min(to), from.max(to));
                // From the middle of lane lo to the middle of lane hi; a message to itself
                // fills its own lane's right half.
                let before = lo * 2 + 1;
                let span = ((hi - lo) * 2).max(1);
                Row {
                    time: time_of_day(m.at_us),
                    offset_ms: (m.at_us - first) / 1000,
                    label: m.label.clone(),
                    cseq: m.cseq.clone().unwrap_or_default(),
                    has_sdp: m.has_sdp,
                    duplicates: m.duplicates,
                    before,
                    span,
                    after: columns.saturating_sub(before + span),
                    leftward: to < from,
                    to_self: to == from,
                }
            })
            .collect();
        Ladder { lanes, rows }
    }
}

fn time_of_day(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(at_us: i64, src: &str, dst: &str, label: &str) -> SipMessage {
        SipMessage {
            at_us,
            src: src.into(),
            dst: dst.into(),
            label: label.into(),
            cseq: Some("1 INVITE".into()),
            has_sdp: false,
            duplicates: 0,
        }
    }

    #[test]
    fn arrows_span_between_lane_middles() {
        let a = "10.0.0.1:5060";
        let p = "10.0.0.2:5060";
        let b = "10.0.0.3:5060";
        let ladder = Ladder::new(&[
            msg(1_000_000, a, p, "INVITE"),
            msg(1_002_000, p, b, "INVITE"),
            msg(1_500_000, b, p, "200 OK"),
            msg(1_600_000, b, a, "BYE"),
        ]);
        assert_eq!(ladder.lanes, [a, p, b]);
        let r = &ladder.rows;
        assert_eq!(
            (r[0].before, r[0].span, r[0].after, r[0].leftward),
            (1, 2, 3, false)
        );
        assert_eq!((r[1].before, r[1].span, r[1].after), (3, 2, 1));
        assert_eq!((r[2].before, r[2].span, r[2].leftward), (3, 2, true));
        assert_eq!(
            (r[3].before, r[3].span, r[3].after, r[3].leftward),
            (1, 4, 1, true)
        );
        assert_eq!(r[2].offset_ms, 500);
        assert_eq!(r[0].time, "00:00:01.000");
    }
}
