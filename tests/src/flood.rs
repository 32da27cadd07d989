//! Hostile traffic for the flood tests, as pcap records (Ethernet, IPv4): INVITEs nobody
//! answers, RTP to random ports, SIP messages with thousands of headers, and SIP over TCP
//! whose Content-Length promises a body that never ends. Deterministic (a fixed-seed
//! generator), and spread over a time window so it can be merged with a real call.

use crate::pcap_edit::{Pcap, Record};

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Where and when flood packets go: `count` packets spread evenly from `start_us` over
/// `span_us` microseconds.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// First packet, microseconds since the epoch.
    pub start_us: u64,
    /// Time the flood lasts.
    pub span_us: u64,
}

impl Window {
    /// The window of a capture's records.
    pub fn of(pcap: &Pcap) -> Window {
        let at = |r: &Record| u64::from(r.ts_sec) * 1_000_000 + u64::from(r.ts_usec);
        let start_us = pcap.records.iter().map(at).min().unwrap_or(0);
        let end = pcap.records.iter().map(at).max().unwrap_or(0);
        Window {
            start_us,
            span_us: (end - start_us).max(1),
        }
    }

    fn at(&self, i: usize, count: usize) -> (u32, u32) {
        let us = self.start_us + self.span_us * i as u64 / count.max(1) as u64;
        ((us / 1_000_000) as u32, (us % 1_000_000) as u32)
    }
}

fn record(at: (u32, u32), data: Vec<u8>) -> Record {
    Record {
        ts_sec: at.0,
        ts_usec: at.1,
        orig_len: data.len() as u32,
        data,
    }
}

fn udp(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 42);
    etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut frame, payload)
        .expect("UDP frame");
    frame
}

fn tcp(src: ([u8; 4], u16), dst: ([u8; 4], u16), seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 54);
    let builder = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, seq, 64_000);
    let builder = if syn { builder.syn() } else { builder.ack(1) };
    builder.write(&mut frame, payload).expect("TCP frame");
    frame
}

/// An address in 10.200.0.0/16 for flood source `i`.
fn flood_ip(i: usize) -> [u8; 4] {
    [10, 200, (i >> 8) as u8, i as u8]
}

/// `count` INVITEs with SDP, each a new Call-ID, none ever answered.
pub fn invite_flood(window: Window, count: usize) -> Vec<Record> {
    let mut rng = Rng::new(1);
    (0..count)
        .map(|i| {
            let port = 10_000 + 2 * rng.below(25_000) as u16;
            let sdp = format!(
                "v=0\r\no=- {i} 1 IN IP4 10.200.0.1\r\ns=-\r\nc=IN IP4 10.200.0.1\r\nt=0 0\r\n\
                 m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            );
            let text = format!(
                "INVITE sip:9{i:07}@10.99.0.2 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 10.200.0.1:5060;branch=z9hG4bKflood{i}\r\n\
                 From: <sip:flood{i}@10.200.0.1>;tag=f{i}\r\nTo: <sip:9{i:07}@10.99.0.2>\r\n\
                 Call-ID: flood-{i}@10.200.0.1\r\nCSeq: 1 INVITE\r\n\
                 Contact: <sip:flood@10.200.0.1>\r\nContent-Type: application/sdp\r\n\
                 Content-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            );
            let frame = udp((flood_ip(i), 5060), ([10, 99, 0, 2], 5060), text.as_bytes());
            record(window.at(i, count), frame)
        })
        .collect()
}

/// `count` RTP packets from random addresses to random ports, each a new SSRC.
pub fn rtp_random_ports(window: Window, count: usize) -> Vec<Record> {
    let mut rng = Rng::new(2);
    (0..count)
        .map(|i| {
            let mut rtp = vec![0x80, 0x00];
            rtp.extend_from_slice(&(rng.below(65_536) as u16).to_be_bytes());
            rtp.extend_from_slice(&(rng.next_u64() as u32).to_be_bytes());
            rtp.extend_from_slice(&(rng.next_u64() as u32).to_be_bytes());
            rtp.extend_from_slice(&[0xff; 160]);
            let dst_port = 6000 + rng.below(50_000) as u16;
            let src = (
                flood_ip(rng.below(65_536) as usize),
                1024 + rng.below(60_000) as u16,
            );
            let frame = udp(src, ([10, 99, 0, 3], dst_port), &rtp);
            record(window.at(i, count), frame)
        })
        .collect()
}

/// `count` SIP messages of one datagram each with `headers` headers (jumbo frames: a pcap
/// does not care about the MTU).
pub fn header_bomb(window: Window, count: usize, headers: usize) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let mut text = format!(
                "INVITE sip:bomb@10.99.0.2 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 10.200.9.1;branch=z9hG4bKb{i}\r\n\
                 From: <sip:bomb@10.200.9.1>;tag=b{i}\r\nTo: <sip:bomb@10.99.0.2>\r\n\
                 Call-ID: bomb-{i}\r\nCSeq: 1 INVITE\r\n"
            );
            for h in 0..headers {
                text.push_str(&format!("X-{h}: y\r\n"));
            }
            text.push_str("Content-Length: 0\r\n\r\n");
            let text = &text.as_bytes()[..text.len().min(65_000)];
            let frame = udp(([10, 200, 9, 1], 5060), ([10, 99, 0, 2], 5060), text);
            record(window.at(i, count), frame)
        })
        .collect()
}

/// `connections` SIP-over-TCP connections, each sending an INVITE whose Content-Length says
/// 65536 and then `filler` bytes in 1400-byte segments that never complete it.
pub fn content_length_lie(window: Window, connections: usize, filler: usize) -> Vec<Record> {
    let segments = filler.div_ceil(1400);
    let per = segments + 2;
    let total = connections * per;
    let mut records = Vec::with_capacity(total);
    let chunk = vec![b'a'; 1400];
    let head = |c: usize| {
        format!(
            "INVITE sip:lie@10.99.0.2 SIP/2.0\r\nVia: SIP/2.0/TCP 10.200.0.1;branch=z9hG4bKl{c}\r\n\
             Call-ID: lie-{c}\r\nCSeq: 1 INVITE\r\nContent-Length: 65536\r\n\r\n"
        )
    };
    // Connections interleaved: all open, then each sends a segment in turn.
    for step in 0..per {
        for c in 0..connections {
            let src = (flood_ip(c), 20_000 + (c % 40_000) as u16);
            let dst = ([10, 99, 0, 2], 5060);
            let isn = 1000u32;
            let frame = match step {
                0 => tcp(src, dst, isn, true, &[]),
                1 => tcp(src, dst, isn + 1, false, head(c).as_bytes()),
                n => {
                    let seq = isn + 1 + (head(c).len() + (n - 2) * 1400) as u32;
                    tcp(src, dst, seq, false, &chunk)
                }
            };
            let at = window.at(records.len(), total);
            records.push(record(at, frame));
        }
    }
    records
}

/// A real capture with flood records merged in, in time order.
pub fn merged(real: &Pcap, flood: Vec<Record>) -> Pcap {
    let mut records = real.records.clone();
    records.extend(flood);
    records.sort_by_key(|r| (r.ts_sec, r.ts_usec));
    Pcap {
        header: real.header.clone(),
        records,
    }
}
