//! SIP messages: `Message::parse` and every accessor the correlator uses, then the SDP body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_fuzz::wire::sip::{self, HeaderName, Message, NameAddr};
use recorder_fuzz::wire::{Sdp, sip::looks_like_sip};

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_sip(data);
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let _ = (
        msg.start_line(),
        msg.method(),
        msg.status(),
        msg.is_request(),
    );
    let _ = (
        msg.start_text(),
        msg.request_uri(),
        sip::uri_user(msg.request_uri()),
    );
    let _ = (msg.call_id(), msg.cseq(), msg.top_via_branch());
    let _ = (
        msg.content_length(),
        msg.content_type(),
        msg.is_truncated(),
        msg.has_sdp(),
    );
    for party in [msg.from(), msg.to()].into_iter().flatten() {
        let _ = (party.user(), party.tag, party.display, party.uri);
    }
    for name in [
        HeaderName::PAssertedIdentity,
        HeaderName::UserAgent,
        HeaderName::CSeq,
    ] {
        if let Some(value) = msg.header(name) {
            let _ = NameAddr::parse(value).user();
            let _ = sip::param(value, "tag");
        }
    }
    let _ = msg.headers(HeaderName::Via).count();
    let _ = msg.header_by_name("Record");
    for (name, value) in msg.all_headers() {
        let _ = (name.len(), value.len());
    }
    if let Some(sdp) = Sdp::parse(msg.body()) {
        for media in &sdp.media {
            let _ = (sdp.media_address(media), media.is_rtp());
        }
    }
});
