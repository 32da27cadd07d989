//! Wire formats: from a captured frame down to SIP, SDP and RTP views.
//!
//! Nothing here does I/O or reads a clock. Parsers take byte slices that may be truncated or
//! hostile; once a constructor returns `Ok`, no accessor panics. Traffic that cannot be parsed
//! is counted by the caller and skipped; it is never an error that stops a capture.

pub mod frag;
pub mod packet;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod tcp;

pub use packet::{DecodeStats, Decoder, L4Payload, LinkType, Transport};
pub use rtp::Packet as RtpPacket;
pub use sdp::Sdp;
pub use sip::Message as SipMessage;

/// Why a byte slice could not be read as the format asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The slice ends before the format's fixed part does.
    #[error("truncated")]
    Truncated,
    /// A field holds a value the format does not allow.
    #[error("malformed")]
    Malformed,
}
