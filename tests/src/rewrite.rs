//! Derives test captures from real ones: the same calls carried differently (tunnels, VLAN
//! stacks, Linux cooked v2, IP fragments, SIP over TCP or WebSocket, other ports, another
//! codec). Each kind is a function from a [`Pcap`] to a new one; `cargo xtask rewrite` runs
//! them from the command line.
//!
//! Only Ethernet/IPv4/UDP frames are rewritten; others pass unchanged.

use std::net::Ipv4Addr;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use crate::pcap_edit::{Pcap, Record};

/// The rewrites that carry the same call differently (tunnels, link types, fragments, SIP
/// transports and ports): the journal must not change.
pub const CARRIERS: &[&str] = &[
    "qinq",
    "mpls",
    "pppoe",
    "gre",
    "vxlan",
    "ipip",
    "sll2",
    "fragments",
    "tcp",
    "websocket",
    "port",
];

/// The rewrites that change the call itself (codec, addresses, SSRC, keys, forks).
pub const CHANGES: &[&str] = &["opus", "nat", "ssrc-change", "dtmf", "fork"];

/// Every rewrite `cargo xtask rewrite` and [`apply`] know: the carriers, then the changes.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    CARRIERS.iter().chain(CHANGES).copied()
}

/// Applies a rewrite by name.
pub fn apply(kind: &str, pcap: &Pcap) -> Option<Pcap> {
    Some(match kind {
        "qinq" => map_frames(pcap, qinq),
        "mpls" => map_frames(pcap, mpls),
        "pppoe" => map_frames(pcap, pppoe),
        "gre" => map_frames(pcap, gre),
        "vxlan" => map_frames(pcap, vxlan),
        "ipip" => map_frames(pcap, ipip),
        "sll2" => sll2(pcap),
        "fragments" => fragments(pcap, 400),
        "tcp" => sip_over_tcp(pcap, false),
        "websocket" => sip_over_tcp(pcap, true),
        "port" => other_sip_port(pcap, 5099),
        "opus" => crate::rewrite_opus::to_opus(pcap),
        "nat" => media_behind_nat(pcap),
        "ssrc-change" => caller_restarts_rtp(pcap),
        "dtmf" => caller_presses_keys(pcap, &[("*1", 3.0), ("*2", 9.0)]),
        "fork" => a_second_fork_answers(pcap),
        _ => return None,
    })
}

/// An Ethernet/IPv4/UDP frame taken apart.
#[derive(Clone, Debug)]
pub struct Udp {
    /// Destination and source MAC.
    pub macs: ([u8; 6], [u8; 6]),
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// The datagram's payload.
    pub payload: Vec<u8>,
}

impl Udp {
    /// Reads an untagged Ethernet/IPv4/UDP frame.
    pub fn parse(frame: &[u8]) -> Option<Udp> {
        let sliced = SlicedPacket::from_ethernet(frame).ok()?;
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
            return None;
        };
        let Some(TransportSlice::Udp(udp)) = &sliced.transport else {
            return None;
        };
        let mut dst_mac = [0; 6];
        let mut src_mac = [0; 6];
        dst_mac.copy_from_slice(&frame[..6]);
        src_mac.copy_from_slice(&frame[6..12]);
        Some(Udp {
            macs: (dst_mac, src_mac),
            src: ip.header().source_addr(),
            dst: ip.header().destination_addr(),
            sport: udp.source_port(),
            dport: udp.destination_port(),
            payload: udp.payload().to_vec(),
        })
    }

    /// Builds the frame again (lengths and checksums computed).
    pub fn build(&self) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2(self.macs.1, self.macs.0)
            .ipv4(self.src.octets(), self.dst.octets(), 64)
            .udp(self.sport, self.dport);
        let mut frame = Vec::new();
        builder
            .write(&mut frame, &self.payload)
            .expect("build frame");
        frame
    }

    /// Whether it is SIP (a payload starting like a SIP message).
    pub fn is_sip(&self) -> bool {
        self.payload.starts_with(b"SIP/2.0")
            || self.payload.windows(8).take(200).any(|w| w == b" SIP/2.0")
    }
}

fn map_frames(pcap: &Pcap, f: fn(&[u8]) -> Vec<u8>) -> Pcap {
    let records = pcap
        .records
        .iter()
        .map(|r| Record {
            data: f(&r.data),
            orig_len: 0,
            ..r.clone()
        })
        .map(|mut r| {
            r.orig_len = r.data.len() as u32;
            r
        })
        .collect();
    Pcap {
        header: pcap.header.clone(),
        records,
    }
}

/// The part of an Ethernet frame after its EtherType, and the EtherType.
fn split_ethernet(frame: &[u8]) -> (&[u8], u16, &[u8]) {
    (
        &frame[..12],
        u16::from_be_bytes([frame[12], frame[13]]),
        &frame[14..],
    )
}

/// An 802.1ad outer tag and an 802.1Q inner tag.
fn qinq(frame: &[u8]) -> Vec<u8> {
    let (macs, ethertype, rest) = split_ethernet(frame);
    let mut out = macs.to_vec();
    out.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64]); // S-tag, VLAN 100
    out.extend_from_slice(&[0x81, 0x00, 0x00, 0xc8]); // C-tag, VLAN 200
    out.extend_from_slice(&ethertype.to_be_bytes());
    out.extend_from_slice(rest);
    out
}

/// Two MPLS labels over IPv4.
fn mpls(frame: &[u8]) -> Vec<u8> {
    let (macs, ethertype, rest) = split_ethernet(frame);
    if ethertype != 0x0800 {
        return frame.to_vec();
    }
    let mut out = macs.to_vec();
    out.extend_from_slice(&[0x88, 0x47]);
    out.extend_from_slice(&[0x00, 0x01, 0x00, 0x40]); // label 16, not bottom
    out.extend_from_slice(&[0x00, 0x02, 0x01, 0x40]); // label 32, bottom of stack
    out.extend_from_slice(rest);
    out
}

/// PPPoE session traffic (RFC 2516) with PPP protocol IPv4.
fn pppoe(frame: &[u8]) -> Vec<u8> {
    let (macs, ethertype, rest) = split_ethernet(frame);
    if ethertype != 0x0800 {
        return frame.to_vec();
    }
    let mut out = macs.to_vec();
    out.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x12, 0x34]);
    out.extend_from_slice(&((rest.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&[0x00, 0x21]);
    out.extend_from_slice(rest);
    out
}

/// The whole frame inside IPv4/GRE (transparent Ethernet bridging), as a mirror tunnel.
fn gre(frame: &[u8]) -> Vec<u8> {
    let mut inner = vec![0x00, 0x00, 0x65, 0x58];
    inner.extend_from_slice(frame);
    outer_ip(47, &inner)
}

/// The whole frame inside IPv4/UDP/VXLAN (VNI 42).
fn vxlan(frame: &[u8]) -> Vec<u8> {
    let mut inner = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    inner.extend_from_slice(frame);
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(49_152, 4789);
    let mut out = Vec::new();
    builder.write(&mut out, &inner).expect("vxlan frame");
    out
}

/// The IP packet inside another IPv4 header (IP-in-IP).
fn ipip(frame: &[u8]) -> Vec<u8> {
    let (_, ethertype, rest) = split_ethernet(frame);
    if ethertype != 0x0800 {
        return frame.to_vec();
    }
    outer_ip(4, rest)
}

/// An Ethernet frame carrying an outer IPv4 header with `protocol` around `payload`.
fn outer_ip(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut header = etherparse::Ipv4Header::new(
        payload.len() as u16,
        64,
        etherparse::IpNumber(protocol),
        [192, 0, 2, 1],
        [192, 0, 2, 2],
    )
    .expect("ipv4 header");
    header.header_checksum = header.calc_header_checksum();
    let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    header.write(&mut out).expect("write header");
    out.extend_from_slice(payload);
    out
}

/// Linux cooked capture v2: the Ethernet header replaced by the 20-byte SLL2 header.
fn sll2(pcap: &Pcap) -> Pcap {
    let mut header = pcap.header.clone();
    header[20..24].copy_from_slice(&276u32.to_le_bytes());
    let records = pcap
        .records
        .iter()
        .map(|r| {
            let (macs, ethertype, rest) = split_ethernet(&r.data);
            let mut data = ethertype.to_be_bytes().to_vec();
            data.extend_from_slice(&[0, 0]); // reserved
            data.extend_from_slice(&2u32.to_be_bytes()); // interface index
            data.extend_from_slice(&[0x00, 0x01, 0x00, 0x06]); // ARPHRD_ETHER, outgoing, 6
            data.extend_from_slice(&macs[6..12]);
            data.extend_from_slice(&[0, 0]);
            data.extend_from_slice(rest);
            Record {
                orig_len: data.len() as u32,
                data,
                ..r.clone()
            }
        })
        .collect();
    Pcap { header, records }
}

/// Splits every UDP datagram whose IP packet is longer than `mtu` into IPv4 fragments, sent
/// last fragment first (reassembly must not depend on order).
pub fn fragments(pcap: &Pcap, mtu: usize) -> Pcap {
    let mut records = Vec::new();
    for (i, record) in pcap.records.iter().enumerate() {
        let Some(udp) = Udp::parse(&record.data) else {
            records.push(record.clone());
            continue;
        };
        let full = udp.build();
        let ip_packet = &full[14..];
        if ip_packet.len() <= mtu {
            records.push(record.clone());
            continue;
        }
        // The UDP header and payload, cut at multiples of 8 bytes.
        let datagram = &ip_packet[20..];
        let step = (mtu - 20) / 8 * 8;
        let chunks: Vec<&[u8]> = datagram.chunks(step).collect();
        let id = (i as u16).wrapping_mul(7).wrapping_add(1);
        let mut pieces = Vec::new();
        for (n, chunk) in chunks.iter().enumerate() {
            let more = n + 1 < chunks.len();
            let mut header = etherparse::Ipv4Header::new(
                chunk.len() as u16,
                64,
                etherparse::IpNumber::UDP,
                udp.src.octets(),
                udp.dst.octets(),
            )
            .expect("ipv4 header");
            header.identification = id;
            header.more_fragments = more;
            header.fragment_offset =
                etherparse::IpFragOffset::try_new((n * step / 8) as u16).unwrap();
            header.header_checksum = header.calc_header_checksum();
            let mut frame = full[..14].to_vec();
            header.write(&mut frame).expect("write header");
            frame.extend_from_slice(chunk);
            pieces.push(Record {
                orig_len: frame.len() as u32,
                data: frame,
                ..record.clone()
            });
        }
        pieces.reverse();
        records.extend(pieces);
    }
    Pcap {
        header: pcap.header.clone(),
        records,
    }
}

/// Moves SIP from UDP port 5060 to `port` on both sides.
fn other_sip_port(pcap: &Pcap, port: u16) -> Pcap {
    let records = pcap
        .records
        .iter()
        .map(|r| match Udp::parse(&r.data) {
            Some(mut udp) if udp.is_sip() => {
                if udp.sport == 5060 {
                    udp.sport = port;
                }
                if udp.dport == 5060 {
                    udp.dport = port;
                }
                let data = udp.build();
                Record {
                    orig_len: data.len() as u32,
                    data,
                    ..r.clone()
                }
            }
            _ => r.clone(),
        })
        .collect();
    Pcap {
        header: pcap.header.clone(),
        records,
    }
}

/// One TCP connection per pair of addresses, carrying the SIP that went over UDP: a
/// handshake first, then each message in two segments; the second half of every third
/// message comes before its first half, and every fifth segment is sent twice. With
/// `websocket`, the connection opens with an HTTP upgrade and every message is one
/// WebSocket frame (masked from the client, as RFC 6455 wants).
pub fn sip_over_tcp(pcap: &Pcap, websocket: bool) -> Pcap {
    #[derive(Default)]
    struct Direction {
        seq: u32,
    }
    let mut directions: std::collections::HashMap<(Ipv4Addr, Ipv4Addr), Direction> =
        Default::default();
    let mut client: Option<Ipv4Addr> = None;
    let mut records = Vec::new();
    let mut counter = 0u32;

    for record in &pcap.records {
        let Some(udp) = Udp::parse(&record.data) else {
            records.push(record.clone());
            continue;
        };
        if !udp.is_sip() {
            records.push(record.clone());
            continue;
        }
        let is_client = *client.get_or_insert(udp.src) == udp.src;
        let key = (udp.src, udp.dst);
        let (sport, dport) = if is_client {
            (40_000, 5060)
        } else {
            (5060, 40_000)
        };
        let segment = |seq: u32, flags: (bool, bool), payload: &[u8]| -> Record {
            let builder = PacketBuilder::ethernet2(udp.macs.1, udp.macs.0).ipv4(
                udp.src.octets(),
                udp.dst.octets(),
                64,
            );
            let mut tcp = builder.tcp(sport, dport, seq, 64_000);
            if flags.0 {
                tcp = tcp.syn();
            }
            if flags.1 {
                tcp = tcp.ack(1);
            }
            let mut frame = Vec::new();
            tcp.write(&mut frame, payload).expect("tcp frame");
            Record {
                orig_len: frame.len() as u32,
                data: frame,
                ..record.clone()
            }
        };

        directions.entry(key).or_insert_with(|| {
            // The handshake (only the SYN matters to a passive reader) and, for WebSocket,
            // the upgrade or its answer.
            records.push(segment(999, (true, !is_client), &[]));
            let mut direction = Direction { seq: 1000 };
            if websocket {
                let head: &[u8] = if is_client {
                    b"GET / HTTP/1.1\r\nHost: pbx\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n\
Sec-WebSocket-Version: 13\r\n\r\n"
                } else {
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
                };
                records.push(segment(direction.seq, (false, true), head));
                direction.seq += head.len() as u32;
            }
            direction
        });

        let message = if websocket {
            ws_frame(&udp.payload, is_client)
        } else {
            udp.payload.clone()
        };
        let direction = directions.get_mut(&key).expect("inserted");
        let half = message.len() / 2;
        let first = segment(direction.seq, (false, true), &message[..half]);
        let second = segment(direction.seq + half as u32, (false, true), &message[half..]);
        direction.seq += message.len() as u32;
        counter += 1;
        let mut pair = vec![first, second];
        if counter.is_multiple_of(3) {
            pair.reverse();
        }
        if counter.is_multiple_of(5) {
            let again = pair[0].clone();
            pair.push(again);
        }
        records.extend(pair);
    }
    Pcap {
        header: pcap.header.clone(),
        records,
    }
}

/// One WebSocket text frame; masked when the client sends it.
fn ws_frame(payload: &[u8], masked: bool) -> Vec<u8> {
    let mut frame = vec![0x81];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => frame.push(mask_bit | len as u8),
        len @ 126..=65_535 => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

/// The RTP of both parties seen on translated addresses (static NAT in front of each phone):
/// 10.77.0.1 appears as 198.51.100.1 and 10.77.0.2 as 192.0.2.50; SIP and SDP are unchanged.
fn media_behind_nat(pcap: &Pcap) -> Pcap {
    let translate = |ip: Ipv4Addr| match ip.octets() {
        [10, 77, 0, 1] => Ipv4Addr::new(198, 51, 100, 1),
        [10, 77, 0, 2] => Ipv4Addr::new(192, 0, 2, 50),
        _ => ip,
    };
    map_udp(pcap, |udp| {
        if !udp.is_sip() {
            udp.src = translate(udp.src);
            udp.dst = translate(udp.dst);
        }
    })
}

/// The caller's RTP sender restarts 8 s into the call: a new SSRC, sequence numbers and
/// timestamps starting over, as after a re-INVITE or a phone's media restart.
fn caller_restarts_rtp(pcap: &Pcap) -> Pcap {
    map_udp(pcap, |udp| {
        if udp.is_sip() || udp.payload.len() < 12 || udp.sport != 6000 {
            return;
        }
        let rtp = &mut udp.payload;
        let seq = u16::from_be_bytes([rtp[2], rtp[3]]);
        // The caller's stream starts at sequence 4711; 350 packets is 7 s.
        if seq >= 4711 + 350 {
            let new_seq = seq - (4711 + 350) + 100;
            let ts = u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]);
            let new_ts = ts.wrapping_sub(160_000).wrapping_add(9_000_000);
            rtp[2..4].copy_from_slice(&new_seq.to_be_bytes());
            rtp[4..8].copy_from_slice(&new_ts.to_be_bytes());
            rtp[8..12].copy_from_slice(&0x0bad_cafe_u32.to_be_bytes());
        }
    })
}

/// Applies `f` to every Ethernet/IPv4/UDP frame.
fn map_udp(pcap: &Pcap, mut f: impl FnMut(&mut Udp)) -> Pcap {
    let records = pcap
        .records
        .iter()
        .map(|r| match Udp::parse(&r.data) {
            Some(mut udp) => {
                f(&mut udp);
                let data = udp.build();
                Record {
                    orig_len: data.len() as u32,
                    data,
                    ..r.clone()
                }
            }
            None => r.clone(),
        })
        .collect();
    Pcap {
        header: pcap.header.clone(),
        records,
    }
}

/// The caller presses key sequences (RFC 4733 events in RTP, payload type 101, a separate
/// SSRC) at the given seconds into the capture; the SDP offers and answers telephone-event.
pub fn caller_presses_keys(pcap: &Pcap, presses: &[(&str, f64)]) -> Pcap {
    let mut out = map_udp(pcap, |udp| {
        if udp.is_sip() {
            udp.payload = crate::rewrite_opus::edit_sdp(&udp.payload, |body| {
                body.replace(" RTP/AVP 0\r\n", " RTP/AVP 0 101\r\n")
                    .replace(
                        "a=rtpmap:0 PCMU/8000\r\n",
                        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
                    )
            });
        }
    });
    let template = out
        .records
        .iter()
        .find_map(|r| Udp::parse(&r.data).filter(|u| u.sport == 6000 && !u.is_sip()))
        .expect("a caller RTP frame");
    let start = pcap.records[0].ts_sec as f64 + pcap.records[0].ts_usec as f64 / 1e6;
    let mut seq: u16 = 1;
    let mut events = Vec::new();
    for (keys, at) in presses {
        for (i, key) in keys.chars().enumerate() {
            let code = match key {
                '0'..='9' => key as u8 - b'0',
                '*' => 10,
                '#' => 11,
                _ => panic!("key {key}"),
            };
            let begin = at + i as f64 * 0.2;
            let timestamp = (begin * 8000.0) as u32;
            // Three packets while the key is down (duration growing), the last three with
            // the end bit, as RFC 4733 section 2.5.1.4 sends the end.
            for n in 0..6u16 {
                let end = n >= 3;
                let duration = 400 * (n.min(3) + 1);
                let mut rtp = vec![0x80, if n == 0 { 0x80 | 101 } else { 101 }];
                rtp.extend_from_slice(&seq.to_be_bytes());
                rtp.extend_from_slice(&timestamp.to_be_bytes());
                rtp.extend_from_slice(&0x3a1c_0eee_u32.to_be_bytes());
                rtp.extend_from_slice(&[code, if end { 0x80 | 10 } else { 10 }]);
                rtp.extend_from_slice(&duration.to_be_bytes());
                seq = seq.wrapping_add(1);
                let when = start + begin + f64::from(n) * 0.02;
                let frame = Udp {
                    payload: rtp,
                    ..template.clone()
                }
                .build();
                events.push(Record {
                    ts_sec: when as u32,
                    ts_usec: ((when.fract()) * 1e6) as u32,
                    orig_len: frame.len() as u32,
                    data: frame,
                });
            }
        }
    }
    out.records.extend(events);
    out.records.sort_by_key(|r| (r.ts_sec, r.ts_usec));
    out
}

/// The INVITE forks: a second fork answers 0.5 ms after the first (its own To tag and media
/// port), and the caller hangs that dialog up at once (ACK, BYE, 200), as a UAC does with a
/// second 2xx. The call goes on with the first fork.
fn a_second_fork_answers(pcap: &Pcap) -> Pcap {
    let fork = |frame: usize, edits: &[(&str, &str)], delay_us: u32| -> Record {
        let record = &pcap.records[frame - 1];
        let mut udp = Udp::parse(&record.data).expect("a SIP frame");
        let mut text = String::from_utf8(udp.payload.clone()).expect("SIP text");
        for (from, to) in edits {
            assert_eq!(
                from.len(),
                to.len(),
                "same-length edits keep Content-Length right"
            );
            text = text.replace(from, to);
        }
        udp.payload = text.into_bytes();
        let data = udp.build();
        let usec = record.ts_usec + delay_us;
        Record {
            ts_sec: record.ts_sec + usec / 1_000_000,
            ts_usec: usec % 1_000_000,
            orig_len: data.len() as u32,
            data,
        }
    };
    let tag = ("tag=970SIPpTag011", "tag=fork2SIPpTag0");
    let mut records = pcap.records.clone();
    records.push(fork(6, &[tag, ("m=audio 7000", "m=audio 7002")], 500));
    records.push(fork(
        7,
        &[tag, ("z9hG4bK-1025-1-4", "z9hG4bK-1025-9-4")],
        800,
    ));
    let bye = [
        tag,
        ("z9hG4bK-1025-1-15", "z9hG4bK-1025-9-15"),
        ("CSeq: 5 BYE", "CSeq: 2 BYE"),
    ];
    let bye_at = {
        // Right after the ACK of the first fork (frame 7).
        let ack = &pcap.records[6];
        let first_bye = &pcap.records[2419];

        (ack.ts_sec as i64 - first_bye.ts_sec as i64) * 1_000_000 + ack.ts_usec as i64
            - first_bye.ts_usec as i64
            + 1000
    };
    let mut bye_frame = fork(2420, &bye, 0);
    let mut ok_frame = fork(2421, &bye, 0);
    for record in [&mut bye_frame, &mut ok_frame] {
        let at = record.ts_sec as i64 * 1_000_000 + record.ts_usec as i64 + bye_at;
        record.ts_sec = (at / 1_000_000) as u32;
        record.ts_usec = (at % 1_000_000) as u32;
    }
    ok_frame.ts_usec += 100;
    records.push(bye_frame);
    records.push(ok_frame);
    records.sort_by_key(|r| (r.ts_sec, r.ts_usec));
    Pcap {
        header: pcap.header.clone(),
        records,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_kind_is_known() {
        let pcap = Pcap::read(&crate::capture("record-info-on-off.pcap"));
        for kind in kinds() {
            assert!(apply(kind, &pcap).is_some(), "{kind}");
        }
        assert!(apply("no-such-kind", &pcap).is_none());
    }
}
