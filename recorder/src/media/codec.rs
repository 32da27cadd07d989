//! Codecs by name, and decoders from RTP payload to 16-bit PCM.

use audio_codec::g722::G722Decoder;

use super::g711;
use super::g729::G729Decoder;

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
        matches!(
            self,
            Codec::Pcmu | Codec::Pcma | Codec::G722 | Codec::G729 | Codec::Opus
        )
    }

    /// Whether the codec carries voice (as opposed to events or noise descriptions).
    pub fn is_voice(self) -> bool {
        !matches!(
            self,
            Codec::TelephoneEvent | Codec::ComfortNoise | Codec::Unknown
        )
    }

    /// Whether the codec carries more than telephone bandwidth (recorded at 16 kHz).
    pub fn is_wideband(self) -> bool {
        matches!(self, Codec::G722 | Codec::Opus)
    }

    /// The RTP clock rate the codec's timestamps count in.
    pub fn rtp_clock(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            // G.722 counts at 8 kHz although it samples at 16 kHz (RFC 3551 section 4.5.2).
            _ => 8000,
        }
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

/// One stream's decoder, producing PCM at [`AudioDecoder::rate`].
pub enum AudioDecoder {
    /// G.711 µ-law, stateless.
    Pcmu,
    /// G.711 A-law, stateless.
    Pcma,
    /// G.722 at 64 kbit/s, 16 kHz out.
    G722(Box<G722Decoder>),
    /// G.729 via bcg729, 8 kHz out.
    G729(G729Decoder),
    /// Opus via libopus, decoding mono straight to the recording's rate.
    Opus(opus::Decoder, u32),
}

impl AudioDecoder {
    /// A decoder for `codec`; Opus decodes at `rate` (the recording's). `None` when this build
    /// cannot decode the codec.
    pub fn new(codec: Codec, rate: u32) -> Option<AudioDecoder> {
        match codec {
            Codec::Pcmu => Some(AudioDecoder::Pcmu),
            Codec::Pcma => Some(AudioDecoder::Pcma),
            Codec::G722 => Some(AudioDecoder::G722(Box::new(G722Decoder::new()))),
            Codec::G729 => G729Decoder::new().map(AudioDecoder::G729),
            Codec::Opus => opus::Decoder::new(rate, opus::Channels::Mono)
                .ok()
                .map(|d| AudioDecoder::Opus(d, rate)),
            _ => None,
        }
    }

    /// The sample rate of the decoded PCM.
    pub fn rate(&self) -> u32 {
        match self {
            AudioDecoder::Pcmu | AudioDecoder::Pcma | AudioDecoder::G729(_) => 8000,
            AudioDecoder::G722(_) => 16_000,
            AudioDecoder::Opus(_, rate) => *rate,
        }
    }

    /// Decodes one payload, appending to `out`.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        match self {
            AudioDecoder::Pcmu => out.extend(payload.iter().map(|&b| g711::ulaw_to_linear(b))),
            AudioDecoder::Pcma => out.extend(payload.iter().map(|&b| g711::alaw_to_linear(b))),
            AudioDecoder::G722(decoder) => {
                let start = out.len();
                out.resize(start + payload.len() * 2, 0);
                let written = decoder
                    .decode_frame_into(payload, &mut out[start..])
                    .unwrap_or(0);
                out.truncate(start + written);
            }
            AudioDecoder::G729(decoder) => decoder.decode(payload, out),
            AudioDecoder::Opus(decoder, rate) => {
                // At most 120 ms per packet (RFC 6716).
                let start = out.len();
                out.resize(start + *rate as usize * 120 / 1000, 0);
                let written = decoder
                    .decode(payload, &mut out[start..], false)
                    .unwrap_or(0);
                out.truncate(start + written);
            }
        }
    }
}

/// Converts PCM between 8 and 16 kHz in place (halving by averaging pairs, doubling by linear
/// interpolation); other ratios are left as they are.
pub fn resample(pcm: &mut Vec<i16>, from: u32, to: u32) {
    if from == to || pcm.is_empty() {
        return;
    }
    if from == 2 * to {
        let half: Vec<i16> = pcm
            .chunks(2)
            .map(|p| ((i32::from(p[0]) + i32::from(*p.last().unwrap())) / 2) as i16)
            .collect();
        *pcm = half;
    } else if to == 2 * from {
        let mut double = Vec::with_capacity(pcm.len() * 2);
        for (i, &s) in pcm.iter().enumerate() {
            let next = pcm.get(i + 1).copied().unwrap_or(s);
            double.push(s);
            double.push(((i32::from(s) + i32::from(next)) / 2) as i16);
        }
        *pcm = double;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_between_8_and_16_khz() {
        let mut pcm = vec![0, 100, 200, 300];
        resample(&mut pcm, 8000, 16_000);
        assert_eq!(pcm, vec![0, 50, 100, 150, 200, 250, 300, 300]);
        resample(&mut pcm, 16_000, 8000);
        assert_eq!(pcm, vec![25, 125, 225, 300]);
    }

    #[test]
    fn g722_doubles_the_samples() {
        let mut decoder = AudioDecoder::new(Codec::G722, 16_000).unwrap();
        let mut out = Vec::new();
        decoder.decode(&[0x5a; 160], &mut out);
        assert_eq!(out.len(), 320);
        assert_eq!(decoder.rate(), 16_000);
    }

    #[test]
    fn opus_round_trip_at_the_recording_rate() {
        let mut encoder =
            opus::Encoder::new(16_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let tone: Vec<i16> = (0..320)
            .map(|i| ((i as f64 * 0.3).sin() * 6000.0) as i16)
            .collect();
        let packet = encoder.encode_vec(&tone, 400).unwrap();
        let mut decoder = AudioDecoder::new(Codec::Opus, 16_000).unwrap();
        let mut out = Vec::new();
        decoder.decode(&packet, &mut out);
        assert_eq!(out.len(), 320);
    }
}
