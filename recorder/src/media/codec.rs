//! Codecs by name, and decoders from RTP payload to 16-bit PCM.

use super::g711;

/// A payload's codec, from its SDP encoding name (RFC 3551, RFC 4733, RFC 3389).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (wideband, 16 kHz audio on an 8 kHz RTP clock).
    G722,
    /// G.729 / G.729A.
    G729,
    /// Opus (RFC 7587).
    Opus,
    /// RFC 4733 telephone events (DTMF).
    TelephoneEvent,
    /// RFC 3389 comfort noise.
    ComfortNoise,
    /// A named codec this build cannot decode (e.g. BV32, iLBC).
    Unsupported,
    /// A payload type no SDP described.
    Unknown,
}

impl Codec {
    /// Maps an SDP encoding name (case-insensitive) to a codec.
    pub fn from_encoding(name: &str, clock_rate: u32) -> Codec {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("PCMU") {
            Codec::Pcmu
        } else if is("PCMA") {
            Codec::Pcma
        } else if is("G722") {
            Codec::G722
        } else if is("G729") || is("G729A") {
            Codec::G729
        } else if is("opus") && clock_rate == 48_000 {
            Codec::Opus
        } else if is("telephone-event") {
            Codec::TelephoneEvent
        } else if is("CN") {
            Codec::ComfortNoise
        } else {
            Codec::Unsupported
        }
    }

    /// Whether this build turns the codec into audio.
    pub fn is_decodable(self) -> bool {
        matches!(self, Codec::Pcmu | Codec::Pcma)
    }

    /// Whether the codec carries voice (as opposed to events or noise descriptions).
    pub fn is_voice(self) -> bool {
        !matches!(
            self,
            Codec::TelephoneEvent | Codec::ComfortNoise | Codec::Unknown
        )
    }

    /// The codec's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::G729 => "G729",
            Codec::Opus => "opus",
            Codec::TelephoneEvent => "telephone-event",
            Codec::ComfortNoise => "CN",
            Codec::Unsupported => "unsupported",
            Codec::Unknown => "unknown",
        }
    }
}

/// Decodes one payload to 8 kHz PCM, appending to `out`. Returns false for codecs this build
/// cannot decode (the caller notes it once per call).
pub fn decode_8k(codec: Codec, payload: &[u8], out: &mut Vec<i16>) -> bool {
    match codec {
        Codec::Pcmu => {
            out.extend(payload.iter().map(|&b| g711::ulaw_to_linear(b)));
            true
        }
        Codec::Pcma => {
            out.extend(payload.iter().map(|&b| g711::alaw_to_linear(b)));
            true
        }
        // TODO(#5): G.722, G.729 and Opus decoding; their calls are journaled with the reason.
        _ => false,
    }
}
