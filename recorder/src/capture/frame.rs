//! What every source hands out (a frame) and how a source fails; a file of its own so the
//! fuzz crate can include the capture-file reader without the live sources.

use crate::time::Timestamp;
use crate::wire::LinkType;

/// One captured frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// When it was captured.
    pub at: Timestamp,
    /// Its link layer.
    pub link: LinkType,
    /// Its bytes (possibly cut to the snap length).
    pub data: &'a [u8],
}

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file does not exist or cannot be read.
    #[error("{path}: {reason}")]
    Open {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The file is not a pcap or pcapng capture.
    #[error("{path}: not a capture file (pcap or pcapng expected): {reason}")]
    NotACapture {
        /// The file.
        path: String,
        /// What libpcap said.
        reason: String,
    },
    /// The capture's link layer is one we do not decode.
    #[error("{path}: link type {linktype} ({name}) is not supported")]
    UnsupportedLink {
        /// The file.
        path: String,
        /// The pcap link-type number.
        linktype: i32,
        /// Its name.
        name: String,
    },
    /// A live interface could not be opened or read.
    #[error("{iface}: {reason}")]
    Live {
        /// The interface.
        iface: String,
        /// What went wrong.
        reason: String,
    },
    /// The file ends in the middle of a record, or a record is corrupt.
    #[error("{path}: capture is damaged after {packets} packets ({reason})")]
    Damaged {
        /// The file.
        path: String,
        /// Packets read before the damage.
        packets: u64,
        /// What libpcap said.
        reason: String,
    },
}
