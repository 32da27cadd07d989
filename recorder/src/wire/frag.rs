//! IPv4 and IPv6 fragment reassembly (RFC 791, RFC 8200 section 4.5), bounded.
//!
//! A large INVITE (long Via/Record-Route paths, big SDP) is often fragmented, and losing it
//! loses the call, so fragments are kept until the datagram is whole. The table is bounded in
//! entries and bytes; the oldest entry is evicted when full, and entries time out.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::time::{Duration, Timestamp};

/// The largest datagram IP can carry; no reassembly grows past it.
const MAX_DATAGRAM: usize = 65_535;

/// Fragments one datagram may be built from: real ones have a few dozen at most; more are an
/// attack on the completeness check (a sort per fragment).
const MAX_FRAGMENTS: usize = 512;

/// Bytes all partial datagrams may hold together.
const MAX_BYTES: usize = 32 << 20;

/// Identifies the datagram a fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// The transport protocol number.
    pub protocol: u8,
}

/// Counters of the reassembly table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragStats {
    /// Partial datagrams dropped because the table was full.
    pub evicted: u64,
    /// Partial datagrams dropped because the rest never came.
    pub timed_out: u64,
    /// Fragments that were inconsistent (past 64 KiB, conflicting ends).
    pub invalid: u64,
}

#[derive(Debug)]
struct Partial {
    data: Vec<u8>,
    /// Received byte ranges, unordered; few per datagram in practice.
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
    first_seen: Timestamp,
}

impl Partial {
    fn is_complete(&self) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        let mut ranges = self.ranges.clone();
        ranges.sort_unstable();
        let mut covered = 0;
        for (start, end) in ranges {
            if start > covered {
                return false;
            }
            covered = covered.max(end);
        }
        covered >= total
    }
}

/// The fragment table.
#[derive(Debug)]
pub struct Defragmenter {
    partials: HashMap<FragmentKey, Partial>,
    spare: Vec<Vec<u8>>,
    max_entries: usize,
    timeout: Duration,
    /// Bytes the partial datagrams hold.
    held: usize,
    /// What was dropped.
    pub stats: FragStats,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Defragmenter::new(4096, Duration::from_secs(30))
    }
}

impl Defragmenter {
    /// A table holding at most `max_entries` partial datagrams, each for at most `timeout`.
    pub fn new(max_entries: usize, timeout: Duration) -> Self {
        Defragmenter {
            partials: HashMap::new(),
            spare: Vec::new(),
            max_entries,
            timeout,
            held: 0,
            stats: FragStats::default(),
        }
    }

    /// Partial datagrams held now.
    pub fn len(&self) -> usize {
        self.partials.len()
    }

    /// Whether no partial datagram is held.
    pub fn is_empty(&self) -> bool {
        self.partials.is_empty()
    }

    /// Adds one fragment; returns the whole datagram when this fragment completes it.
    pub fn insert(
        &mut self,
        now: Timestamp,
        key: FragmentKey,
        offset: usize,
        more: bool,
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        let end = offset + payload.len();
        if end > MAX_DATAGRAM || (more && payload.is_empty()) {
            self.stats.invalid += 1;
            return None;
        }

        if !self.partials.contains_key(&key)
            && (self.partials.len() >= self.max_entries || self.held + end > MAX_BYTES)
        {
            self.evict_oldest();
        }
        let spare = &mut self.spare;
        let partial = self.partials.entry(key).or_insert_with(|| Partial {
            data: spare.pop().unwrap_or_default(),
            ranges: Vec::new(),
            total: None,
            first_seen: now,
        });

        if !more {
            if partial.total.is_some_and(|total| total != end) {
                self.stats.invalid += 1;
                self.drop_entry(&key);
                return None;
            }
            partial.total = Some(end);
        }
        if partial.ranges.len() >= MAX_FRAGMENTS {
            self.stats.invalid += 1;
            self.drop_entry(&key);
            return None;
        }
        if partial.data.len() < end {
            self.held += end - partial.data.len();
            partial.data.resize(end, 0);
        }
        partial.data[offset..end].copy_from_slice(payload);
        partial.ranges.push((offset, end));

        if !partial.is_complete() {
            return None;
        }
        let mut whole = self.partials.remove(&key)?;
        self.held -= whole.data.len();
        let total = whole.total.unwrap_or(whole.data.len());
        whole.data.truncate(total);
        Some(whole.data)
    }

    /// Gives a finished datagram's buffer back for reuse.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < 64 {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// Drops partial datagrams older than the time-out.
    pub fn expire(&mut self, now: Timestamp) {
        let timeout = self.timeout;
        let before = self.partials.len();
        let held = &mut self.held;
        self.partials.retain(|_, p| {
            let keep = now.since(p.first_seen) < timeout;
            if !keep {
                *held -= p.data.len();
            }
            keep
        });
        let expired = before - self.partials.len();
        if expired > 0 {
            self.stats.timed_out += expired as u64;
            tracing::debug!(expired, "IP fragments timed out");
        }
    }

    /// Bytes the partial datagrams hold now.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Full (entries or bytes): drops the oldest sixteenth of the table, and more until the
    /// bytes are within three quarters of the budget, so a flood of fragments of new
    /// datagrams costs one sort per batch, not a scan per fragment.
    fn evict_oldest(&mut self) {
        let mut by_age: Vec<(Timestamp, FragmentKey)> = self
            .partials
            .iter()
            .map(|(k, p)| (p.first_seen, *k))
            .collect();
        by_age.sort_unstable_by_key(|(at, _)| *at);
        let batch = (self.max_entries / 16).max(1);
        for (i, (_, key)) in by_age.into_iter().enumerate() {
            if i >= batch && self.held <= MAX_BYTES / 4 * 3 {
                break;
            }
            self.drop_entry(&key);
            self.stats.evicted += 1;
            // Warn on the 1st, 2nd, 4th, 8th... eviction: a flood must not flood the log too.
            if self.stats.evicted.is_power_of_two() {
                tracing::warn!(
                    table = "ip-fragments",
                    limit = self.max_entries,
                    limit_bytes = MAX_BYTES,
                    evicted = self.stats.evicted,
                    "table full, oldest partial datagrams evicted"
                );
            }
        }
    }

    fn drop_entry(&mut self, key: &FragmentKey) {
        if let Some(partial) = self.partials.remove(key) {
            self.held -= partial.data.len();
            self.recycle(partial.data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragmentKey {
        FragmentKey {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            id,
            protocol: 17,
        }
    }

    #[test]
    fn reassembles_out_of_order_fragments() {
        let mut table = Defragmenter::default();
        let now = Timestamp::from_micros(0);
        assert!(table.insert(now, key(1), 16, false, b"cccc").is_none());
        assert!(table.insert(now, key(1), 0, true, b"aaaaaaaa").is_none());
        let whole = table.insert(now, key(1), 8, true, b"bbbbbbbb").unwrap();
        assert_eq!(whole, b"aaaaaaaabbbbbbbbcccc");
        assert!(table.is_empty());
    }

    #[test]
    fn bounded_and_expiring() {
        let mut table = Defragmenter::new(2, Duration::from_secs(1));
        let t0 = Timestamp::from_micros(0);
        for id in 0..5 {
            table.insert(t0, key(id), 0, true, b"xxxxxxxx");
        }
        assert_eq!(table.len(), 2);
        assert_eq!(table.stats.evicted, 3);
        table.expire(t0 + Duration::from_secs(2));
        assert!(table.is_empty());
        assert_eq!(table.stats.timed_out, 2);
    }

    #[test]
    fn a_datagram_of_endless_tiny_fragments_is_dropped() {
        let mut table = Defragmenter::default();
        let now = Timestamp::from_micros(0);
        for i in 0..10_000 {
            table.insert(now, key(3), 8 * (i % 100), true, b"xxxxxxxx");
        }
        // Dropped at the fragment limit, again and again: never more than the limit held.
        assert!(table.stats.invalid >= 10_000 / (MAX_FRAGMENTS + 1) as u64);
        assert!(table.len() <= 1);
    }

    #[test]
    fn large_partial_datagrams_stay_within_the_byte_budget() {
        let mut table = Defragmenter::default();
        let now = Timestamp::from_micros(0);
        let mut max_held = 0;
        // 4000 datagrams with their last 8 bytes at 64 KB: 256 MB if all were kept.
        for id in 0..4000 {
            table.insert(now, key(id), 65_520, false, b"xxxxxxxx");
            max_held = max_held.max(table.held_bytes());
        }
        assert!(max_held <= MAX_BYTES, "held {max_held}");
        assert!(table.stats.evicted > 3000, "{:?}", table.stats);
        let held: usize = table.partials.values().map(|p| p.data.len()).sum();
        assert_eq!(held, table.held_bytes(), "the running count drifted");
    }

    #[test]
    fn rejects_oversized_fragments() {
        let mut table = Defragmenter::default();
        let now = Timestamp::from_micros(0);
        assert!(table.insert(now, key(9), 65_528, false, &[0; 16]).is_none());
        assert_eq!(table.stats.invalid, 1);
    }
}
