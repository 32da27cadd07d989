//! Re-encodes the G.711 µ-law RTP of a capture as Opus (RFC 7587: payload type 111, 48 kHz
//! timestamps) and rewrites the SDP to offer and answer `opus/48000/2`, so the same call can
//! be recorded from Opus and compared with Wireshark's decode of the original G.711.

use std::collections::HashMap;

use crate::pcap_edit::{Pcap, Record};
use crate::rewrite::Udp;

/// The dynamic payload type used for Opus.
const OPUS_PT: u8 = 111;

/// The capture with PCMU turned into Opus.
pub fn to_opus(pcap: &Pcap) -> Pcap {
    let mut encoders: HashMap<u32, opus::Encoder> = HashMap::new();
    let records = pcap
        .records
        .iter()
        .map(|record| {
            let Some(mut udp) = Udp::parse(&record.data) else {
                return record.clone();
            };
            if udp.is_sip() {
                udp.payload = rewrite_sdp(&udp.payload);
            } else if udp.payload.len() >= 12
                && udp.payload[0] >> 6 == 2
                && udp.payload[1] & 0x7f == 0
            {
                udp.payload = transcode(&udp.payload, &mut encoders);
            } else {
                return record.clone();
            }
            let data = udp.build();
            Record {
                orig_len: data.len() as u32,
                data,
                ..record.clone()
            }
        })
        .collect();
    Pcap {
        header: pcap.header.clone(),
        records,
    }
}

fn transcode(packet: &[u8], encoders: &mut HashMap<u32, opus::Encoder>) -> Vec<u8> {
    let ssrc = u32::from_be_bytes(packet[8..12].try_into().unwrap());
    let encoder = encoders.entry(ssrc).or_insert_with(|| {
        opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip).expect("encoder")
    });
    let pcm: Vec<i16> = packet[12..].iter().map(|&b| ulaw(b)).collect();
    let opus = encoder.encode_vec(&pcm, 1000).expect("encode");
    let timestamp = u32::from_be_bytes(packet[4..8].try_into().unwrap()).wrapping_mul(6);
    let mut out = packet[..12].to_vec();
    out[1] = (packet[1] & 0x80) | OPUS_PT;
    out[4..8].copy_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&opus);
    out
}

fn rewrite_sdp(message: &[u8]) -> Vec<u8> {
    edit_sdp(message, |body| {
        body.replace(" RTP/AVP 0", &format!(" RTP/AVP {OPUS_PT}"))
            .replace(
                "a=rtpmap:0 PCMU/8000",
                &format!("a=rtpmap:{OPUS_PT} opus/48000/2"),
            )
    })
}

/// Applies `edit` to the SDP body of a SIP message and fixes its Content-Length.
pub fn edit_sdp(message: &[u8], edit: impl FnOnce(&str) -> String) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return message.to_vec();
    };
    if !body.starts_with("v=0") {
        return message.to_vec();
    }
    let body = edit(body);
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

/// G.711 µ-law expansion (ITU-T G.711), to feed the encoder.
fn ulaw(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}
