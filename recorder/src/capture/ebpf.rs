//! Live capture with the eBPF program in `recorder-ebpf`: attached with XDP where the driver
//! allows it (native, else generic), on TC ingress otherwise. Frames come through a ring
//! buffer; the media filter is a kernel hash map the pipeline keeps up to date.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use aya::maps::{Array, HashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{SchedClassifier, TcAttachType, Xdp, XdpMode, tc};
use aya::{Ebpf, EbpfLoader};
use recorder_common::{MediaCounters, MediaKey, PacketHeader, setting, stat};

use super::live::{LiveSource, LiveStats, MediaFilter, MonotonicClock, media_key};
use super::{CaptureError, Frame};
use crate::wire::LinkType;

/// The kernel object built by build.rs.
static PROGRAM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/recorder-ebpf.o"));

/// Options of the eBPF source.
#[derive(Clone, Debug)]
pub struct EbpfOptions {
    /// The interface to attach to.
    pub iface: String,
    /// SIP ports to copy.
    pub sip_ports: Vec<u16>,
    /// Ring buffer size in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// Drop every frame after inspection (a dedicated mirror interface).
    pub drop_after_capture: bool,
    /// Skip XDP and attach to TC ingress.
    pub force_tc: bool,
}

/// How the program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// XDP in the driver.
    XdpNative,
    /// XDP in the generic (skb) path.
    XdpGeneric,
    /// A TC ingress classifier.
    TcIngress,
}

/// The eBPF live source.
pub struct EbpfSource {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    stats: PerCpuArray<MapData, u64>,
    media: Option<HashMap<MapData, MediaKey, MediaCounters>>,
    attachment: Attachment,
    iface: String,
    clock: MonotonicClock,
    delivered: u64,
}

impl EbpfSource {
    /// Loads the program, fills its settings and attaches it to the interface.
    pub fn open(options: &EbpfOptions) -> Result<EbpfSource, CaptureError> {
        let fail = |what: &str, err: &dyn std::fmt::Display| CaptureError::Live {
            iface: options.iface.clone(),
            reason: format!("{what}: {err}"),
        };
        if PROGRAM.is_empty() {
            return Err(fail(
                "eBPF",
                &"this build has no eBPF program (RECORDER_SKIP_EBPF)",
            ));
        }
        // Programs and maps count against RLIMIT_MEMLOCK on older kernels.
        raise_memlock_limit();

        let mut ebpf = EbpfLoader::new()
            .map_max_entries("PACKETS", options.ring_bytes)
            .load(PROGRAM)
            .map_err(|e| fail("loading the eBPF program", &e))?;

        let map = ebpf
            .map_mut("SIP_PORTS")
            .ok_or_else(|| fail("map", &"SIP_PORTS missing"))?;
        let mut ports: HashMap<_, u16, u8> =
            HashMap::try_from(map).map_err(|e| fail("SIP_PORTS", &e))?;
        for port in &options.sip_ports {
            ports
                .insert(port, &1, 0)
                .map_err(|e| fail("SIP_PORTS", &e))?;
        }
        let map = ebpf
            .map_mut("SETTINGS")
            .ok_or_else(|| fail("map", &"SETTINGS missing"))?;
        let mut settings: Array<_, u32> = Array::try_from(map).map_err(|e| fail("SETTINGS", &e))?;
        settings
            .set(setting::DROP, &u32::from(options.drop_after_capture), 0)
            .map_err(|e| fail("SETTINGS", &e))?;

        let attachment = attach(&mut ebpf, options).map_err(|e| fail("attaching", &e))?;

        let ring = ebpf
            .take_map("PACKETS")
            .ok_or_else(|| fail("map", &"PACKETS missing"))?;
        let ring = RingBuf::try_from(ring).map_err(|e| fail("PACKETS", &e))?;
        let stats = ebpf
            .take_map("STATS")
            .ok_or_else(|| fail("map", &"STATS missing"))?;
        let stats = PerCpuArray::try_from(stats).map_err(|e| fail("STATS", &e))?;
        let media = ebpf
            .take_map("MEDIA")
            .ok_or_else(|| fail("map", &"MEDIA missing"))?;
        let media = HashMap::try_from(media).map_err(|e| fail("MEDIA", &e))?;

        tracing::info!(iface = %options.iface, attachment = ?attachment, "eBPF capture attached");
        Ok(EbpfSource {
            ebpf,
            ring,
            stats,
            media: Some(media),
            attachment,
            iface: options.iface.clone(),
            clock: MonotonicClock::new(),
            delivered: 0,
        })
    }

    /// How the program is attached.
    pub fn attachment(&self) -> Attachment {
        self.attachment
    }

    fn counter(&self, index: u32) -> u64 {
        self.stats
            .get(&index, 0)
            .map(|values| values.iter().sum())
            .unwrap_or(0)
    }
}

fn attach(ebpf: &mut Ebpf, options: &EbpfOptions) -> Result<Attachment, String> {
    let iface = std::ffi::CString::new(options.iface.as_str())
        .map_err(|_| "interface name contains a NUL byte".to_string())?;
    let iface = iface.as_c_str();
    if !options.force_tc {
        let program: &mut Xdp = ebpf
            .program_mut("capture_xdp")
            .ok_or("program capture_xdp missing")?
            .try_into()
            .map_err(|e| format!("{e}"))?;
        program
            .load()
            .map_err(|e| format!("loading XDP program: {e}"))?;
        match program.attach(iface, XdpMode::Driver) {
            Ok(_) => return Ok(Attachment::XdpNative),
            Err(err) => tracing::debug!(%err, "native XDP not available"),
        }
        match program.attach(iface, XdpMode::Skb) {
            Ok(_) => return Ok(Attachment::XdpGeneric),
            Err(err) => {
                tracing::warn!(%err, iface = %options.iface, "XDP unavailable, trying TC ingress")
            }
        }
    }
    // TC needs the clsact qdisc; it may already be there.
    if let Err(err) = tc::qdisc_add_clsact(iface) {
        tracing::debug!(%err, "clsact qdisc not added (may exist already)");
    }
    let program: &mut SchedClassifier = ebpf
        .program_mut("capture_tc")
        .ok_or("program capture_tc missing")?
        .try_into()
        .map_err(|e| format!("{e}"))?;
    program
        .load()
        .map_err(|e| format!("loading TC program: {e}"))?;
    program
        .attach(iface, TcAttachType::Ingress)
        .map_err(|e| format!("attaching TC ingress: {e}"))?;
    Ok(Attachment::TcIngress)
}

fn raise_memlock_limit() {
    let limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) } != 0 {
        tracing::debug!("could not raise RLIMIT_MEMLOCK");
    }
}

impl LiveSource for EbpfSource {
    fn describe(&self) -> String {
        let how = match self.attachment {
            Attachment::XdpNative => "eBPF XDP (native)",
            Attachment::XdpGeneric => "eBPF XDP (generic)",
            Attachment::TcIngress => "eBPF TC ingress",
        };
        format!("{how} on {}", self.iface)
    }

    fn poll(
        &mut self,
        timeout: Duration,
        handle: &mut dyn FnMut(Frame<'_>),
    ) -> Result<usize, CaptureError> {
        let mut handled = 0;
        // Drain first: poll(2) only wakes for data arriving after it sleeps.
        handled += self.drain(handle);
        if handled > 0 {
            return Ok(handled);
        }
        let mut fd = libc::pollfd {
            fd: self.ring.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut fd, 1, millis) };
        if ready < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(CaptureError::Live {
                    iface: self.iface.clone(),
                    reason: err.to_string(),
                });
            }
        }
        handled += self.drain(handle);
        Ok(handled)
    }

    fn stats(&mut self) -> LiveStats {
        LiveStats {
            seen: self.counter(stat::SEEN),
            delivered: self.delivered,
            capture_lost: self.counter(stat::LOST),
        }
    }

    fn take_media_filter(&mut self) -> Option<Box<dyn MediaFilter>> {
        let map = self.media.take()?;
        Some(Box::new(KernelMediaFilter { map }))
    }
}

impl EbpfSource {
    fn drain(&mut self, handle: &mut dyn FnMut(Frame<'_>)) -> usize {
        let header_len = std::mem::size_of::<PacketHeader>();
        let mut handled = 0;
        while let Some(item) = self.ring.next() {
            let bytes: &[u8] = &item;
            if bytes.len() < header_len {
                continue;
            }
            // SAFETY: the record starts with a PacketHeader written by the kernel program;
            // read_unaligned copes with any alignment.
            let header: PacketHeader =
                unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<PacketHeader>()) };
            let end = (header_len + header.caplen as usize).min(bytes.len());
            let frame = Frame {
                at: self.clock.to_timestamp(header.timestamp_ns),
                link: LinkType::Ethernet,
                data: &bytes[header_len..end],
            };
            handle(frame);
            handled += 1;
        }
        self.delivered += handled as u64;
        handled
    }
}

impl Drop for EbpfSource {
    fn drop(&mut self) {
        tracing::info!(iface = %self.iface, "eBPF capture detached");
        let _ = &self.ebpf;
    }
}

/// The kernel's media map, kept up to date by the pipeline.
struct KernelMediaFilter {
    map: HashMap<MapData, MediaKey, MediaCounters>,
}

impl MediaFilter for KernelMediaFilter {
    fn add(&mut self, addr: SocketAddr) {
        let key = media_key(addr);
        if let Err(err) = self.map.insert(&key, &MediaCounters::default(), 0) {
            tracing::warn!(%addr, %err, "media address not added to the kernel filter");
        }
    }

    fn remove(&mut self, addr: SocketAddr) -> u64 {
        let key = media_key(addr);
        let lost = self.map.get(&key, 0).map(|c| c.lost).unwrap_or(0);
        let _ = self.map.remove(&key);
        lost
    }
}
