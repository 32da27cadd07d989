//! The kernel side of live capture, attached to the mirror interface (XDP, or TC ingress where
//! XDP cannot attach).
//!
//! It reads the Ethernet, 802.1Q/QinQ, IPv4/IPv6 and UDP/TCP headers of each frame and copies
//! to the ring buffer only what userspace needs: SIP (the ports in `SIP_PORTS`), RTP/RTCP to or
//! from an address in `MEDIA` (userspace adds them as soon as it reads them in SDP, and removes
//! them when the call ends), IP fragments (the port is in the first fragment only), and
//! tunnelled mirror traffic (GRE/ERSPAN, VXLAN, IP-in-IP), which userspace unwraps. Everything
//! else stays in the kernel. Nothing past the transport header is parsed here.
//!
//! A full ring buffer is capture loss: counted per CPU in `STATS`, and per media address in
//! `MEDIA`, so userspace can report it for the call it hit.
#![no_std]
#![no_main]
// The bpf target has no 64-bit atomic read-modify-write in `core::sync::atomic`; the
// intrinsic compiles to the BPF atomic add instruction.
#![feature(core_intrinsics)]
#![allow(internal_features)]

use core::ffi::c_void;
use core::intrinsics::{AtomicOrdering, atomic_xadd};

use aya_ebpf::EbpfContext;
use aya_ebpf::bindings::{TC_ACT_OK, TC_ACT_SHOT, xdp_action};
use aya_ebpf::helpers::generated::{
    bpf_ktime_get_ns, bpf_skb_load_bytes, bpf_xdp_get_buff_len, bpf_xdp_load_bytes,
};
use aya_ebpf::macros::{classifier, map, xdp};
use aya_ebpf::maps::{Array, HashMap, PerCpuArray, RingBuf};
use aya_ebpf::programs::{TcContext, XdpContext};
use recorder_common::{
    MAX_MEDIA, MAX_SIP_PORTS, MediaCounters, MediaKey, PacketHeader, SIZE_CLASSES, setting, stat,
};

/// SIP ports (host byte order); the value is unused.
#[map]
static SIP_PORTS: HashMap<u16, u8> = HashMap::with_max_entries(MAX_SIP_PORTS, 0);

/// Media addresses calls announced in SDP, with their counters.
#[map]
static MEDIA: HashMap<MediaKey, MediaCounters> = HashMap::with_max_entries(MAX_MEDIA, 0);

/// Copied frames for userspace. Userspace sets the size at load time.
#[map]
static PACKETS: RingBuf = RingBuf::with_byte_size(16 * 1024 * 1024, 0);

/// Per-CPU counters, indexed by `recorder_common::stat`.
#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(stat::COUNT, 0);

/// Settings, indexed by `recorder_common::setting`.
#[map]
static SETTINGS: Array<u32> = Array::with_max_entries(setting::COUNT, 0);

const ETH_HEADER: usize = 14;
const UDP: u8 = 17;
const TCP: u8 = 6;
const SCTP: u8 = 132;
const GRE: u8 = 47;
const IPIP: u8 = 4;
const IPV6_IN_IP: u8 = 41;
const IPV6_FRAGMENT: u8 = 44;
const VXLAN_PORT: u16 = 4789;

/// Reads packet bytes at an offset, whichever program type we run as.
trait Frame {
    /// Copies `len` bytes at `offset` of the frame to `dst`, through the program type's own
    /// helper; false if the frame is shorter.
    fn load_raw(&self, offset: u32, dst: *mut c_void, len: u32) -> bool;

    /// The frame's length.
    fn len(&self) -> u32;

    /// Copies `N` bytes at `offset` into `buf`; false if the frame is shorter.
    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize, buf: &mut [u8; N]) -> bool {
        self.load_raw(offset as u32, buf.as_mut_ptr() as *mut c_void, N as u32)
    }

    /// Copies `len` bytes from the start of the frame to `dst`.
    #[inline(always)]
    fn copy_to(&self, dst: *mut u8, len: u32) -> bool {
        self.load_raw(0, dst as *mut c_void, len)
    }
}

struct Xdp<'a>(&'a XdpContext);

impl Frame for Xdp<'_> {
    #[inline(always)]
    fn load_raw(&self, offset: u32, dst: *mut c_void, len: u32) -> bool {
        // SAFETY: callers pass a buffer or ring-buffer reservation of at least `len` bytes,
        // and the helper writes at most `len` bytes into it.
        unsafe { bpf_xdp_load_bytes(self.0.ctx, offset, dst, len) == 0 }
    }

    #[inline(always)]
    fn len(&self) -> u32 {
        // SAFETY: reads the context's length, including fragments of multi-buffer frames.
        unsafe { bpf_xdp_get_buff_len(self.0.ctx) as u32 }
    }
}

struct Tc<'a>(&'a TcContext);

impl Frame for Tc<'_> {
    #[inline(always)]
    fn load_raw(&self, offset: u32, dst: *mut c_void, len: u32) -> bool {
        // SAFETY: as for XDP. Called directly because the verifier rejects
        // TcContext::load_bytes' variable length.
        unsafe { bpf_skb_load_bytes(self.0.as_ptr(), offset, dst, len) == 0 }
    }

    #[inline(always)]
    fn len(&self) -> u32 {
        self.0.len()
    }
}

/// Why a frame is copied.
enum Verdict {
    /// Not wanted.
    Skip,
    /// SIP, a fragment or a tunnel.
    Copy,
    /// RTP/RTCP of a call: counters of this address.
    Media(*mut MediaCounters),
}

/// Adds to a counter shared with other CPUs.
///
/// # Safety
/// `counter` must point to a live, aligned `u64` (a map value).
#[inline(always)]
unsafe fn add(counter: *mut u64, value: u64) {
    // SAFETY: the caller's promise.
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(counter, value) };
}

#[inline(always)]
fn count(index: u32) {
    if let Some(counter) = STATS.get_ptr_mut(index) {
        // SAFETY: a per-CPU slot; the atomic add keeps it right under preemption too.
        unsafe { add(counter, 1) };
    }
}

#[inline(always)]
fn setting(index: u32) -> bool {
    SETTINGS.get(index).is_some_and(|v| *v != 0)
}

#[inline(always)]
fn is_sip_port(port: u16) -> bool {
    // SAFETY: a lookup; the value is not read.
    unsafe { SIP_PORTS.get(&port).is_some() }
}

#[inline(always)]
fn media(addr: &[u8; 16], port: u16, family: u16) -> Option<*mut MediaCounters> {
    let key = MediaKey {
        addr: *addr,
        port,
        family,
    };
    MEDIA.get_ptr_mut(&key)
}

/// Decides from the headers whether a frame goes to userspace.
#[inline(always)]
fn classify<F: Frame>(frame: &F) -> Verdict {
    if setting(setting::COPY_ALL) {
        return Verdict::Copy;
    }

    let mut eth = [0u8; ETH_HEADER];
    if !frame.load(0, &mut eth) {
        return Verdict::Skip;
    }
    let mut ethertype = u16::from_be_bytes([eth[12], eth[13]]);
    let mut l3 = ETH_HEADER;

    // Up to two VLAN tags (802.1Q, QinQ). TC sees the outer one already stripped.
    for _ in 0..2 {
        if ethertype != 0x8100 && ethertype != 0x88a8 && ethertype != 0x9100 {
            break;
        }
        let mut tag = [0u8; 4];
        if !frame.load(l3, &mut tag) {
            return Verdict::Skip;
        }
        ethertype = u16::from_be_bytes([tag[2], tag[3]]);
        l3 += 4;
    }

    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    let (protocol, l4, family) = match ethertype {
        0x0800 => {
            let mut ip = [0u8; 20];
            if !frame.load(l3, &mut ip) {
                return Verdict::Skip;
            }
            // Any fragment: the ports are in the first one only; userspace reassembles.
            let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
            if fragment != 0 {
                return Verdict::Copy;
            }
            src[..4].copy_from_slice(&ip[12..16]);
            dst[..4].copy_from_slice(&ip[16..20]);
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            (ip[9], l3 + ihl, 4u16)
        }
        0x86dd => {
            let mut ip = [0u8; 40];
            if !frame.load(l3, &mut ip) {
                return Verdict::Skip;
            }
            src.copy_from_slice(&ip[8..24]);
            dst.copy_from_slice(&ip[24..40]);
            match ip[6] {
                // Fragments and extension headers are rare on voice traffic: let userspace look.
                IPV6_FRAGMENT | 0 | 43 | 60 => return Verdict::Copy,
                next => (next, l3 + 40, 6u16),
            }
        }
        // MPLS and PPPoE sessions: rare on mirror ports, decoded in userspace.
        0x8847 | 0x8848 | 0x8864 => return Verdict::Copy,
        _ => return Verdict::Skip,
    };

    match protocol {
        UDP | TCP | SCTP => {}
        GRE | IPIP | IPV6_IN_IP => return Verdict::Copy,
        _ => return Verdict::Skip,
    }
    let mut ports = [0u8; 4];
    if !frame.load(l4, &mut ports) {
        return Verdict::Skip;
    }
    let sport = u16::from_be_bytes([ports[0], ports[1]]);
    let dport = u16::from_be_bytes([ports[2], ports[3]]);
    if is_sip_port(sport) || is_sip_port(dport) {
        return Verdict::Copy;
    }
    if protocol != UDP {
        return Verdict::Skip;
    }
    if dport == VXLAN_PORT {
        return Verdict::Copy;
    }
    if let Some(counters) = media(&dst, dport, family) {
        return Verdict::Media(counters);
    }
    if let Some(counters) = media(&src, sport, family) {
        return Verdict::Media(counters);
    }
    Verdict::Skip
}

/// Copies the frame into a ring-buffer record of the smallest size class that holds it.
#[inline(always)]
fn copy<F: Frame>(frame: &F) -> bool {
    let len = frame.len();
    macro_rules! try_class {
        ($size:expr) => {
            if len <= $size || $size == SIZE_CLASSES[SIZE_CLASSES.len() - 1] {
                return copy_class::<F, { $size as usize }>(frame, len);
            }
        };
    }
    try_class!(SIZE_CLASSES[0]);
    try_class!(SIZE_CLASSES[1]);
    try_class!(SIZE_CLASSES[2]);
    try_class!(SIZE_CLASSES[3]);
    try_class!(SIZE_CLASSES[4]);
    false
}

#[repr(C)]
struct Record<const N: usize> {
    header: PacketHeader,
    data: [u8; N],
}

#[inline(always)]
fn copy_class<F: Frame, const N: usize>(frame: &F, len: u32) -> bool {
    let Some(mut entry) = PACKETS.reserve::<Record<N>>(0) else {
        return false;
    };
    // The verifier needs a length it can prove is within 1..=N, checked on the very register
    // passed to the helper. The volatile read stops LLVM from folding the checks into what it
    // knows about `len` (it then drops the zero check, and the verifier rejects the copy).
    let clamped = if len > N as u32 { N as u32 } else { len };
    // SAFETY: reads a local.
    let caplen = unsafe { core::ptr::read_volatile(&clamped) };
    if caplen == 0 || caplen > N as u32 {
        entry.discard(0);
        return true;
    }
    let record = entry.as_mut_ptr();
    // SAFETY: `record` is the reservation, valid until submit or discard.
    unsafe {
        (*record).header = PacketHeader {
            timestamp_ns: bpf_ktime_get_ns(),
            len,
            caplen,
        };
        if !frame.copy_to((*record).data.as_mut_ptr(), caplen) {
            entry.discard(0);
            return true;
        }
    }
    entry.submit(0);
    true
}

/// Inspects one frame; returns whether the caller should drop it.
#[inline(always)]
fn inspect<F: Frame>(frame: &F) -> bool {
    count(stat::SEEN);
    let verdict = classify(frame);
    let counters = match verdict {
        Verdict::Skip => return setting(setting::DROP),
        Verdict::Copy => None,
        Verdict::Media(counters) => Some(counters),
    };
    if copy(frame) {
        count(stat::COPIED);
        if let Some(counters) = counters {
            count(stat::MEDIA);
            // SAFETY: a map value pointer, valid for this program run.
            unsafe { add(&raw mut (*counters).copied, 1) };
        }
    } else {
        count(stat::LOST);
        if let Some(counters) = counters {
            // SAFETY: a map value pointer, valid for this program run.
            unsafe { add(&raw mut (*counters).lost, 1) };
        }
    }
    setting(setting::DROP)
}

/// The XDP entry point.
#[xdp]
pub fn capture_xdp(ctx: XdpContext) -> u32 {
    if inspect(&Xdp(&ctx)) {
        xdp_action::XDP_DROP
    } else {
        xdp_action::XDP_PASS
    }
}

/// The TC ingress entry point, for interfaces where XDP cannot attach.
#[classifier]
pub fn capture_tc(ctx: TcContext) -> i32 {
    if inspect(&Tc(&ctx)) {
        TC_ACT_SHOT as i32
    } else {
        TC_ACT_OK as i32
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
