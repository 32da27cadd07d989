//! RTP and RTCP views over one UDP payload, as the correlator tries them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_fuzz::wire::rtp::{self, TelephoneEvent};
use recorder_fuzz::wire::{RtpPacket, rtcp};

fuzz_target!(|data: &[u8]| {
    let _ = rtp::is_rtcp_type(data);
    let _ = rtcp::Header::parse(data);
    if let Ok(packet) = RtpPacket::new_checked(data) {
        let _ = (packet.marker(), packet.payload_type(), packet.sequence());
        let _ = (packet.timestamp(), packet.ssrc());
        if let Ok(event) = TelephoneEvent::parse(packet.payload()) {
            let _ = event.digit();
        }
    }
    if let Ok(event) = TelephoneEvent::parse(data) {
        let _ = event.digit();
    }
});
