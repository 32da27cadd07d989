//! TCP reassembly: a sequence of segments in both directions of one connection (see
//! `recorder_fuzz::input`), each completed message parsed as SIP, then an idle time-out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_fuzz::input;
use recorder_fuzz::time::{Duration, Timestamp};
use recorder_fuzz::wire::packet::TcpSegmentInfo;
use recorder_fuzz::wire::sip::Message;
use recorder_fuzz::wire::tcp::{TcpReassembler, looks_like_websocket_upgrade};

fuzz_target!(|data: &[u8]| {
    let a: std::net::SocketAddr = "10.0.0.1:5060".parse().unwrap();
    let b: std::net::SocketAddr = "10.0.0.2:40000".parse().unwrap();
    // A small table, so eviction runs too.
    let mut tcp = TcpReassembler::with_budget(4, 64 * 1024, Duration::from_secs(60));
    let mut now = Timestamp::from_micros(1_700_000_000_000_000);
    for segment in input::segments(data) {
        now = now + Duration::from_millis(20);
        let (src, dst) = if segment.flags & 8 == 0 {
            (a, b)
        } else {
            (b, a)
        };
        // Bit 4 moves the client port, so several streams share the table.
        let src = if segment.flags & 16 == 0 {
            src
        } else {
            std::net::SocketAddr::new(src.ip(), src.port().wrapping_add(u16::from(segment.flags)))
        };
        let info = TcpSegmentInfo {
            seq: segment.seq,
            syn: segment.flags & 1 != 0,
            fin: segment.flags & 2 != 0,
            rst: segment.flags & 4 != 0,
        };
        let _ = looks_like_websocket_upgrade(segment.payload);
        tcp.push(now, src, dst, info, segment.payload, &mut |message| {
            let _ = Message::parse(message);
        });
        assert!(tcp.held_bytes() <= 64 * 1024, "past the byte budget");
    }
    tcp.expire(now + Duration::from_secs(3600));
    assert!(tcp.is_empty(), "streams survive their idle time-out");
    assert_eq!(tcp.held_bytes(), 0, "the byte count drifted");
});
