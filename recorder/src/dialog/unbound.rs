//! RTP that no SIP message announced: signalling encrypted (SIP over TLS), outside the
//! capture, or on ports the SDP did not name. Such streams cannot be recorded as calls, but
//! the journal lists them, so nothing Wireshark would show goes unmentioned.
//!
//! A UDP payload counts as RTP here when it parses as RTP version 2 and is not RTCP; a stream
//! is reported only once it has [`MIN_PACKETS`] packets whose sequence numbers mostly follow
//! each other, which random UDP traffic does not do. The table is bounded.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::Serialize;

use super::stream::SequenceTracker;
use crate::time::{Duration, Timestamp};
use crate::wire::RtpPacket;
use crate::wire::rtp;

/// Packets a stream needs before it is reported.
pub const MIN_PACKETS: u64 = 3;

/// An RTP stream seen without signalling.
#[derive(Clone, Debug, Serialize)]
pub struct UnboundStream {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload type of the first packet.
    pub payload_type: u8,
    /// Packets seen.
    pub packets: u64,
    /// First packet.
    pub first_at: Timestamp,
    /// Last packet.
    pub last_at: Timestamp,
    #[serde(skip)]
    seq: SequenceTracker,
}

impl UnboundStream {
    /// Expected minus received packets.
    pub fn lost(&self) -> i64 {
        self.seq.expected() as i64 - self.seq.received as i64
    }

    /// Whether it looks like a real stream: enough packets, and sequence numbers close enough
    /// together (DTMF-only streams skip many; random traffic scatters over thousands).
    pub fn is_plausible(&self) -> bool {
        self.packets >= MIN_PACKETS && self.lost().unsigned_abs() <= 4 * self.packets + 16
    }
}

/// The table of unbound streams.
#[derive(Debug)]
pub struct UnboundStreams {
    streams: HashMap<(SocketAddr, SocketAddr, u32), UnboundStream>,
    max: usize,
    /// Streams dropped because the table was full.
    pub evicted: u64,
}

impl Default for UnboundStreams {
    fn default() -> Self {
        UnboundStreams {
            streams: HashMap::new(),
            max: 4096,
            evicted: 0,
        }
    }
}

impl UnboundStreams {
    /// Looks at a UDP payload that no call claimed.
    pub fn observe(&mut self, now: Timestamp, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        if rtp::is_rtcp_type(payload) {
            return;
        }
        let Ok(packet) = RtpPacket::new_checked(payload) else {
            return;
        };
        let key = (src, dst, packet.ssrc());
        if !self.streams.contains_key(&key) && self.streams.len() >= self.max {
            self.evict_stalest();
        }
        let stream = self.streams.entry(key).or_insert_with(|| UnboundStream {
            src,
            dst,
            ssrc: packet.ssrc(),
            payload_type: packet.payload_type(),
            packets: 0,
            first_at: now,
            last_at: now,
            seq: SequenceTracker::default(),
        });
        stream.packets += 1;
        stream.last_at = now;
        stream.seq.update(packet.sequence());
    }

    /// A table of at most `max` streams.
    pub fn with_limit(max: usize) -> UnboundStreams {
        UnboundStreams {
            max: max.max(1),
            ..UnboundStreams::default()
        }
    }

    /// Streams followed now.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is followed.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Full: drops the stalest eighth of the table (most likely noise, such as RTP sprayed at
    /// random ports), so a flood of new streams costs one sort per batch, not a scan per
    /// packet.
    fn evict_stalest(&mut self) {
        let mut by_age: Vec<(Timestamp, (SocketAddr, SocketAddr, u32))> =
            self.streams.iter().map(|(k, s)| (s.last_at, *k)).collect();
        by_age.sort_unstable();
        for (_, key) in by_age.into_iter().take((self.max / 8).max(1)) {
            self.streams.remove(&key);
            self.evicted += 1;
            if self.evicted.is_power_of_two() {
                tracing::warn!(
                    table = "unbound-streams",
                    limit = self.max,
                    evicted = self.evicted,
                    "table full, stalest unsignalled RTP streams dropped"
                );
            }
        }
    }

    /// Removes and returns the plausible streams idle for `idle` (the rest is dropped).
    pub fn take_idle(&mut self, now: Timestamp, idle: Duration) -> Vec<UnboundStream> {
        let idle_keys: Vec<_> = self
            .streams
            .iter()
            .filter(|(_, s)| now.since(s.last_at) >= idle)
            .map(|(k, _)| *k)
            .collect();
        let mut out: Vec<UnboundStream> = idle_keys
            .into_iter()
            .filter_map(|k| self.streams.remove(&k))
            .filter(UnboundStream::is_plausible)
            .collect();
        out.sort_by_key(|s| s.first_at);
        out
    }

    /// Removes and returns every plausible stream.
    pub fn take_all(&mut self) -> Vec<UnboundStream> {
        let mut out: Vec<UnboundStream> = self
            .streams
            .drain()
            .map(|(_, s)| s)
            .filter(UnboundStream::is_plausible)
            .collect();
        out.sort_by_key(|s| s.first_at);
        out
    }
}
