//! Packet sources: capture files (pcap, pcapng) and live interfaces (eBPF, libpcap).
//!
//! The only module that talks to the OS for packets. A source hands out frames with their
//! link type and timestamp; everything after it is the same for every source.

pub mod ebpf;
pub mod file;
mod frame;
pub mod live;
pub mod pcap_live;

pub use file::FileSource;
pub use frame::{CaptureError, Frame};
pub use live::{LiveSource, LiveStats, MediaFilter};
