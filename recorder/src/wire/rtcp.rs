//! RTCP compound packets (RFC 3550 section 6), read far enough to count reports.

use super::Error;

/// RTCP packet types (RFC 3550 section 12.1, RFC 4585).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// 200: sender report.
    SenderReport,
    /// 201: receiver report.
    ReceiverReport,
    /// 202: source description.
    SourceDescription,
    /// 203: goodbye.
    Goodbye,
    /// Anything else (APP, feedback, XR).
    Other(u8),
}

/// The first packet of an RTCP compound packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The packet type.
    pub packet_type: PacketType,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Reception report count (or subtype).
    pub count: u8,
}

impl Header {
    /// Reads the first RTCP header of a compound packet, checking version and length.
    pub fn parse(data: &[u8]) -> Result<Header, Error> {
        let b = data.get(..8).ok_or(Error::Truncated)?;
        if b[0] >> 6 != 2 {
            return Err(Error::Malformed);
        }
        let length = (usize::from(u16::from_be_bytes([b[2], b[3]])) + 1) * 4;
        if length > data.len() {
            return Err(Error::Truncated);
        }
        let packet_type = match b[1] {
            200 => PacketType::SenderReport,
            201 => PacketType::ReceiverReport,
            202 => PacketType::SourceDescription,
            203 => PacketType::Goodbye,
            other if (192..=223).contains(&other) => PacketType::Other(other),
            _ => return Err(Error::Malformed),
        };
        Ok(Header {
            packet_type,
            ssrc: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            count: b[0] & 0x1f,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_receiver_report() {
        let rr = [0x80, 201, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        let header = Header::parse(&rr).unwrap();
        assert_eq!(header.packet_type, PacketType::ReceiverReport);
        assert_eq!(header.ssrc, 0xdead_beef);
        assert!(Header::parse(&rr[..6]).is_err());
        assert!(Header::parse(&[0x80, 201, 0, 9, 0, 0, 0, 0]).is_err());
    }
}
