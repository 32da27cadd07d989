//! IP fragment reassembly: fragments of up to four datagrams, interleaved (see
//! `recorder_fuzz::input`), in a small table so eviction runs too; then a time-out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_fuzz::input;
use recorder_fuzz::time::{Duration, Timestamp};
use recorder_fuzz::wire::frag::{Defragmenter, FragmentKey};

fuzz_target!(|data: &[u8]| {
    let mut table = Defragmenter::new(2, Duration::from_secs(30));
    let mut now = Timestamp::from_micros(1_700_000_000_000_000);
    for fragment in input::fragments(data) {
        now = now + Duration::from_millis(1);
        let (src, dst) = if fragment.flags & 8 == 0 {
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
        } else {
            ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap())
        };
        let key = FragmentKey {
            src,
            dst,
            id: u32::from((fragment.flags >> 1) & 3),
            protocol: 17,
        };
        let offset = usize::from(fragment.offset) * 8;
        let more = fragment.flags & 1 != 0;
        if let Some(whole) = table.insert(now, key, offset, more, fragment.payload) {
            assert!(whole.len() <= 65_535, "a datagram past the IP limit");
            table.recycle(whole);
        }
    }
    table.expire(now + Duration::from_secs(60));
    assert!(table.is_empty(), "partial datagrams survive their time-out");
    assert_eq!(table.held_bytes(), 0, "the byte count drifted");
});
