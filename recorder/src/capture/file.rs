//! Capture files through libpcap (the `pcap` crate): pcap and pcapng, any link type the
//! wire decoder knows.

use std::path::Path;

use super::{CaptureError, Frame};
use crate::time::Timestamp;
use crate::wire::LinkType;

/// Bytes of a classic pcap record header; used to estimate progress through the file.
const RECORD_OVERHEAD: u64 = 16;

/// A capture file being read.
pub struct FileSource {
    capture: pcap::Capture<pcap::Offline>,
    link: LinkType,
    path: String,
    size: u64,
    consumed: u64,
    packets: u64,
}

impl FileSource {
    /// Opens a capture file and checks its link type.
    pub fn open(path: &Path) -> Result<FileSource, CaptureError> {
        let display = path.display().to_string();
        let metadata = std::fs::metadata(path).map_err(|e| CaptureError::Open {
            path: display.clone(),
            reason: e.to_string(),
        })?;
        if !metadata.is_file() {
            let reason = "not a regular file".to_string();
            return Err(CaptureError::Open {
                path: display,
                reason,
            });
        }
        let capture = pcap::Capture::from_file(path).map_err(|e| CaptureError::NotACapture {
            path: display.clone(),
            reason: e.to_string(),
        })?;
        let linktype = capture.get_datalink();
        let link =
            LinkType::from_pcap(linktype.0).ok_or_else(|| CaptureError::UnsupportedLink {
                path: display.clone(),
                linktype: linktype.0,
                name: linktype.get_name().unwrap_or_else(|_| "unknown".into()),
            })?;
        Ok(FileSource {
            capture,
            link,
            path: display,
            size: metadata.len(),
            consumed: 24,
            packets: 0,
        })
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// About how many bytes of the file have been read.
    pub fn position(&self) -> u64 {
        self.consumed.min(self.size)
    }

    /// Frames read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The next frame; `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.capture.next_packet() {
            Ok(packet) => {
                self.packets += 1;
                self.consumed += RECORD_OVERHEAD + u64::from(packet.header.caplen);
                let ts = packet.header.ts;
                let at = Timestamp::from_secs_micros(ts.tv_sec, ts.tv_usec);
                Ok(Some(Frame {
                    at,
                    link: self.link,
                    data: packet.data,
                }))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(err) => Err(CaptureError::Damaged {
                path: self.path.clone(),
                packets: self.packets,
                reason: err.to_string(),
            }),
        }
    }
}
