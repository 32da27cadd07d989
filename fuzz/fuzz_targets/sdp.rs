//! SDP bodies: `Sdp::parse`, then what the correlator reads from each media section.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_fuzz::wire::Sdp;

fuzz_target!(|data: &[u8]| {
    let Some(sdp) = Sdp::parse(data) else {
        return;
    };
    for media in &sdp.media {
        let _ = (sdp.media_address(media), media.is_rtp());
        for &pt in &media.payload_types {
            let _ = media.encoding(pt);
        }
    }
});
