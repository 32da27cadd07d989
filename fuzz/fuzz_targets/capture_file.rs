//! The capture-file reader: the input written to a file and read through libpcap (pcap and
//! pcapng), frame by frame, as `recorder import` does.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use recorder_fuzz::capture::FileSource;

/// One file per fuzzing process, rewritten for each input.
fn scratch() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("recorder-fuzz-capture-{}.pcap", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write the scratch capture");
    let Ok(mut source) = FileSource::open(path) else {
        return;
    };
    let size = source.size();
    let mut frames = 0u64;
    while let Ok(Some(frame)) = source.next_frame() {
        frames += 1;
        assert!(
            frame.data.len() as u64 <= size,
            "a frame larger than the file"
        );
    }
    assert_eq!(frames, source.packets());
});
