//! RTP packets (RFC 3550 section 5.1) and RFC 4733 telephone events, read in place.

use super::Error;

mod field {
    pub const FLAGS: usize = 0;
    pub const MARKER_PT: usize = 1;
    pub const SEQUENCE: core::ops::Range<usize> = 2..4;
    pub const TIMESTAMP: core::ops::Range<usize> = 4..8;
    pub const SSRC: core::ops::Range<usize> = 8..12;
    pub const HEADER_LEN: usize = 12;
}

/// A view of an RTP packet. Built with [`Packet::new_checked`], after which no accessor panics.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    /// Where the payload starts (after CSRCs and the header extension).
    payload_start: usize,
    /// Where the payload ends (before padding).
    payload_end: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks version 2 and every length (CSRC list, extension, padding) against the buffer.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let data = buffer.as_ref();
        if data.len() < field::HEADER_LEN {
            return Err(Error::Truncated);
        }
        let flags = data[field::FLAGS];
        if flags >> 6 != 2 {
            return Err(Error::Malformed);
        }
        let csrc_count = usize::from(flags & 0x0f);
        let mut start = field::HEADER_LEN + 4 * csrc_count;
        if flags & 0x10 != 0 {
            // Header extension: 16-bit profile, 16-bit length in 32-bit words.
            let ext = data.get(start..start + 4).ok_or(Error::Truncated)?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            start += 4 + 4 * words;
        }
        let mut end = data.len();
        if flags & 0x20 != 0 {
            let padding = usize::from(*data.last().ok_or(Error::Truncated)?);
            if padding == 0 || padding > end {
                return Err(Error::Malformed);
            }
            end -= padding;
        }
        if start > end {
            return Err(Error::Truncated);
        }
        Ok(Packet {
            buffer,
            payload_start: start,
            payload_end: end,
        })
    }

    fn data(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The marker bit (start of a talkspurt for audio).
    pub fn marker(&self) -> bool {
        self.data()[field::MARKER_PT] & 0x80 != 0
    }

    /// The payload type number.
    pub fn payload_type(&self) -> u8 {
        self.data()[field::MARKER_PT] & 0x7f
    }

    /// The 16-bit sequence number.
    pub fn sequence(&self) -> u16 {
        let b = &self.data()[field::SEQUENCE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The media timestamp, in units of the payload's clock rate.
    pub fn timestamp(&self) -> u32 {
        let b = &self.data()[field::TIMESTAMP];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The synchronisation source identifier.
    pub fn ssrc(&self) -> u32 {
        let b = &self.data()[field::SSRC];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The payload, without CSRCs, header extension and padding.
    pub fn payload(&self) -> &[u8] {
        &self.data()[self.payload_start..self.payload_end]
    }
}

/// Whether the second byte marks an RTCP packet (RFC 5761 section 4): payload types 64-95
/// with the marker bit, i.e. RTCP packet types 192-223, are never RTP on a muxed port.
pub fn is_rtcp_type(payload: &[u8]) -> bool {
    payload.len() >= 2 && (192..=223).contains(&payload[1])
}

/// One RFC 4733 telephone-event payload (a DTMF digit or tone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code: 0-9 digits, 10 `*`, 11 `#`, 12-15 A-D.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// The volume in -dBm0.
    pub volume: u8,
    /// The duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the 4-byte event payload.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, Error> {
        let b = payload.get(..4).ok_or(Error::Truncated)?;
        Ok(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The event as a DTMF character, if it is one.
    pub fn digit(&self) -> Option<char> {
        match self.event {
            0..=9 => Some(char::from(b'0' + self.event)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_fields() {
        let mut bytes = vec![0x80, 0x80, 0x12, 0x67, 0, 2, 0x71, 0, 0x3a, 0x1c, 0, 1];
        bytes.extend_from_slice(&[0xff; 160]);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.marker());
        assert_eq!(packet.payload_type(), 0);
        assert_eq!(packet.sequence(), 4711);
        assert_eq!(packet.timestamp(), 160_000);
        assert_eq!(packet.ssrc(), 0x3a1c_0001);
        assert_eq!(packet.payload().len(), 160);
    }

    #[test]
    fn checks_lengths() {
        assert_eq!(
            Packet::new_checked(&[0x80u8; 5][..]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Packet::new_checked(&[0x40u8; 12][..]).unwrap_err(),
            Error::Malformed
        );
        // 15 CSRCs promised, none present.
        assert!(Packet::new_checked(&[0x8fu8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]).is_err());
        // Padding longer than the packet.
        let mut padded = vec![0xa0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        padded.push(200);
        assert!(Packet::new_checked(&padded[..]).is_err());
    }

    #[test]
    fn reads_telephone_events() {
        let event = TelephoneEvent::parse(&[10, 0x8a, 0x03, 0x20]).unwrap();
        assert_eq!(event.digit(), Some('*'));
        assert!(event.end);
        assert_eq!(event.volume, 10);
        assert_eq!(event.duration, 800);
    }
}
