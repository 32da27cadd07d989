//! Ethernet II / IPv4 / UDP frames and the classic pcap file around them (microsecond
//! timestamps, little-endian, link type 1).

use std::io::{self, Write};
use std::net::SocketAddrV4;

/// Bytes of Ethernet, IPv4 (no options) and UDP headers.
pub const HEADERS: usize = 14 + 20 + 8;

/// DSCP EF (46), as phones mark voice.
pub const DSCP_VOICE: u8 = 46 << 2;

/// DSCP CS3 (24), as phones mark signalling.
pub const DSCP_SIGNALLING: u8 = 24 << 2;

/// A locally administered MAC address derived from an IPv4 address.
fn mac(addr: &SocketAddrV4) -> [u8; 6] {
    let [a, b, c, d] = addr.ip().octets();
    [0x02, 0x00, a, b, c, d]
}

/// The ones' complement sum of 16-bit words (RFC 1071), not yet folded.
fn sum16(bytes: &[u8]) -> u32 {
    let (words, rest) = bytes.as_chunks::<2>();
    let mut sum: u32 = words
        .iter()
        .map(|&w| u32::from(u16::from_be_bytes(w)))
        .sum();
    if let [last] = rest {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds a whole frame into `out`: headers, then `payload`, with both checksums.
pub fn udp_frame(
    out: &mut Vec<u8>,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    dscp: u8,
    ip_id: u16,
    payload: &[u8],
) {
    out.clear();
    out.extend_from_slice(&mac(&dst));
    out.extend_from_slice(&mac(&src));
    out.extend_from_slice(&[0x08, 0x00]);

    let ip_len = (20 + 8 + payload.len()) as u16;
    let ip_start = out.len();
    out.extend_from_slice(&[0x45, dscp]);
    out.extend_from_slice(&ip_len.to_be_bytes());
    out.extend_from_slice(&ip_id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0x00, 64, 17, 0, 0]); // DF, TTL 64, UDP, checksum later
    out.extend_from_slice(&src.ip().octets());
    out.extend_from_slice(&dst.ip().octets());
    let checksum = fold(sum16(&out[ip_start..ip_start + 20]));
    out[ip_start + 10..ip_start + 12].copy_from_slice(&checksum.to_be_bytes());

    let udp_len = (8 + payload.len()) as u16;
    let udp_start = out.len();
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out.extend_from_slice(&udp_len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    // The UDP checksum covers a pseudo-header of addresses, protocol and length (RFC 768).
    let pseudo = sum16(&out[ip_start + 12..ip_start + 20]) + 17 + u32::from(udp_len);
    let checksum = match fold(pseudo + sum16(&out[udp_start..])) {
        0 => 0xffff,
        c => c,
    };
    out[udp_start + 6..udp_start + 8].copy_from_slice(&checksum.to_be_bytes());
}

/// A classic pcap file being written.
pub struct PcapWriter<W: Write> {
    out: W,
    /// Records written.
    pub records: u64,
    /// Bytes written, headers included.
    pub bytes: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header (version 2.4, snap length 65535, Ethernet).
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&[0; 8]); // time zone, accuracy
        header.extend_from_slice(&65_535u32.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            records: 0,
            bytes: 24,
        })
    }

    /// Writes one frame captured at `micros` since the Unix epoch.
    pub fn write(&mut self, micros: i64, frame: &[u8]) -> io::Result<()> {
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        header[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        header[8..12].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(frame)?;
        self.records += 1;
        self.bytes += 16 + frame.len() as u64;
        Ok(())
    }

    /// Flushes and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify_to_zero() {
        let mut frame = Vec::new();
        let src = "10.16.0.1:5060".parse().unwrap();
        let dst = "10.32.0.1:5060".parse().unwrap();
        udp_frame(
            &mut frame,
            src,
            dst,
            DSCP_SIGNALLING,
            7,
            b"hello, odd length",
        );
        assert_eq!(frame.len(), HEADERS + 17);
        // A received header (or datagram with its pseudo-header) sums to all ones.
        assert_eq!(fold(sum16(&frame[14..34])), 0);
        let udp_len = (frame.len() - 34) as u32;
        let pseudo = sum16(&frame[26..34]) + 17 + udp_len;
        assert_eq!(fold(pseudo + sum16(&frame[34..])), 0);
    }
}
