//! Seeds the fuzz corpus from the bundled real captures (`tests/fixtures/captures`):
//!
//! - `capture_file`: small captures whole, the first 16 KiB of bigger ones;
//! - `frame_decoder`: runs of consecutive frames with their link type and timing;
//! - `sip`, `sdp`, `rtp_rtcp`: SIP messages (TCP ones cut by the reassembler), their SDP
//!   bodies, and RTP/RTCP payloads;
//! - `tcp_reassembly`: the segments of each TCP connection, in both directions;
//! - `frag_reassembly`: SIP messages cut into IP fragments, in and out of order.
//!
//! Usage: `seed_corpus CAPTURES_DIR CORPUS_DIR`. Seeds are named by a hash of their bytes,
//! so running it again adds nothing twice.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use recorder_fuzz::capture::FileSource;
use recorder_fuzz::input;
use recorder_fuzz::time::Timestamp;
use recorder_fuzz::wire::sip::looks_like_sip;
use recorder_fuzz::wire::tcp::TcpReassembler;
use recorder_fuzz::wire::{Decoder, RtpPacket, Sdp, Transport};

/// Most seeds of one kind taken from one capture.
const PER_FILE: usize = 40;

/// Frames in one `frame_decoder` seed.
const RUN: usize = 6;

struct Corpus {
    root: PathBuf,
    written: HashMap<&'static str, usize>,
}

impl Corpus {
    fn add(&mut self, target: &'static str, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut hasher = DefaultHasher::new();
        data.hash(&mut hasher);
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus folder");
        let path = dir.join(format!("seed-{:016x}", hasher.finish()));
        if !path.exists() {
            std::fs::write(&path, data).expect("write seed");
            *self.written.entry(target).or_default() += 1;
        }
    }
}

#[derive(Default)]
struct FileSeeds {
    sip: Vec<Vec<u8>>,
    rtp: Vec<Vec<u8>>,
    tcp: HashMap<(SocketAddr, SocketAddr), Vec<u8>>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [captures, corpus] = args.as_slice() else {
        eprintln!("usage: seed_corpus CAPTURES_DIR CORPUS_DIR");
        std::process::exit(2);
    };
    let mut corpus = Corpus {
        root: PathBuf::from(corpus),
        written: HashMap::new(),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(captures)
        .expect("read the captures folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    for path in &files {
        seed_file(&mut corpus, path);
    }
    let mut written: Vec<_> = corpus.written.into_iter().collect();
    written.sort();
    for (target, n) in written {
        println!("{target}: {n} new seeds");
    }
}

fn seed_file(corpus: &mut Corpus, path: &Path) {
    let bytes = std::fs::read(path).expect("read capture");
    corpus.add("capture_file", &bytes[..bytes.len().min(16 * 1024)]);

    let Ok(mut source) = FileSource::open(path) else {
        eprintln!("{}: not readable, skipped", path.display());
        return;
    };
    let mut decoder = Decoder::new();
    let mut tcp = TcpReassembler::default();
    let mut seeds = FileSeeds::default();
    let mut frames: Vec<(u8, Timestamp, Vec<u8>)> = Vec::new();
    while let Ok(Some(frame)) = source.next_frame() {
        frames.push((
            input::link_number(frame.link),
            frame.at,
            frame.data.to_vec(),
        ));
        decoder.decode(frame.at, frame.link, frame.data, &mut |p| {
            match p.transport {
                Transport::Udp | Transport::Sctp if looks_like_sip(p.payload) => {
                    seeds.sip.push(p.payload.to_vec());
                }
                Transport::Udp => {
                    if seeds.rtp.len() < PER_FILE && RtpPacket::new_checked(p.payload).is_ok() {
                        seeds.rtp.push(p.payload.to_vec());
                    }
                }
                Transport::Sctp => {}
                Transport::Tcp(info) => {
                    // Both directions of a connection go into one seed, keyed by its ends.
                    let (key, flip) = if p.src < p.dst {
                        ((p.src, p.dst), 0)
                    } else {
                        ((p.dst, p.src), 8)
                    };
                    let flags = flip
                        | u8::from(info.syn)
                        | (u8::from(info.fin) << 1)
                        | (u8::from(info.rst) << 2);
                    let seed = seeds.tcp.entry(key).or_default();
                    if seed.len() < 32 * 1024 {
                        input::put_segment(seed, flags, info.seq, p.payload);
                    }
                    tcp.push(frame.at, p.src, p.dst, info, p.payload, &mut |m| {
                        seeds.sip.push(m.to_vec());
                    });
                }
            }
        });
    }

    // Runs of consecutive frames, spread over the capture.
    let step = (frames.len() / PER_FILE).max(RUN);
    for start in (0..frames.len()).step_by(step) {
        let mut seed = Vec::new();
        let mut last = frames[start].1;
        for (link, at, data) in frames.iter().skip(start).take(RUN) {
            let gap = (at.as_micros() - last.as_micros()).clamp(0, 2_540_000) / 10_000;
            input::put_frame(&mut seed, *link, gap as u8, data);
            last = *at;
        }
        corpus.add("frame_decoder", &seed);
    }

    let mut seen = HashSet::new();
    seeds.sip.retain(|m| seen.insert(m.clone()));
    for message in seeds.sip.iter().take(PER_FILE) {
        corpus.add("sip", message);
        add_fragments(corpus, message);
        if let Some(body) = sdp_body(message) {
            corpus.add("sdp", body);
        }
    }
    for payload in &seeds.rtp {
        corpus.add("rtp_rtcp", payload);
    }
    for seed in seeds.tcp.values().take(PER_FILE) {
        corpus.add("tcp_reassembly", seed);
    }
}

/// The SDP body of a SIP message, if it has one.
fn sdp_body(message: &[u8]) -> Option<&[u8]> {
    let at = message.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body = &message[at..];
    Sdp::parse(body).map(|_| body)
}

/// A datagram cut into fragments of 8-byte multiples: once in order, once last-first.
fn add_fragments(corpus: &mut Corpus, datagram: &[u8]) {
    let size = (datagram.len() / 3).max(8) / 8 * 8;
    let pieces: Vec<(u16, bool, &[u8])> = datagram
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let more = (i + 1) * size < datagram.len();
            ((i * size / 8) as u16, more, chunk)
        })
        .collect();
    let mut in_order = Vec::new();
    let mut reversed = Vec::new();
    for (offset, more, chunk) in &pieces {
        input::put_fragment(&mut in_order, u8::from(*more), *offset, chunk);
    }
    for (offset, more, chunk) in pieces.iter().rev() {
        input::put_fragment(&mut reversed, u8::from(*more) | 2, *offset, chunk);
    }
    corpus.add("frag_reassembly", &in_order);
    corpus.add("frag_reassembly", &reversed);
}
