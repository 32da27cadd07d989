//! Classic pcap files, read and written record by record, for deriving test captures from the
//! bundled real ones (drop frames, rewrite bytes of the same length). Only what the tests need:
//! microsecond pcap, little-endian.

use std::path::Path;

/// One record: its header fields and bytes.
#[derive(Clone, Debug)]
pub struct Record {
    /// Seconds.
    pub ts_sec: u32,
    /// Microseconds.
    pub ts_usec: u32,
    /// Original length on the wire.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// A classic pcap file in memory.
#[derive(Clone, Debug)]
pub struct Pcap {
    /// The 24-byte global header.
    pub header: Vec<u8>,
    /// The records, in order (frame N is `records[N - 1]`).
    pub records: Vec<Record>,
}

impl Pcap {
    /// Reads a little-endian microsecond pcap.
    pub fn read(path: &Path) -> Pcap {
        let bytes = std::fs::read(path).expect("read pcap");
        assert_eq!(
            &bytes[..4],
            &[0xd4, 0xc3, 0xb2, 0xa1],
            "only little-endian µs pcap"
        );
        let header = bytes[..24].to_vec();
        let mut records = Vec::new();
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let field =
                |i: usize| u32::from_le_bytes(bytes[at + i..at + i + 4].try_into().unwrap());
            let (ts_sec, ts_usec, caplen, orig_len) = (field(0), field(4), field(8), field(12));
            let data = bytes[at + 16..at + 16 + caplen as usize].to_vec();
            records.push(Record {
                ts_sec,
                ts_usec,
                orig_len,
                data,
            });
            at += 16 + caplen as usize;
        }
        Pcap { header, records }
    }

    /// An Ethernet pcap of `frames`, in order, one microsecond apart from second 1.
    pub fn ethernet(frames: impl IntoIterator<Item = Vec<u8>>) -> Pcap {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
        header.extend_from_slice(&[0; 8]);
        header.extend_from_slice(&65_535u32.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        let records = frames
            .into_iter()
            .enumerate()
            .map(|(i, data)| Record {
                ts_sec: 1 + (i / 1_000_000) as u32,
                ts_usec: (i % 1_000_000) as u32,
                orig_len: data.len() as u32,
                data,
            })
            .collect();
        Pcap { header, records }
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) {
        let mut out = self.header.clone();
        for r in &self.records {
            out.extend_from_slice(&r.ts_sec.to_le_bytes());
            out.extend_from_slice(&r.ts_usec.to_le_bytes());
            out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&r.orig_len.to_le_bytes());
            out.extend_from_slice(&r.data);
        }
        std::fs::write(path, out).expect("write pcap");
    }

    /// Replaces `from` by `to` (same length) in frame `frame` (1-based), and clears the UDP
    /// checksum of an Ethernet/IPv4/UDP frame so the frame stays valid.
    pub fn replace_in_frame(&mut self, frame: usize, from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len(), "same-length rewrites only");
        let data = &mut self.records[frame - 1].data;
        let at = data
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("frame {frame} has no {:?}", String::from_utf8_lossy(from)));
        data[at..at + to.len()].copy_from_slice(to);
        let ihl = usize::from(data[14] & 0x0f) * 4;
        data[14 + ihl + 6] = 0;
        data[14 + ihl + 7] = 0;
    }

    /// The capture's traffic `copies` times in a row, each copy `spacing_s` seconds after the
    /// one before, with the Call-ID `call_id` rewritten in each (same length: the copy number
    /// in decimal, zero-padded), so each copy is a call of its own. Ethernet/IPv4/UDP frames.
    pub fn repeated(&self, copies: u32, spacing_s: u32, call_id: &str) -> Pcap {
        let from = call_id.as_bytes();
        let mut records = Vec::new();
        for copy in 0..copies {
            let to = format!("{copy:0width$}", width = from.len());
            assert_eq!(
                to.len(),
                from.len(),
                "Call-ID too short for {copies} copies"
            );
            for record in &self.records {
                let mut record = record.clone();
                record.ts_sec += copy * spacing_s;
                let mut changed = false;
                while let Some(at) = record.data.windows(from.len()).position(|w| w == from) {
                    record.data[at..at + from.len()].copy_from_slice(to.as_bytes());
                    changed = true;
                }
                if changed {
                    let ihl = usize::from(record.data[14] & 0x0f) * 4;
                    record.data[14 + ihl + 6] = 0;
                    record.data[14 + ihl + 7] = 0;
                }
                records.push(record);
            }
        }
        Pcap {
            header: self.header.clone(),
            records,
        }
    }

    /// Keeps only the frames for which `keep(frame_number, record)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(usize, &Record) -> bool) {
        let records = std::mem::take(&mut self.records);
        self.records = records
            .into_iter()
            .enumerate()
            .filter(|(i, r)| keep(i + 1, r))
            .map(|(_, r)| r)
            .collect();
    }
}
