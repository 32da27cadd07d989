//! Live capture: the interface every live source offers, and the pieces they share.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use super::{CaptureError, Frame};
use crate::time::Timestamp;

/// Counters of a live source since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    /// Frames the capture saw on the interface (kernel side for eBPF).
    pub seen: u64,
    /// Frames handed to userspace.
    pub delivered: u64,
    /// Frames lost between the interface and userspace: ring buffer full (eBPF) or the
    /// kernel's capture buffer overflowing (libpcap). This is capture loss, not network loss.
    pub capture_lost: u64,
}

/// A live packet source.
pub trait LiveSource {
    /// How the source captures, for the log and `recorder status` (e.g. `eBPF XDP (generic)`).
    fn describe(&self) -> String;

    /// Waits up to `timeout` for frames and hands each to `handle`. Returns how many came.
    fn poll(
        &mut self,
        timeout: Duration,
        handle: &mut dyn FnMut(Frame<'_>),
    ) -> Result<usize, CaptureError>;

    /// Counters so far.
    fn stats(&mut self) -> LiveStats;

    /// The kernel-side filter of media addresses, if the source has one. The pipeline adds
    /// an address when SDP announces it and removes it when the call ends.
    fn take_media_filter(&mut self) -> Option<Box<dyn MediaFilter>>;
}

/// A kernel filter of media addresses.
pub trait MediaFilter {
    /// Starts passing RTP/RTCP to and from `addr` to userspace.
    fn add(&mut self, addr: SocketAddr);
    /// Stops it; returns the frames for `addr` lost to a full ring buffer (capture loss).
    fn remove(&mut self, addr: SocketAddr) -> u64;
}

/// Converts the kernel's monotonic clock to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    /// Wall-clock minus monotonic, in microseconds.
    offset_us: i64,
}

impl MonotonicClock {
    /// Measures the offset now.
    pub fn new() -> MonotonicClock {
        MonotonicClock {
            offset_us: realtime_us() - monotonic_us(),
        }
    }

    /// The wall-clock time of a `CLOCK_MONOTONIC` reading in nanoseconds.
    pub fn to_timestamp(&self, monotonic_ns: u64) -> Timestamp {
        Timestamp::from_micros((monotonic_ns / 1000) as i64 + self.offset_us)
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

fn clock_us(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000
}

fn realtime_us() -> i64 {
    clock_us(libc::CLOCK_REALTIME)
}

fn monotonic_us() -> i64 {
    clock_us(libc::CLOCK_MONOTONIC)
}

/// The current wall-clock time.
pub fn now() -> Timestamp {
    Timestamp::from_micros(realtime_us())
}

/// The media map's key for an address.
pub fn media_key(addr: SocketAddr) -> recorder_common::MediaKey {
    let mut key = recorder_common::MediaKey {
        port: addr.port(),
        ..Default::default()
    };
    match addr.ip() {
        IpAddr::V4(v4) => {
            key.addr[..4].copy_from_slice(&v4.octets());
            key.family = 4;
        }
        IpAddr::V6(v6) => {
            key.addr = v6.octets();
            key.family = 6;
        }
    }
    key
}
