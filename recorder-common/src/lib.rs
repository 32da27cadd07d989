//! The layout shared by the kernel program (`recorder-ebpf`) and the userspace loader
//! (`recorder::capture::ebpf`): map keys and values, the ring-buffer record header, and the
//! indexes of the statistics and settings arrays. Everything is `#[repr(C)]` and plain data.
#![no_std]

/// A media address userspace read in SDP: RTP or RTCP to or from it is copied to userspace.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MediaKey {
    /// IPv4 in the first four bytes (the rest zero), or IPv6.
    pub addr: [u8; 16],
    /// UDP port, host byte order.
    pub port: u16,
    /// 4 or 6.
    pub family: u16,
}

/// What the kernel counts for a media address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MediaCounters {
    /// Packets copied to the ring buffer.
    pub copied: u64,
    /// Packets that matched but found the ring buffer full: capture loss.
    pub lost: u64,
}

/// The header of every ring-buffer record; the frame's bytes follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PacketHeader {
    /// `CLOCK_MONOTONIC` at capture, nanoseconds.
    pub timestamp_ns: u64,
    /// The frame's length on the wire.
    pub len: u32,
    /// How many of its bytes follow (the record may be longer: it is a size class).
    pub caplen: u32,
}

/// Record sizes (header excluded): the kernel reserves the smallest that fits the frame, since
/// the verifier wants a constant size per reservation. Larger frames are cut to the last (which
/// holds a 9000-byte jumbo frame). Powers of two, so the kernel can prove a copy length is
/// within 1..=size with a mask.
pub const SIZE_CLASSES: [u32; 5] = [256, 512, 2048, 4096, 16384];

/// Indexes into the per-CPU statistics array.
pub mod stat {
    /// Frames the program looked at.
    pub const SEEN: u32 = 0;
    /// Frames copied to userspace.
    pub const COPIED: u32 = 1;
    /// Frames that should have been copied but the ring buffer was full (capture loss).
    pub const LOST: u32 = 2;
    /// Of the copied frames, those copied because of a media address.
    pub const MEDIA: u32 = 3;
    /// Number of counters.
    pub const COUNT: u32 = 4;
}

/// Indexes into the settings array (`u32` values).
pub mod setting {
    /// Non-zero: the interface is a dedicated mirror port; drop every frame after inspection
    /// so the host's stack does not process mirrored traffic.
    pub const DROP: u32 = 0;
    /// Non-zero: copy every frame (diagnostics).
    pub const COPY_ALL: u32 = 1;
    /// Number of settings.
    pub const COUNT: u32 = 2;
}

/// Most media addresses the kernel follows at once (userspace bounds its bindings to this).
pub const MAX_MEDIA: u32 = 262_144;

/// Most SIP ports.
pub const MAX_SIP_PORTS: u32 = 64;

#[cfg(feature = "user")]
// SAFETY: plain `#[repr(C)]` data without padding or pointers.
unsafe impl aya::Pod for MediaKey {}

#[cfg(feature = "user")]
// SAFETY: plain `#[repr(C)]` data without padding or pointers.
unsafe impl aya::Pod for MediaCounters {}

#[cfg(feature = "user")]
// SAFETY: plain `#[repr(C)]` data without padding or pointers.
unsafe impl aya::Pod for PacketHeader {}
