//! How a fuzz input is cut into records for the stateful targets, and how the seeder writes
//! them. Each record is a fixed header followed by a big-endian `u16` length and that many
//! payload bytes (fewer if the input ends); a header that does not fit ends the input.

/// A TCP segment: `flags` (bit 0 SYN, 1 FIN, 2 RST, 3 the reverse direction), `seq` (u32),
/// then the payload.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// SYN, FIN, RST and direction bits.
    pub flags: u8,
    /// The sequence number.
    pub seq: u32,
    /// The segment's payload.
    pub payload: &'a [u8],
}

/// An IP fragment: `flags` (bit 0 more fragments, bits 1-2 which of four datagrams, bit 3
/// IPv6), `offset` in 8-byte units (u16), then the payload.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// More-fragments and datagram-choice bits.
    pub flags: u8,
    /// Offset in 8-byte units, as IPv4 and IPv6 carry it.
    pub offset: u16,
    /// The fragment's payload.
    pub payload: &'a [u8],
}

/// A frame: `link` (the link type, modulo the six known), `gap` (time since the previous
/// frame in 10 ms units, 255 meaning an hour, to reach the time-outs), then the bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameRecord<'a> {
    /// Which link type.
    pub link: u8,
    /// Time since the previous frame.
    pub gap: u8,
    /// The frame.
    pub data: &'a [u8],
}

/// Splits `data` into records with a `header`-byte header each.
fn records(mut data: &[u8], header: usize) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let head = data.get(..header + 2)?;
        let len = usize::from(u16::from_be_bytes([head[header], head[header + 1]]));
        let rest = &data[header + 2..];
        let payload = &rest[..len.min(rest.len())];
        data = &rest[payload.len()..];
        Some((&head[..header], payload))
    })
}

/// The TCP segments of an input.
pub fn segments(data: &[u8]) -> impl Iterator<Item = Segment<'_>> {
    records(data, 5).map(|(h, payload)| Segment {
        flags: h[0],
        seq: u32::from_be_bytes([h[1], h[2], h[3], h[4]]),
        payload,
    })
}

/// The IP fragments of an input.
pub fn fragments(data: &[u8]) -> impl Iterator<Item = Fragment<'_>> {
    records(data, 3).map(|(h, payload)| Fragment {
        flags: h[0],
        offset: u16::from_be_bytes([h[1], h[2]]),
        payload,
    })
}

/// The frames of an input.
pub fn frames(data: &[u8]) -> impl Iterator<Item = FrameRecord<'_>> {
    records(data, 2).map(|(h, data)| FrameRecord {
        link: h[0],
        gap: h[1],
        data,
    })
}

fn put(out: &mut Vec<u8>, header: &[u8], payload: &[u8]) {
    let payload = &payload[..payload.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(header);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends a TCP segment record.
pub fn put_segment(out: &mut Vec<u8>, flags: u8, seq: u32, payload: &[u8]) {
    let s = seq.to_be_bytes();
    put(out, &[flags, s[0], s[1], s[2], s[3]], payload);
}

/// Appends an IP fragment record.
pub fn put_fragment(out: &mut Vec<u8>, flags: u8, offset: u16, payload: &[u8]) {
    let o = offset.to_be_bytes();
    put(out, &[flags, o[0], o[1]], payload);
}

/// Appends a frame record.
pub fn put_frame(out: &mut Vec<u8>, link: u8, gap: u8, data: &[u8]) {
    put(out, &[link, gap], data);
}

/// The link type a frame record names.
pub fn link_type(link: u8) -> crate::wire::LinkType {
    use crate::wire::LinkType;
    match link % 6 {
        0 => LinkType::Ethernet,
        1 => LinkType::LinuxSll,
        2 => LinkType::LinuxSll2,
        3 => LinkType::BsdLoopback,
        4 => LinkType::BsdLoopbackBigEndian,
        _ => LinkType::RawIp,
    }
}

/// The record number of a link type, for the seeder.
pub fn link_number(link: crate::wire::LinkType) -> u8 {
    use crate::wire::LinkType;
    match link {
        LinkType::Ethernet => 0,
        LinkType::LinuxSll => 1,
        LinkType::LinuxSll2 => 2,
        LinkType::BsdLoopback => 3,
        LinkType::BsdLoopbackBigEndian => 4,
        LinkType::RawIp => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_stop_at_a_short_header() {
        let mut data = Vec::new();
        put_segment(&mut data, 1, 1000, b"INVITE");
        put_segment(&mut data, 8, 7, b"");
        data.extend_from_slice(&[1, 2, 3]);
        let got: Vec<_> = segments(&data)
            .map(|s| (s.flags, s.seq, s.payload))
            .collect();
        assert_eq!(got, [(1, 1000, &b"INVITE"[..]), (8, 7, &b""[..])]);
    }

    #[test]
    fn a_length_past_the_end_takes_what_is_there() {
        let data = [0, 0, 0xff, 0xff, b'a', b'b'];
        let got: Vec<_> = frames(&data).map(|f| f.data).collect();
        assert_eq!(got, [&b"ab"[..]]);
    }
}
