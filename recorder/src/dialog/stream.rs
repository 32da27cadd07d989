//! Per-stream RTP statistics: packets, loss and jitter as RFC 3550 appendix A computes them.

use std::net::SocketAddr;

use serde::Serialize;

use super::Party;
use crate::time::Timestamp;

/// Sequence jumps larger than this are a restart, not loss (RFC 3550 A.1 `MAX_DROPOUT`).
const MAX_DROPOUT: u16 = 3000;

/// One RTP stream of a call: a (source, destination, SSRC) triple, as Wireshark counts them.
#[derive(Clone, Debug, Serialize)]
pub struct RtpStream {
    /// Sender address.
    pub src: SocketAddr,
    /// Receiver address.
    pub dst: SocketAddr,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Whose voice this is: the party that sends it.
    pub direction: Party,
    /// The voice codec's encoding name (e.g. `PCMU`), from the first voice packet.
    pub codec: Option<String>,
    /// The RTP clock rate of the codec.
    pub clock_rate: u32,
    /// Packets received (duplicates included, as RFC 3550 counts them).
    pub packets: u64,
    /// Telephone-event (RFC 4733) packets among them.
    pub events: u64,
    /// Comfort-noise packets among them.
    pub comfort_noise: u64,
    /// First and last packet time.
    pub first_at: Timestamp,
    /// Last packet time.
    pub last_at: Timestamp,
    #[serde(skip)]
    seq: SequenceTracker,
    #[serde(skip)]
    jitter: JitterEstimator,
    /// Largest interarrival jitter seen, in milliseconds.
    pub max_jitter_ms: f64,
    /// DTMF digits seen as RFC 4733 events, in order.
    pub digits: String,
    #[serde(skip)]
    last_event_ts: Option<u32>,
}

impl RtpStream {
    /// A stream that has just seen its first packet.
    pub fn new(
        src: SocketAddr,
        dst: SocketAddr,
        ssrc: u32,
        direction: Party,
        now: Timestamp,
    ) -> Self {
        RtpStream {
            src,
            dst,
            ssrc,
            direction,
            codec: None,
            clock_rate: 8000,
            packets: 0,
            events: 0,
            comfort_noise: 0,
            first_at: now,
            last_at: now,
            seq: SequenceTracker::default(),
            jitter: JitterEstimator::default(),
            max_jitter_ms: 0.0,
            digits: String::new(),
            last_event_ts: None,
        }
    }

    /// Counts one packet: sequence (loss), jitter, and what kind of payload it carried.
    /// Returns the DTMF digit an RFC 4733 event starts, once per event.
    pub fn record(
        &mut self,
        now: Timestamp,
        sequence: u16,
        timestamp: u32,
        kind: PayloadKind<'_>,
    ) -> Option<char> {
        let mut new_digit = None;
        self.packets += 1;
        self.last_at = now;
        self.seq.update(sequence);
        match kind {
            PayloadKind::Voice {
                encoding,
                clock_rate,
            } => {
                if self.codec.is_none() {
                    self.codec = Some(encoding.to_string());
                    self.clock_rate = clock_rate.max(1);
                }
                let jitter = self.jitter.update(now, timestamp, self.clock_rate);
                self.max_jitter_ms = self.max_jitter_ms.max(jitter);
            }
            PayloadKind::Event(event) => {
                self.events += 1;
                // One digit per event: the packets of an event share its timestamp.
                if self.last_event_ts != Some(timestamp) {
                    self.last_event_ts = Some(timestamp);
                    new_digit = event.and_then(|e| e.digit());
                    if let Some(digit) = new_digit
                        && self.digits.len() < 64
                    {
                        self.digits.push(digit);
                    }
                }
            }
            PayloadKind::ComfortNoise => self.comfort_noise += 1,
            PayloadKind::Unknown => {}
        }
        new_digit
    }

    /// Packets expected from the sequence numbers minus packets received (RFC 3550 A.3).
    /// Negative when duplicates outnumber losses, as in Wireshark.
    pub fn lost(&self) -> i64 {
        self.seq.expected() as i64 - self.seq.received as i64
    }
}

/// What an RTP payload is, for counting.
#[derive(Clone, Copy, Debug)]
pub enum PayloadKind<'a> {
    /// A voice codec, with its encoding name and clock rate.
    Voice {
        /// e.g. `PCMA`.
        encoding: &'a str,
        /// e.g. 8000.
        clock_rate: u32,
    },
    /// An RFC 4733 telephone event (parsed when it could be).
    Event(Option<crate::wire::rtp::TelephoneEvent>),
    /// Comfort noise (RFC 3389).
    ComfortNoise,
    /// A payload type the SDP did not describe.
    Unknown,
}

/// Extended sequence numbers and counts (RFC 3550 A.1), without the probation step.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SequenceTracker {
    started: bool,
    base: u32,
    max: u16,
    cycles: u32,
    pub(super) received: u64,
}

impl SequenceTracker {
    pub(super) fn update(&mut self, seq: u16) {
        self.received += 1;
        if !self.started {
            self.started = true;
            self.base = u32::from(seq);
            self.max = seq;
            return;
        }
        let delta = seq.wrapping_sub(self.max);
        if delta < MAX_DROPOUT {
            if seq < self.max {
                self.cycles += 1 << 16;
            }
            self.max = seq;
        } else if delta <= u16::MAX - 100 {
            // A big jump: the sender restarted its sequence. Start counting afresh from here
            // so the jump is not reported as tens of thousands of lost packets.
            self.base = u32::from(seq);
            self.max = seq;
            self.cycles = 0;
            self.received = 1;
        }
        // Otherwise: a duplicate or reordered packet; nothing moves.
    }

    pub(super) fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        u64::from(self.cycles + u32::from(self.max)) + 1 - u64::from(self.base)
    }
}

/// Interarrival jitter (RFC 3550 A.8), in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
struct JitterEstimator {
    last: Option<(Timestamp, u32)>,
    jitter: f64,
}

impl JitterEstimator {
    fn update(&mut self, now: Timestamp, rtp_ts: u32, clock_rate: u32) -> f64 {
        if let Some((last_at, last_ts)) = self.last {
            let arrival =
                (now.as_micros() - last_at.as_micros()) as f64 / 1e6 * f64::from(clock_rate);
            let sent = f64::from(rtp_ts.wrapping_sub(last_ts) as i32);
            let d = (arrival - sent).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last = Some((now, rtp_ts));
        self.jitter / f64::from(clock_rate) * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> RtpStream {
        let a = "10.0.0.1:4000".parse().unwrap();
        let b = "10.0.0.2:4000".parse().unwrap();
        RtpStream::new(a, b, 1, Party::Caller, Timestamp::from_micros(0))
    }

    fn voice(s: &mut RtpStream, seq: u16, ts: u32, at_ms: i64) {
        let kind = PayloadKind::Voice {
            encoding: "PCMU",
            clock_rate: 8000,
        };
        s.record(Timestamp::from_micros(at_ms * 1000), seq, ts, kind);
    }

    #[test]
    fn counts_loss_across_a_sequence_wrap() {
        let mut s = stream();
        for (i, seq) in [65533u16, 65534, 65535, 1, 2].iter().enumerate() {
            voice(&mut s, *seq, i as u32 * 160, i as i64 * 20);
        }
        assert_eq!(s.packets, 5);
        assert_eq!(s.lost(), 1);
        assert!(s.max_jitter_ms < 0.01);
    }

    #[test]
    fn a_restart_is_not_loss() {
        let mut s = stream();
        voice(&mut s, 10, 0, 0);
        voice(&mut s, 11, 160, 20);
        voice(&mut s, 40_000, 320, 40);
        voice(&mut s, 40_001, 480, 60);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn jitter_grows_with_irregular_arrival() {
        let mut s = stream();
        for i in 0..50u16 {
            let late = if i % 2 == 0 { 0 } else { 15 };
            voice(&mut s, i, u32::from(i) * 160, i64::from(i) * 20 + late);
        }
        assert!(s.max_jitter_ms > 5.0, "{}", s.max_jitter_ms);
    }
}
