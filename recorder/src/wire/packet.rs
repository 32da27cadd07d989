//! Frames to transport payloads: link layers, VLAN tags, tunnels, IPv4/IPv6, UDP/TCP/SCTP.
//!
//! IP and transport headers are sliced with etherparse; the link layers and the tunnel formats
//! a mirror port carries (802.1Q/QinQ, MPLS, PPPoE, GRE, ERSPAN II/III, VXLAN, IP-in-IP) are
//! walked here. Fragments go through the bounded [`Defragmenter`](super::frag::Defragmenter).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, LaxIpSlice, TcpSlice, UdpSlice};

use super::frag::{Defragmenter, FragmentKey};
use crate::time::Timestamp;

/// How deep tunnels may nest before a frame is given up (a loop of encapsulations is hostile).
const MAX_TUNNEL_DEPTH: u8 = 6;

/// The UDP port of VXLAN (RFC 7348).
const VXLAN_PORT: u16 = 4789;

/// SCTP messages being put together from fragmented DATA chunks, at most.
const MAX_SCTP_PARTIALS: usize = 256;

/// The largest SCTP message put together from fragments.
const MAX_SCTP_MESSAGE: usize = 256 * 1024;

/// The link layer of the frames of one capture, from the pcap link-type number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet II (DLT_EN10MB).
    Ethernet,
    /// Linux "cooked" capture v1 (DLT_LINUX_SLL).
    LinuxSll,
    /// Linux "cooked" capture v2 (DLT_LINUX_SLL2).
    LinuxSll2,
    /// BSD loopback, address family in host byte order (DLT_NULL).
    BsdLoopback,
    /// OpenBSD loopback, address family in network byte order (DLT_LOOP).
    BsdLoopbackBigEndian,
    /// Raw IP, version from the first nibble (DLT_RAW and LINKTYPE_RAW).
    RawIp,
}

impl LinkType {
    /// Maps a pcap link-type (or DLT) number to a link layer we can decode.
    pub fn from_pcap(linktype: i32) -> Option<LinkType> {
        match linktype {
            1 => Some(LinkType::Ethernet),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            0 => Some(LinkType::BsdLoopback),
            108 => Some(LinkType::BsdLoopbackBigEndian),
            // 12 and 14 are DLT_RAW on some BSDs; 101 is LINKTYPE_RAW; 228/229 IPv4/IPv6 only.
            12 | 14 | 101 | 228 | 229 => Some(LinkType::RawIp),
            _ => None,
        }
    }
}

/// The transport a payload came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A UDP datagram (after IP reassembly).
    Udp,
    /// A TCP segment.
    Tcp(TcpSegmentInfo),
    /// The user data of one SCTP DATA chunk.
    Sctp,
}

/// The TCP header fields stream reassembly needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegmentInfo {
    /// Sequence number of the first payload byte (of the SYN if `syn`).
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
}

/// One transport payload found in a frame.
#[derive(Clone, Copy, Debug)]
pub struct L4Payload<'a> {
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// UDP, TCP or SCTP.
    pub transport: Transport,
    /// The transport payload.
    pub payload: &'a [u8],
}

/// Counters of what the decoder saw and skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames handed to the decoder.
    pub frames: u64,
    /// Frames with no IP inside (ARP, LLDP, ...).
    pub not_ip: u64,
    /// Frames or headers cut short or inconsistent.
    pub malformed: u64,
    /// IP packets carrying neither UDP, TCP, SCTP nor a tunnel we know.
    pub other_protocol: u64,
    /// IP fragments seen.
    pub fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub reassembled: u64,
    /// Frames that were unwrapped from a tunnel (GRE, ERSPAN, VXLAN, IP-in-IP).
    pub tunnelled: u64,
}

/// Turns frames into transport payloads. Holds the fragment reassembly state, so one decoder
/// serves one capture source.
#[derive(Debug, Default)]
pub struct Decoder {
    frags: Defragmenter,
    /// Fragmented SCTP user messages, by association direction and stream.
    sctp_partials: HashMap<(SocketAddr, SocketAddr, u16), Vec<u8>>,
    /// What was decoded and skipped so far.
    pub stats: DecodeStats,
}

/// Where a payload handed to [`Decoder::decode`]'s sink goes.
pub type Sink<'s> = dyn FnMut(&L4Payload<'_>) + 's;

impl Decoder {
    /// Creates a decoder with default fragment-table limits.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Fragment reassembly counters (evictions, time-outs).
    pub fn frag_stats(&self) -> super::frag::FragStats {
        self.frags.stats
    }

    /// Decodes one frame and hands every transport payload in it to `sink`.
    pub fn decode(&mut self, now: Timestamp, link: LinkType, frame: &[u8], sink: &mut Sink<'_>) {
        self.stats.frames += 1;
        self.link(now, link, frame, 0, sink);
    }

    /// Drops fragment state older than the reassembly time-out.
    pub fn expire(&mut self, now: Timestamp) {
        self.frags.expire(now);
    }

    fn link(&mut self, now: Timestamp, link: LinkType, data: &[u8], depth: u8, sink: &mut Sink) {
        match link {
            LinkType::Ethernet => self.ethernet(now, data, depth, sink),
            LinkType::LinuxSll => match data.get(14..16) {
                Some(proto) => {
                    let ethertype = u16::from_be_bytes([proto[0], proto[1]]);
                    self.ethertype(now, ethertype, &data[16..], depth, sink)
                }
                None => self.stats.malformed += 1,
            },
            LinkType::LinuxSll2 => match data.get(..20) {
                Some(header) => {
                    let ethertype = u16::from_be_bytes([header[0], header[1]]);
                    self.ethertype(now, ethertype, &data[20..], depth, sink)
                }
                None => self.stats.malformed += 1,
            },
            LinkType::BsdLoopback | LinkType::BsdLoopbackBigEndian => {
                // The family is 2 for IPv4 and one of 24/28/30 for IPv6, in whichever byte
                // order the capturing host had; looking at the IP version nibble is simpler
                // and right for both.
                match data.get(4..) {
                    Some(ip) if !ip.is_empty() => self.ip(now, ip, depth, sink),
                    _ => self.stats.malformed += 1,
                }
            }
            LinkType::RawIp => self.ip(now, data, depth, sink),
        }
    }

    fn ethernet(&mut self, now: Timestamp, data: &[u8], depth: u8, sink: &mut Sink) {
        match data.get(12..14) {
            Some(t) => {
                let ethertype = u16::from_be_bytes([t[0], t[1]]);
                self.ethertype(now, ethertype, &data[14..], depth, sink)
            }
            None => self.stats.malformed += 1,
        }
    }

    /// Follows an EtherType: VLAN tags, MPLS, PPPoE, then IP.
    fn ethertype(
        &mut self,
        now: Timestamp,
        ethertype: u16,
        data: &[u8],
        depth: u8,
        sink: &mut Sink,
    ) {
        let (mut ethertype, mut data) = (ethertype, data);

        // 802.1Q, 802.1ad (QinQ) and the old 0x9100 double tag: 4 bytes each, any number.
        while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
            let Some(tag) = data.get(..4) else {
                self.stats.malformed += 1;
                return;
            };
            ethertype = u16::from_be_bytes([tag[2], tag[3]]);
            data = &data[4..];
        }

        match ethertype {
            0x0800 | 0x86dd => self.ip(now, data, depth, sink),
            0x8847 | 0x8848 => self.mpls(now, data, depth, sink),
            0x8864 => self.pppoe_session(now, data, depth, sink),
            _ => self.stats.not_ip += 1,
        }
    }

    /// MPLS label stack (RFC 3032): pop labels until bottom-of-stack, then guess IP by its
    /// version nibble, as MPLS does not say what it carries.
    fn mpls(&mut self, now: Timestamp, mut data: &[u8], depth: u8, sink: &mut Sink) {
        loop {
            let Some(entry) = data.get(..4) else {
                self.stats.malformed += 1;
                return;
            };
            let bottom = entry[2] & 0x01 != 0;
            data = &data[4..];
            if bottom {
                break;
            }
        }
        match data.first().map(|b| b >> 4) {
            Some(4 | 6) => self.ip(now, data, depth, sink),
            // A pseudowire with a control word and Ethernet inside.
            Some(0) if data.len() > 4 => self.ethernet(now, &data[4..], depth + 1, sink),
            _ => self.stats.not_ip += 1,
        }
    }

    /// PPPoE session stage (RFC 2516): 6-byte header, then a PPP protocol number.
    fn pppoe_session(&mut self, now: Timestamp, data: &[u8], depth: u8, sink: &mut Sink) {
        let Some(header) = data.get(..8) else {
            self.stats.malformed += 1;
            return;
        };
        let protocol = u16::from_be_bytes([header[6], header[7]]);
        self.ppp(now, protocol, &data[8..], depth, sink)
    }

    fn ppp(&mut self, now: Timestamp, protocol: u16, data: &[u8], depth: u8, sink: &mut Sink) {
        match protocol {
            0x0021 | 0x0057 => self.ip(now, data, depth, sink),
            _ => self.stats.not_ip += 1,
        }
    }

    /// An IPv4 or IPv6 packet: reassemble if fragmented, then the transport.
    fn ip(&mut self, now: Timestamp, data: &[u8], depth: u8, sink: &mut Sink) {
        let Ok((ip, _)) = LaxIpSlice::from_slice(data) else {
            self.stats.malformed += 1;
            return;
        };
        let (src, dst) = (ip.source_addr(), ip.destination_addr());
        let payload = ip.payload();
        let protocol = payload.ip_number;

        if !payload.fragmented {
            self.transport(now, src, dst, protocol, payload.payload, depth, sink);
            return;
        }

        self.stats.fragments += 1;
        let Some(fragment) = fragment_of(&ip) else {
            self.stats.malformed += 1;
            return;
        };
        let key = FragmentKey {
            src,
            dst,
            id: fragment.id,
            protocol: protocol.0,
        };
        let rebuilt = self
            .frags
            .insert(now, key, fragment.offset, fragment.more, payload.payload);
        if let Some(datagram) = rebuilt {
            self.stats.reassembled += 1;
            self.transport(now, src, dst, protocol, &datagram, depth, sink);
            self.frags.recycle(datagram);
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one hop of the decode walk, all needed"
    )]
    fn transport(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        protocol: IpNumber,
        data: &[u8],
        depth: u8,
        sink: &mut Sink,
    ) {
        match protocol {
            IpNumber::UDP => {
                let Ok(udp) = UdpSlice::from_slice_lax(data) else {
                    self.stats.malformed += 1;
                    return;
                };
                let (sport, dport) = (udp.source_port(), udp.destination_port());
                if (dport == VXLAN_PORT || sport == VXLAN_PORT)
                    && depth < MAX_TUNNEL_DEPTH
                    && let Some(inner) = vxlan_inner(udp.payload())
                {
                    self.stats.tunnelled += 1;
                    self.ethernet(now, inner, depth + 1, sink);
                    return;
                }
                sink(&L4Payload {
                    src: SocketAddr::new(src, sport),
                    dst: SocketAddr::new(dst, dport),
                    transport: Transport::Udp,
                    payload: udp.payload(),
                });
            }
            IpNumber::TCP => {
                let Ok(tcp) = TcpSlice::from_slice(data) else {
                    self.stats.malformed += 1;
                    return;
                };
                let info = TcpSegmentInfo {
                    seq: tcp.sequence_number(),
                    syn: tcp.syn(),
                    fin: tcp.fin(),
                    rst: tcp.rst(),
                };
                sink(&L4Payload {
                    src: SocketAddr::new(src, tcp.source_port()),
                    dst: SocketAddr::new(dst, tcp.destination_port()),
                    transport: Transport::Tcp(info),
                    payload: tcp.payload(),
                });
            }
            IpNumber::SCTP => self.sctp(src, dst, data, sink),
            IpNumber::IPV4 | IpNumber::IPV6 if depth < MAX_TUNNEL_DEPTH => {
                self.stats.tunnelled += 1;
                self.ip(now, data, depth + 1, sink);
            }
            IpNumber::GRE if depth < MAX_TUNNEL_DEPTH => self.gre(now, data, depth + 1, sink),
            _ => self.stats.other_protocol += 1,
        }
    }

    /// GRE (RFC 2784/2890), including PPTP's enhanced GRE and ERSPAN type II and III.
    fn gre(&mut self, now: Timestamp, data: &[u8], depth: u8, sink: &mut Sink) {
        let Some(header) = data.get(..4) else {
            self.stats.malformed += 1;
            return;
        };
        let flags = header[0];
        let version = header[1] & 0x07;
        let protocol = u16::from_be_bytes([header[2], header[3]]);
        let mut offset = 4;
        if flags & 0x80 != 0 {
            offset += 4; // checksum and reserved
        }
        if flags & 0x20 != 0 {
            offset += 4; // key (or PPTP payload length and call id)
        }
        if flags & 0x10 != 0 {
            offset += 4; // sequence number
        }
        if version == 1 && header[1] & 0x80 != 0 {
            offset += 4; // PPTP acknowledgment number
        }
        let Some(inner) = data.get(offset..) else {
            self.stats.malformed += 1;
            return;
        };
        self.stats.tunnelled += 1;

        match protocol {
            // Transparent Ethernet bridging.
            0x6558 => self.ethernet(now, inner, depth, sink),
            // ERSPAN type II: 8-byte header, then the mirrored Ethernet frame.
            0x88be => match inner.get(8..) {
                Some(frame) => self.ethernet(now, frame, depth, sink),
                None => self.stats.malformed += 1,
            },
            // ERSPAN type III: 12-byte header, 8 more with the optional platform subheader.
            0x22eb => {
                let Some(erspan) = inner.get(..12) else {
                    self.stats.malformed += 1;
                    return;
                };
                let optional = erspan[11] & 0x01 != 0;
                let skip = if optional { 20 } else { 12 };
                match inner.get(skip..) {
                    Some(frame) => self.ethernet(now, frame, depth, sink),
                    None => self.stats.malformed += 1,
                }
            }
            // PPP (PPTP): address/control bytes are optional, protocol 1 or 2 bytes.
            0x880b => {
                let mut ppp = inner;
                if ppp.starts_with(&[0xff, 0x03]) {
                    ppp = &ppp[2..];
                }
                match ppp {
                    [p, rest @ ..] if p & 1 == 1 => self.ppp(now, u16::from(*p), rest, depth, sink),
                    [a, b, rest @ ..] => {
                        self.ppp(now, u16::from_be_bytes([*a, *b]), rest, depth, sink)
                    }
                    _ => self.stats.malformed += 1,
                }
            }
            ethertype => self.ethertype(now, ethertype, inner, depth, sink),
        }
    }

    /// SCTP (RFC 9260): hands each user message of the DATA chunks on, putting messages split
    /// over several chunks (B and E flags) back together first.
    fn sctp(&mut self, src: IpAddr, dst: IpAddr, data: &[u8], sink: &mut Sink) {
        let Some(common) = data.get(..12) else {
            self.stats.malformed += 1;
            return;
        };
        let src = SocketAddr::new(src, u16::from_be_bytes([common[0], common[1]]));
        let dst = SocketAddr::new(dst, u16::from_be_bytes([common[2], common[3]]));
        let mut chunks = &data[12..];
        while chunks.len() >= 4 {
            let kind = chunks[0];
            let flags = chunks[1];
            let length = usize::from(u16::from_be_bytes([chunks[2], chunks[3]]));
            if length < 4 || length > chunks.len() {
                self.stats.malformed += 1;
                return;
            }
            if kind == 0 && length > 16 {
                let stream = u16::from_be_bytes([chunks[8], chunks[9]]);
                let user_data = &chunks[16..length];
                let (first, last) = (flags & 0x02 != 0, flags & 0x01 != 0);
                self.sctp_data(src, dst, stream, first, last, user_data, sink);
            }
            let padded = (length + 3) & !3;
            chunks = chunks.get(padded..).unwrap_or(&[]);
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one DATA chunk's fields")]
    fn sctp_data(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        stream: u16,
        first: bool,
        last: bool,
        data: &[u8],
        sink: &mut Sink,
    ) {
        let key = (src, dst, stream);
        let emit = |payload: &[u8], sink: &mut Sink| {
            sink(&L4Payload {
                src,
                dst,
                transport: Transport::Sctp,
                payload,
            })
        };
        match (first, last) {
            (true, true) => emit(data, sink),
            (true, false) => {
                if self.sctp_partials.len() >= MAX_SCTP_PARTIALS {
                    self.sctp_partials.clear();
                    self.stats.malformed += 1;
                }
                self.sctp_partials.insert(key, data.to_vec());
            }
            (false, _) => {
                let Some(partial) = self.sctp_partials.get_mut(&key) else {
                    return;
                };
                if partial.len() + data.len() > MAX_SCTP_MESSAGE {
                    self.sctp_partials.remove(&key);
                    self.stats.malformed += 1;
                    return;
                }
                partial.extend_from_slice(data);
                if last && let Some(message) = self.sctp_partials.remove(&key) {
                    emit(&message, sink);
                }
            }
        }
    }
}

/// The fragment fields of a fragmented IPv4 or IPv6 packet.
struct FragmentFields {
    id: u32,
    offset: usize,
    more: bool,
}

fn fragment_of(ip: &LaxIpSlice<'_>) -> Option<FragmentFields> {
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            Some(FragmentFields {
                id: u32::from(header.identification()),
                offset: usize::from(header.fragments_offset().value()) * 8,
                more: header.more_fragments(),
            })
        }
        LaxIpSlice::Ipv6(v6) => v6
            .extensions()
            .clone()
            .into_iter()
            .find_map(|ext| match ext {
                etherparse::Ipv6ExtensionSlice::Fragment(frag) => Some(FragmentFields {
                    id: frag.identification(),
                    offset: usize::from(frag.fragment_offset().value()) * 8,
                    more: frag.more_fragments(),
                }),
                _ => None,
            }),
    }
}

/// The Ethernet frame inside a VXLAN header (RFC 7348), if the I flag says it is one.
fn vxlan_inner(payload: &[u8]) -> Option<&[u8]> {
    let header = payload.get(..8)?;
    (header[0] & 0x08 != 0).then(|| &payload[8..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_ipv4(payload: &[u8]) -> Vec<u8> {
        let builder = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(etherparse::VlanId::try_new(42).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(5060, 5062);
        let mut frame = Vec::new();
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    fn collect(decoder: &mut Decoder, link: LinkType, frame: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        decoder.decode(Timestamp::from_micros(0), link, frame, &mut |p| {
            out.push((format!("{}>{}", p.src, p.dst), p.payload.to_vec()));
        });
        out
    }

    #[test]
    fn decodes_vlan_tagged_udp() {
        let frame = udp_ipv4(b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        let got = collect(&mut Decoder::new(), LinkType::Ethernet, &frame);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "10.0.0.1:5060>10.0.0.2:5062");
        assert!(got[0].1.starts_with(b"OPTIONS"));
    }

    #[test]
    fn truncated_frames_are_counted_not_fatal() {
        let frame = udp_ipv4(b"hello");
        let mut decoder = Decoder::new();
        for cut in 0..frame.len() {
            collect(&mut decoder, LinkType::Ethernet, &frame[..cut]);
        }
        assert!(decoder.stats.malformed > 0);
    }

    #[test]
    fn unwraps_vxlan() {
        let inner = udp_ipv4(b"SIP/2.0 200 OK\r\n\r\n");
        let mut vxlan = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vxlan.extend_from_slice(&inner);
        let outer = {
            let builder = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64)
                .udp(40000, VXLAN_PORT);
            let mut frame = Vec::new();
            builder.write(&mut frame, &vxlan).unwrap();
            frame
        };
        let got = collect(&mut Decoder::new(), LinkType::Ethernet, &outer);
        assert_eq!(got[0].0, "10.0.0.1:5060>10.0.0.2:5062");
    }
}
