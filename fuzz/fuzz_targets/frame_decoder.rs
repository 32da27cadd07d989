//! The whole frame decoder: frames of any link type through L2, tunnels, IP reassembly and
//! SCTP (see `recorder_fuzz::input`), with time passing so fragments time out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_fuzz::input;
use recorder_fuzz::time::{Duration, Timestamp};
use recorder_fuzz::wire::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new();
    let mut now = Timestamp::from_micros(1_700_000_000_000_000);
    let mut payloads = 0u64;
    for frame in input::frames(data) {
        now = now
            + match frame.gap {
                255 => Duration::from_secs(3600),
                gap => Duration::from_millis(10 * i64::from(gap)),
            };
        decoder.decode(
            now,
            input::link_type(frame.link),
            frame.data,
            &mut |payload| {
                payloads += 1;
                assert!(
                    payload.payload.len() <= 256 * 1024,
                    "a payload past every limit"
                );
            },
        );
        decoder.expire(now);
    }
    let _ = (decoder.stats, decoder.frag_stats(), payloads);
});
