//! Live capture with libpcap, for hosts where the eBPF program cannot load. It copies every
//! frame to userspace (no kernel-side media filter), so it costs more CPU than eBPF; the
//! pipeline filters the same way. Capture loss is what libpcap reports as dropped.

use std::time::Duration;

use super::live::{LiveSource, LiveStats, MediaFilter};
use super::{CaptureError, Frame};
use crate::time::Timestamp;
use crate::wire::LinkType;

/// The libpcap live source.
pub struct PcapSource {
    capture: pcap::Capture<pcap::Active>,
    link: LinkType,
    iface: String,
    delivered: u64,
}

impl PcapSource {
    /// Opens the interface in promiscuous mode with a 32 MiB kernel buffer.
    pub fn open(iface: &str) -> Result<PcapSource, CaptureError> {
        let fail = |reason: String| CaptureError::Live {
            iface: iface.to_string(),
            reason,
        };
        let capture = pcap::Capture::from_device(iface)
            .map_err(|e| fail(e.to_string()))?
            .promisc(true)
            .snaplen(65_535)
            .immediate_mode(true)
            .buffer_size(32 * 1024 * 1024)
            .timeout(100)
            .open()
            .map_err(|e| fail(e.to_string()))?;
        let linktype = capture.get_datalink();
        let link = LinkType::from_pcap(linktype.0)
            .ok_or_else(|| fail(format!("link type {} is not supported", linktype.0)))?;
        tracing::info!(iface, "libpcap capture opened");
        Ok(PcapSource {
            capture,
            link,
            iface: iface.to_string(),
            delivered: 0,
        })
    }
}

impl LiveSource for PcapSource {
    fn describe(&self) -> String {
        format!("libpcap on {}", self.iface)
    }

    fn poll(
        &mut self,
        _timeout: Duration,
        handle: &mut dyn FnMut(Frame<'_>),
    ) -> Result<usize, CaptureError> {
        // The capture was opened with a 100 ms read time-out; read until it expires.
        let mut handled = 0;
        loop {
            match self.capture.next_packet() {
                Ok(packet) => {
                    let ts = packet.header.ts;
                    let at = Timestamp::from_secs_micros(ts.tv_sec, ts.tv_usec);
                    handle(Frame {
                        at,
                        link: self.link,
                        data: packet.data,
                    });
                    handled += 1;
                    if handled >= 10_000 {
                        break;
                    }
                }
                Err(pcap::Error::TimeoutExpired) => break,
                Err(err) => {
                    return Err(CaptureError::Live {
                        iface: self.iface.clone(),
                        reason: err.to_string(),
                    });
                }
            }
        }
        self.delivered += handled as u64;
        Ok(handled)
    }

    fn stats(&mut self) -> LiveStats {
        let (received, dropped) = match self.capture.stats() {
            Ok(s) => (
                u64::from(s.received),
                u64::from(s.dropped) + u64::from(s.if_dropped),
            ),
            Err(_) => (self.delivered, 0),
        };
        LiveStats {
            seen: received,
            delivered: self.delivered,
            capture_lost: dropped,
        }
    }

    fn take_media_filter(&mut self) -> Option<Box<dyn MediaFilter>> {
        None
    }
}
