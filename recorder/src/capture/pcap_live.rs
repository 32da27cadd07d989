//! Live capture with libpcap, for hosts where the eBPF program cannot load. It copies every
//! frame to userspace (no kernel-side media filter), so it costs more CPU than eBPF; the
//! pipeline filters the same way. Capture loss is what libpcap reports as dropped.

use std::os::fd::AsRawFd;
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
            .map_err(|e| fail(e.to_string()))?
            // Non-blocking, with our own wait: with immediate mode, libpcap's read time-out
            // did not expire on an idle interface, so `run` never ticked (no status, no
            // time-outs) until a frame came.
            .setnonblock()
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
        timeout: Duration,
        handle: &mut dyn FnMut(Frame<'_>),
    ) -> Result<usize, CaptureError> {
        // Read what is there; if nothing is, wait up to `timeout` for the socket once.
        let mut handled = 0;
        let mut waited = false;
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
                Err(pcap::Error::TimeoutExpired) if handled == 0 && !waited => {
                    waited = true;
                    wait_readable(self.capture.as_raw_fd(), timeout);
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

/// Waits until `fd` is readable or `timeout` passes.
fn wait_readable(fd: std::os::fd::RawFd, timeout: Duration) {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe {
        libc::poll(&mut pollfd, 1, ms);
    }
}
