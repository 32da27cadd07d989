//! TCP stream reassembly for SIP over TCP (RFC 3261 section 18.3), bounded.
//!
//! Each direction of a connection is a byte stream cut into SIP messages by Content-Length.
//! Segments may come out of order, twice, or not at all; the capture may start in the middle
//! of a connection. The reassembler keeps the in-order bytes of each stream, parks segments
//! that arrive early, skips a gap that does not fill within a bound, and after any damage
//! finds the next message by its start line.
//!
//! SIP over WebSocket (RFC 7118, as WebRTC gateways use it) starts as HTTP: an `Upgrade:
//! websocket` request and a `101` answer switch the stream to WebSocket framing (RFC 6455),
//! and each text or binary message is then one SIP message.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use super::packet::TcpSegmentInfo;
use crate::time::{Duration, Timestamp};

/// Largest SIP message accepted over TCP; a bigger Content-Length is a lie or an attack.
const MAX_MESSAGE: usize = 256 * 1024;

/// Bytes parked out of order per stream before the gap in front of them is given up.
const MAX_PARKED: usize = 128 * 1024;

/// Counters of the reassembler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// SIP messages cut out of streams.
    pub messages: u64,
    /// Gaps skipped because a segment never came.
    pub gaps_skipped: u64,
    /// Bytes thrown away while looking for the next start line.
    pub bytes_skipped: u64,
    /// Streams evicted because the table was full.
    pub streams_evicted: u64,
    /// Messages dropped for a Content-Length over the limit.
    pub oversized: u64,
    /// Bytes thrown away with streams evicted to keep the table within its byte budget.
    pub bytes_evicted: u64,
}

#[derive(Debug, Default)]
struct Stream {
    /// Sequence number of the next in-order byte, once known.
    next_seq: Option<u32>,
    /// In-order bytes not yet cut into messages.
    pending: Vec<u8>,
    /// Segments that arrived ahead of `next_seq`, by sequence number.
    parked: BTreeMap<u32, Vec<u8>>,
    parked_bytes: usize,
    /// Whether `pending` may start in the middle of a message (after a gap or a late start).
    needs_resync: bool,
    /// Whether the stream carries WebSocket frames (after an HTTP upgrade).
    websocket: bool,
    /// A WebSocket message being put together from continuation frames.
    ws_message: Vec<u8>,
    last_seen: Timestamp,
}

/// The reassembly table: one entry per direction of each connection carrying SIP.
#[derive(Debug)]
pub struct TcpReassembler {
    streams: HashMap<(SocketAddr, SocketAddr), Stream>,
    max_streams: usize,
    /// Bytes all streams may hold (pending, parked, WebSocket messages).
    max_bytes: usize,
    /// Bytes held now.
    held: usize,
    idle_timeout: Duration,
    /// What was cut, skipped and dropped.
    pub stats: TcpStats,
}

impl Default for TcpReassembler {
    fn default() -> Self {
        TcpReassembler::new(8192, Duration::from_secs(600))
    }
}

impl TcpReassembler {
    /// A table of at most `max_streams` streams holding 32 MiB at most, each stream
    /// forgotten after `idle_timeout`.
    pub fn new(max_streams: usize, idle_timeout: Duration) -> Self {
        TcpReassembler::with_budget(max_streams, 32 << 20, idle_timeout)
    }

    /// A table of at most `max_streams` streams holding `max_bytes` at most: past either, the
    /// stalest streams are evicted (a sixteenth of the table at a time, so a flood of new
    /// streams costs no scan per segment).
    pub fn with_budget(max_streams: usize, max_bytes: usize, idle_timeout: Duration) -> Self {
        TcpReassembler {
            streams: HashMap::new(),
            max_streams: max_streams.max(1),
            max_bytes,
            held: 0,
            idle_timeout,
            stats: TcpStats::default(),
        }
    }

    /// Bytes the streams hold now.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Streams held now.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether a stream is followed in this direction.
    pub fn contains(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        self.streams.contains_key(&(src, dst))
    }

    /// Whether no stream is held.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Adds one segment; hands every SIP message it completes to `out`.
    pub fn push(
        &mut self,
        now: Timestamp,
        src: SocketAddr,
        dst: SocketAddr,
        info: TcpSegmentInfo,
        payload: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) {
        let key = (src, dst);
        if info.rst {
            if let Some(stream) = self.streams.remove(&key) {
                self.held -= stream_bytes(&stream);
            }
            return;
        }
        if !self.streams.contains_key(&key) {
            if payload.is_empty() && !info.syn {
                return;
            }
            if self.streams.len() >= self.max_streams {
                let target = self.max_streams - (self.max_streams / 16).max(1);
                self.evict_until(|table| table.streams.len() <= target);
            }
        }
        let stream = self.streams.entry(key).or_default();
        stream.last_seen = now;
        let before = stream_bytes(stream);

        // The SYN takes one sequence number; data starts after it.
        let data_seq = if info.syn {
            info.seq.wrapping_add(1)
        } else {
            info.seq
        };
        let next = *stream.next_seq.get_or_insert_with(|| {
            // Joining a connection already running: its first bytes may be mid-message.
            stream.needs_resync = !info.syn;
            data_seq
        });

        if !payload.is_empty() {
            let offset = data_seq.wrapping_sub(next) as i32;
            if offset <= 0 {
                // In order, or a retransmission overlapping what we have: keep the new tail.
                let overlap = offset.unsigned_abs() as usize;
                if overlap < payload.len() {
                    stream.pending.extend_from_slice(&payload[overlap..]);
                    stream.next_seq = Some(next.wrapping_add((payload.len() - overlap) as u32));
                }
            } else if stream.parked_bytes + payload.len() <= MAX_PARKED {
                stream.parked_bytes += payload.len();
                stream.parked.insert(data_seq, payload.to_vec());
            } else {
                // The gap in front is not going to fill: skip it.
                self.stats.gaps_skipped += 1;
                skip_gap(stream);
                stream.parked.insert(data_seq, payload.to_vec());
                stream.parked_bytes += payload.len();
            }
            drain_parked(stream, &mut self.stats);
        }

        cut_messages(stream, &mut self.stats, out);
        let after = stream_bytes(stream);
        self.held = self.held - before + after;

        if info.fin {
            self.streams.remove(&key);
            self.held -= after;
        }
        if self.held > self.max_bytes {
            let target = self.max_bytes / 4 * 3;
            self.evict_until(|table| table.held <= target);
        }
    }

    /// Forgets streams idle for longer than the time-out.
    pub fn expire(&mut self, now: Timestamp) {
        let timeout = self.idle_timeout;
        let held = &mut self.held;
        self.streams.retain(|_, s| {
            let keep = now.since(s.last_seen) < timeout;
            if !keep {
                *held -= stream_bytes(s);
            }
            keep
        });
    }

    /// Evicts the stalest streams until `done` holds.
    fn evict_until(&mut self, done: impl Fn(&TcpReassembler) -> bool) {
        let mut by_age: Vec<(Timestamp, (SocketAddr, SocketAddr))> = self
            .streams
            .iter()
            .map(|(k, s)| (s.last_seen, *k))
            .collect();
        by_age.sort_unstable();
        for (_, key) in by_age {
            if done(self) {
                break;
            }
            let Some(stream) = self.streams.remove(&key) else {
                continue;
            };
            let bytes = stream_bytes(&stream);
            self.held -= bytes;
            self.stats.bytes_evicted += bytes as u64;
            self.stats.streams_evicted += 1;
            // Warn on the 1st, 2nd, 4th... eviction: a flood must not flood the log too.
            if self.stats.streams_evicted.is_power_of_two() {
                tracing::warn!(
                    table = "tcp-streams",
                    limit = self.max_streams,
                    limit_bytes = self.max_bytes,
                    evicted = self.stats.streams_evicted,
                    bytes_evicted = self.stats.bytes_evicted,
                    "table full, stalest streams evicted"
                );
            }
        }
    }
}

/// Bytes a stream holds.
fn stream_bytes(stream: &Stream) -> usize {
    stream.pending.len() + stream.parked_bytes + stream.ws_message.len()
}

/// Moves parked segments that are now in order into `pending`.
fn drain_parked(stream: &mut Stream, stats: &mut TcpStats) {
    while let Some(next) = stream.next_seq {
        let Some((&seq, _)) = stream.parked.iter().next() else {
            break;
        };
        let offset = seq.wrapping_sub(next) as i32;
        if offset > 0 {
            break;
        }
        let data = stream.parked.remove(&seq).unwrap_or_default();
        stream.parked_bytes -= data.len();
        let overlap = offset.unsigned_abs() as usize;
        if overlap < data.len() {
            stream.pending.extend_from_slice(&data[overlap..]);
            stream.next_seq = Some(next.wrapping_add((data.len() - overlap) as u32));
        }
    }
    let _ = stats;
}

/// Gives up on the missing bytes in front of the parked segments: whatever message was being
/// built is lost, and reading resumes at the first parked segment.
fn skip_gap(stream: &mut Stream) {
    stream.pending.clear();
    stream.needs_resync = true;
    if let Some((&seq, _)) = stream.parked.iter().next() {
        stream.next_seq = Some(seq);
    }
}

/// Cuts complete messages off the front of `pending`.
fn cut_messages(stream: &mut Stream, stats: &mut TcpStats, out: &mut dyn FnMut(&[u8])) {
    loop {
        if stream.websocket {
            cut_websocket(stream, stats, out);
            return;
        }
        if stream.pending.starts_with(b"GET ") || stream.pending.starts_with(b"HTTP/1.") {
            // An HTTP head: the opening of a WebSocket (or other HTTP, skipped).
            let Some(end) = find_empty_line(&stream.pending) else {
                if stream.pending.len() > MAX_MESSAGE {
                    stream.pending.clear();
                    stream.needs_resync = true;
                }
                return;
            };
            stream.websocket = is_websocket_upgrade(&stream.pending[..end]);
            stream.pending.drain(..end);
            stream.needs_resync = !stream.websocket;
            continue;
        }
        // Keep-alives (RFC 5626: CRLF CRLF) and stray line ends between messages.
        let blank = stream
            .pending
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if blank > 0 {
            stream.pending.drain(..blank);
        }
        if stream.needs_resync {
            match find_start_line(&stream.pending) {
                Some(at) => {
                    stats.bytes_skipped += at as u64;
                    stream.pending.drain(..at);
                    stream.needs_resync = false;
                }
                None => {
                    // Keep a tail that may hold the beginning of a start line.
                    let keep = stream.pending.len().min(512);
                    let drop = stream.pending.len() - keep;
                    stats.bytes_skipped += drop as u64;
                    stream.pending.drain(..drop);
                    return;
                }
            }
        }
        match message_length(&stream.pending) {
            Framing::Complete(len) => {
                stats.messages += 1;
                out(&stream.pending[..len]);
                stream.pending.drain(..len);
            }
            Framing::Incomplete => {
                if stream.pending.len() > MAX_MESSAGE {
                    stats.oversized += 1;
                    stream.pending.clear();
                    stream.needs_resync = true;
                }
                return;
            }
            Framing::Invalid => {
                stats.oversized += 1;
                stream.pending.drain(..1);
                stream.needs_resync = true;
            }
        }
    }
}

/// Whether an HTTP head upgrades to WebSocket (the request, or the `101` answer).
fn is_websocket_upgrade(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let upgrade = text.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(name, value)| name.trim() == "upgrade" && value.trim() == "websocket")
    });
    upgrade && (text.starts_with("get ") || text.starts_with("http/1.1 101"))
}

/// Whether a TCP payload opens a WebSocket: an upgrade request or its `101` answer.
pub fn looks_like_websocket_upgrade(payload: &[u8]) -> bool {
    (payload.starts_with(b"GET ") || payload.starts_with(b"HTTP/1.1 101"))
        && payload.len() >= 16
        && find_empty_line(payload).is_some_and(|end| is_websocket_upgrade(&payload[..end]))
}

/// Cuts WebSocket frames (RFC 6455 section 5.2) off `pending`, handing each complete text or
/// binary message on.
fn cut_websocket(stream: &mut Stream, stats: &mut TcpStats, out: &mut dyn FnMut(&[u8])) {
    loop {
        let data = &stream.pending;
        if data.len() < 2 {
            return;
        }
        let fin = data[0] & 0x80 != 0;
        let opcode = data[0] & 0x0f;
        let masked = data[1] & 0x80 != 0;
        let (length, mut offset) = match data[1] & 0x7f {
            126 if data.len() >= 4 => (usize::from(u16::from_be_bytes([data[2], data[3]])), 4),
            127 if data.len() >= 10 => {
                let len = u64::from_be_bytes(data[2..10].try_into().unwrap_or([0xff; 8]));
                (usize::try_from(len).unwrap_or(usize::MAX), 10)
            }
            126 | 127 => return,
            len => (usize::from(len), 2),
        };
        if length > MAX_MESSAGE {
            // Not a SIP message anyone sends; the stream is no use any more.
            stats.oversized += 1;
            stream.pending.clear();
            stream.websocket = false;
            stream.needs_resync = true;
            return;
        }
        let mask = if masked {
            let Some(key) = data.get(offset..offset + 4) else {
                return;
            };
            offset += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        if data.len() < offset + length {
            return;
        }
        let payload_start = stream.ws_message.len();
        if matches!(opcode, 0..=2) {
            stream
                .ws_message
                .extend_from_slice(&data[offset..offset + length]);
            if let Some(key) = mask {
                for (i, byte) in stream.ws_message[payload_start..].iter_mut().enumerate() {
                    *byte ^= key[i % 4];
                }
            }
        }
        stream.pending.drain(..offset + length);
        if matches!(opcode, 0..=2) && fin {
            stats.messages += 1;
            let message = std::mem::take(&mut stream.ws_message);
            out(&message);
        } else if stream.ws_message.len() > MAX_MESSAGE {
            stream.ws_message.clear();
        }
    }
}

enum Framing {
    Complete(usize),
    Incomplete,
    Invalid,
}

/// How long the message at the start of `data` is, per its Content-Length.
fn message_length(data: &[u8]) -> Framing {
    let Some(head_end) = find_empty_line(data) else {
        return if data.len() > MAX_MESSAGE {
            Framing::Invalid
        } else {
            Framing::Incomplete
        };
    };
    let head = &data[..head_end];
    let length = content_length(head).unwrap_or(0);
    if length > MAX_MESSAGE {
        return Framing::Invalid;
    }
    let total = head_end + length;
    if data.len() >= total {
        Framing::Complete(total)
    } else {
        Framing::Incomplete
    }
}

/// The offset just past the empty line that ends the header section.
fn find_empty_line(data: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = data[i..].iter().position(|&b| b == b'\n') {
        let at = i + nl + 1;
        if data.get(at) == Some(&b'\n') {
            return Some(at + 1);
        }
        if data.get(at..at + 2) == Some(b"\r\n") {
            return Some(at + 2);
        }
        i = at;
    }
    None
}

fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        let is_length =
            name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l");
        is_length.then(|| value.trim().parse().ok()).flatten()
    })
}

/// Finds where the next SIP message starts. A message may follow a body that did not end with
/// a line break, so every word start is a candidate, not only line starts.
fn find_start_line(data: &[u8]) -> Option<usize> {
    (0..data.len()).find(|&i| {
        let word_start = i == 0 || !data[i - 1].is_ascii_uppercase();
        word_start && data[i].is_ascii_uppercase() && super::sip::looks_like_sip(&data[i..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG1: &[u8] = b"INVITE sip:b@x SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 4\r\n\r\nv=0\n";
    const MSG2: &[u8] = b"SIP/2.0 100 Trying\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n";

    fn seg(seq: u32) -> TcpSegmentInfo {
        TcpSegmentInfo {
            seq,
            syn: false,
            fin: false,
            rst: false,
        }
    }

    fn run(segments: &[(u32, &[u8])]) -> Vec<Vec<u8>> {
        let mut tcp = TcpReassembler::default();
        let (a, b) = (
            "10.0.0.1:5060".parse().unwrap(),
            "10.0.0.2:5060".parse().unwrap(),
        );
        let mut out = Vec::new();
        let t = Timestamp::from_micros(0);
        // A SYN first, so the stream starts at a known place.
        tcp.push(
            t,
            a,
            b,
            TcpSegmentInfo {
                seq: 999,
                syn: true,
                fin: false,
                rst: false,
            },
            &[],
            &mut |_| {},
        );
        for (seq, data) in segments {
            tcp.push(t, a, b, seg(*seq), data, &mut |m| out.push(m.to_vec()));
        }
        out
    }

    #[test]
    fn lying_content_lengths_on_many_streams_stay_within_the_byte_budget() {
        let mut tcp = TcpReassembler::with_budget(1000, 1 << 20, Duration::from_secs(600));
        let lie = b"INVITE sip:b@x SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 65536\r\n\r\n";
        let filler = vec![b'a'; 1400];
        let dst: SocketAddr = "10.0.0.2:5060".parse().unwrap();
        let mut max_held = 0;
        for conn in 0..200u16 {
            let src = SocketAddr::from(([10, 0, 1, 1], 20_000 + conn));
            let t = Timestamp::from_micros(i64::from(conn));
            tcp.push(t, src, dst, seg(1000), lie, &mut |_| {
                panic!("no message completes")
            });
            let mut seq = 1000 + lie.len() as u32;
            for _ in 0..30 {
                tcp.push(t, src, dst, seg(seq), &filler, &mut |_| {
                    panic!("no message completes")
                });
                seq += filler.len() as u32;
                max_held = max_held.max(tcp.held_bytes());
            }
        }
        // 200 streams of 42 KB each would hold 8 MB; the budget keeps it to 1 MiB.
        assert!(max_held <= 1 << 20, "held {max_held}");
        assert!(tcp.stats.streams_evicted > 150, "{:?}", tcp.stats);
        assert!(tcp.stats.bytes_evicted > 6_000_000, "{:?}", tcp.stats);
        let held: usize = tcp.streams.values().map(stream_bytes).sum();
        assert_eq!(held, tcp.held_bytes(), "the running count drifted");
        tcp.expire(Timestamp::from_micros(3_600_000_000));
        assert_eq!((tcp.len(), tcp.held_bytes()), (0, 0));
    }

    #[test]
    fn a_full_table_evicts_the_stalest_streams_in_batches() {
        let mut tcp = TcpReassembler::with_budget(64, 1 << 20, Duration::from_secs(600));
        let dst: SocketAddr = "10.0.0.2:5060".parse().unwrap();
        for conn in 0..1000u16 {
            let src = SocketAddr::from(([10, 0, 1, 1], 20_000 + conn));
            let t = Timestamp::from_micros(i64::from(conn));
            tcp.push(t, src, dst, seg(1000), b"INVITE", &mut |_| {});
            assert!(tcp.len() <= 64);
        }
        // The newest connection is still followed.
        assert!(tcp.contains(SocketAddr::from(([10, 0, 1, 1], 20_999)), dst));
        assert_eq!(tcp.stats.streams_evicted, 1000 - tcp.len() as u64);
    }

    #[test]
    fn two_messages_in_one_segment() {
        let both = [MSG1, MSG2].concat();
        assert_eq!(run(&[(1000, &both)]), vec![MSG1.to_vec(), MSG2.to_vec()]);
    }

    #[test]
    fn one_message_over_segments_out_of_order_with_retransmission() {
        let (x, y) = MSG1.split_at(20);
        let got = run(&[(1020, y), (1000, x), (1000, x), (1020, y)]);
        assert_eq!(got, vec![MSG1.to_vec()]);
    }

    #[test]
    fn a_lost_segment_does_not_derail_the_stream() {
        let len1 = MSG1.len() as u32;
        let (_lost, tail) = MSG1.split_at(10);
        // First message loses its first 10 bytes; the second one arrives intact after it.
        let mut segments: Vec<(u32, &[u8])> = vec![(1010, tail)];
        let filler = vec![b'x'; MAX_PARKED];
        segments.push((1000 + len1 + 10_000, &filler));
        segments.push((1000 + len1 + 10_000 + MAX_PARKED as u32, MSG2));
        let got = run(&segments);
        assert_eq!(got, vec![MSG2.to_vec()]);
    }

    #[test]
    fn sip_over_websocket() {
        let mut tcp = TcpReassembler::default();
        let (a, b) = (
            "10.0.0.1:43380".parse().unwrap(),
            "10.0.0.2:8080".parse().unwrap(),
        );
        let t = Timestamp::from_micros(0);
        let mut out = Vec::new();
        let upgrade = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Protocol: sip\r\n\r\n";
        tcp.push(
            t,
            a,
            b,
            TcpSegmentInfo {
                seq: 0,
                syn: true,
                fin: false,
                rst: false,
            },
            &[],
            &mut |_| {},
        );
        tcp.push(t, a, b, seg(1), upgrade, &mut |m| out.push(m.to_vec()));
        // A masked client frame carrying MSG2, split over two segments.
        let key = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | 126];
        frame.extend_from_slice(&(MSG2.len() as u16).to_be_bytes());
        frame.extend_from_slice(&key);
        frame.extend(MSG2.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        let next = 1 + upgrade.len() as u32;
        let (x, y) = frame.split_at(10);
        tcp.push(t, a, b, seg(next), x, &mut |m| out.push(m.to_vec()));
        tcp.push(t, a, b, seg(next + 10), y, &mut |m| out.push(m.to_vec()));
        assert_eq!(out, vec![MSG2.to_vec()]);
        assert!(looks_like_websocket_upgrade(upgrade));
        assert!(!looks_like_websocket_upgrade(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
    }

    #[test]
    fn joins_a_running_connection_at_the_next_start_line() {
        let mut tcp = TcpReassembler::default();
        let (a, b) = (
            "10.0.0.1:5060".parse().unwrap(),
            "10.0.0.2:5060".parse().unwrap(),
        );
        let mut data = b"tail of an earlier message\r\n\r\n".to_vec();
        data.extend_from_slice(MSG2);
        let mut out = Vec::new();
        tcp.push(Timestamp::from_micros(0), a, b, seg(5), &data, &mut |m| {
            out.push(m.to_vec())
        });
        assert_eq!(out, vec![MSG2.to_vec()]);
    }
}
