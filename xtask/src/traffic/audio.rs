//! Speech-like audio for the generated calls, synthesized here (no recordings, no network).
//!
//! A bank of syllables is built once per capture: a glottal pulse train at a speaking pitch
//! through three vowel formant resonators, a third of them with a fricative (filtered noise)
//! onset, under an attack/decay envelope, over low background noise. Each call gets a
//! [`Conversation`]: the parties take turns with talkspurts of a few syllables and pauses,
//! and the listener now and then answers with one short syllable, so each channel carries
//! speech for about 40% of the call. The bank is kept G.711-encoded, so a packet's payload
//! is a copy: the generator must write millions of packets in seconds.

use super::rng::Rng;

/// Samples per second (G.711).
pub const RATE: u32 = 8000;

/// Samples in one 20 ms packet.
pub const PACKET_SAMPLES: usize = 160;

/// Syllables in the bank.
const BANK_SIZE: usize = 64;

/// Formants (F1, F2, F3 in Hz) of a few vowels of an adult speaker.
const VOWELS: [[f64; 3]; 7] = [
    [730.0, 1090.0, 2440.0],
    [270.0, 2290.0, 3010.0],
    [300.0, 870.0, 2240.0],
    [530.0, 1840.0, 2480.0],
    [660.0, 1720.0, 2410.0],
    [440.0, 1020.0, 2240.0],
    [490.0, 1350.0, 1690.0],
];

/// A G.711 companding law.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// µ-law (PCMU, RTP payload type 0).
    Mu,
    /// A-law (PCMA, RTP payload type 8).
    A,
}

impl Law {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// The SDP encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Law::Mu => "PCMU",
            Law::A => "PCMA",
        }
    }

    /// Compresses one linear sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => linear_to_ulaw(sample),
            Law::A => linear_to_alaw(sample),
        }
    }

    /// Expands one byte to a linear sample.
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Mu => ulaw_to_linear(byte),
            Law::A => alaw_to_linear(byte),
        }
    }
}

/// ITU-T G.711 µ-law compression (the classic segment search).
fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// ITU-T G.711 A-law compression.
fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3;
    let mask = if s >= 0 {
        0xd5
    } else {
        s = -s - 1;
        0x55
    };
    let segment = (0..8).find(|&seg| s < (0x20 << seg)).unwrap_or(8);
    if segment >= 8 {
        return (0x7f ^ mask) as u8;
    }
    let shift = if segment < 2 { 1 } else { segment };
    (((segment << 4) | ((s >> shift) & 0x0f)) ^ mask) as u8
}

fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = i32::from((a >> 4) & 0x07);
    let mantissa = i32::from(a & 0x0f);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// A two-pole resonator (a formant): `y = g*x + b1*y1 + b2*y2`.
struct Resonator {
    gain: f64,
    b1: f64,
    b2: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn new(freq: f64, bandwidth: f64) -> Resonator {
        let rate = f64::from(RATE);
        let r = (-std::f64::consts::PI * bandwidth / rate).exp();
        Resonator {
            gain: 1.0 - r,
            b1: 2.0 * r * (2.0 * std::f64::consts::PI * freq / rate).cos(),
            b2: -r * r,
            y1: 0.0,
            y2: 0.0,
        }
    }

    fn step(&mut self, x: f64) -> f64 {
        let y = self.gain * x + self.b1 * self.y1 + self.b2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// A raised-cosine fade: 0 at `i == 0`, 1 at `i >= len`.
fn fade(i: usize, len: usize) -> f64 {
    if i >= len {
        1.0
    } else {
        0.5 - 0.5 * (std::f64::consts::PI * i as f64 / len as f64).cos()
    }
}

/// One syllable, linear PCM at [`RATE`].
fn syllable(rng: &mut Rng) -> Vec<i16> {
    let ms = |x: f64| (x * f64::from(RATE) / 1000.0) as usize;
    let voiced_len = ms(rng.range(90.0, 260.0));
    let fricative_len = if rng.chance(0.35) {
        ms(rng.range(40.0, 90.0))
    } else {
        0
    };
    let mut out = Vec::with_capacity(fricative_len + voiced_len);

    // The fricative: white noise through a broad resonance high in the band.
    let mut hiss = Resonator::new(rng.range(2500.0, 3500.0), 900.0);
    for i in 0..fricative_len {
        let env = fade(i, ms(15.0)) * fade(fricative_len - i, ms(15.0));
        out.push(hiss.step(rng.range(-1.0, 1.0)) * env * 0.6);
    }

    // The vowel: a pulse train whose pitch falls a little, through three formants.
    let vowel = VOWELS[rng.below(VOWELS.len() as u64) as usize];
    let mut formants: Vec<Resonator> = vowel
        .iter()
        .zip([80.0, 110.0, 160.0])
        .map(|(&f, bw)| Resonator::new(f * rng.range(0.92, 1.08), bw))
        .collect();
    let weights = [1.0, 0.55, 0.25];
    let f0 = rng.range(95.0, 230.0);
    let fall = rng.range(0.8, 1.05);
    let mut phase = 1.0;
    for i in 0..voiced_len {
        let pitch = f0 * (1.0 + (fall - 1.0) * i as f64 / voiced_len as f64);
        phase += pitch / f64::from(RATE);
        let pulse = if phase >= 1.0 {
            phase -= 1.0;
            1.0
        } else {
            0.0
        };
        let voiced: f64 = formants
            .iter_mut()
            .zip(weights)
            .map(|(f, w)| f.step(pulse) * w)
            .sum();
        let env = fade(i, ms(25.0)) * fade(voiced_len - i, ms(60.0));
        out.push(voiced * env);
    }

    // Normalize to a speaking level between -24 and -8 dBFS (peak).
    let peak = out.iter().fold(1e-9f64, |m, x| m.max(x.abs()));
    let level = 10f64.powf(rng.range(-24.0, -8.0) / 20.0) * 32_767.0;
    out.iter()
        .map(|x| (x / peak * level + rng.range(-24.0, 24.0)) as i16)
        .collect()
}

/// The syllables and background noise of a capture, linear and G.711-encoded.
pub struct Bank {
    syllables: [Vec<Vec<u8>>; 2],
    noise: [Vec<u8>; 2],
}

impl Bank {
    /// Synthesizes the bank from a seed.
    pub fn new(seed: u64) -> Bank {
        let mut rng = Rng::new(seed ^ 0x5151_ab1e);
        let linear: Vec<Vec<i16>> = (0..BANK_SIZE).map(|_| syllable(&mut rng)).collect();
        // Room noise: a second of low, slightly low-passed noise (about -55 dBFS).
        let mut last = 0.0;
        let noise: Vec<i16> = (0..RATE)
            .map(|_| {
                last = 0.7 * last + 0.3 * rng.range(-80.0, 80.0);
                last as i16
            })
            .collect();
        let encode = |law: Law, pcm: &[i16]| pcm.iter().map(|&s| law.encode(s)).collect();
        Bank {
            syllables: [Law::Mu, Law::A].map(|law| linear.iter().map(|s| encode(law, s)).collect()),
            noise: [Law::Mu, Law::A].map(|law| encode(law, &noise)),
        }
    }

    fn law_index(law: Law) -> usize {
        match law {
            Law::Mu => 0,
            Law::A => 1,
        }
    }

    fn len(&self, syllable: u16) -> u32 {
        self.syllables[0][usize::from(syllable)].len() as u32
    }

    /// Fills `out` with a party's encoded audio from sample `first` on.
    pub fn fill(&self, law: Law, script: &Script, first: u64, out: &mut [u8]) {
        let l = Bank::law_index(law);
        let noise = &self.noise[l];
        let start = (first + script.noise_offset) as usize % noise.len();
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = noise[(start + i) % noise.len()];
        }
        // Syllables of one party never overlap and are at least a packet apart, so at most
        // the last two starting before the end of this packet can reach into it.
        let end = first + out.len() as u64;
        let upto = script.items.partition_point(|&(at, _)| u64::from(at) < end);
        for &(at, syllable) in &script.items[upto.saturating_sub(2)..upto] {
            let samples = &self.syllables[l][usize::from(syllable)];
            let (at, stop) = (u64::from(at), u64::from(at) + samples.len() as u64);
            let (from, to) = (at.max(first), stop.min(end));
            if from < to {
                let src = &samples[(from - at) as usize..(to - at) as usize];
                out[(from - first) as usize..(to - first) as usize].copy_from_slice(src);
            }
        }
    }
}

/// One party's speech: syllables (bank indexes) at sample positions, in order.
#[derive(Clone, Debug, Default)]
pub struct Script {
    items: Vec<(u32, u16)>,
    noise_offset: u64,
}

impl Script {
    /// Samples of this party that carry a syllable, up to `end`.
    pub fn speech_samples(&self, bank: &Bank, end: u32) -> u64 {
        self.items
            .iter()
            .map(|&(at, s)| u64::from((at + bank.len(s)).min(end).saturating_sub(at)))
            .sum()
    }
}

/// Both parties' speech in one call ([0] caller, [1] callee).
#[derive(Clone, Debug, Default)]
pub struct Conversation {
    /// Per party.
    pub parties: [Script; 2],
}

impl Conversation {
    /// A conversation of `samples` samples: turns of talkspurts and pauses. The callee
    /// speaks first, as when a call is answered.
    pub fn new(bank: &Bank, rng: &mut Rng, samples: u32) -> Conversation {
        let ms = |x: f64| (x * f64::from(RATE) / 1000.0) as u32;
        let mut parties = [Script::default(), Script::default()];
        for script in &mut parties {
            script.noise_offset = rng.below(u64::from(RATE));
        }
        let mut speaker = 1;
        let mut at = ms(rng.range(100.0, 500.0));
        while at < samples {
            let syllables = 2 + rng.below(9);
            let spurt_start = at;
            for _ in 0..syllables {
                let syllable = rng.below(BANK_SIZE as u64) as u16;
                parties[speaker].items.push((at, syllable));
                at += bank.len(syllable) + ms(rng.range(25.0, 120.0));
            }
            // A short answer from the listener ("mhm") in the middle of a long talkspurt.
            if syllables >= 6 && rng.chance(0.3) {
                let syllable = rng.below(BANK_SIZE as u64) as u16;
                parties[1 - speaker]
                    .items
                    .push((spurt_start + (at - spurt_start) / 2, syllable));
            }
            at += ms(rng.range(250.0, 1200.0));
            if rng.chance(0.75) {
                speaker = 1 - speaker;
            }
        }
        Conversation { parties }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_round_trips_every_code() {
        for law in [Law::Mu, Law::A] {
            for byte in 0..=255u8 {
                let linear = law.decode(byte);
                // µ-law has two zeros (0x7f, 0xff); the encoder picks 0xff.
                if law == Law::Mu && linear == 0 {
                    continue;
                }
                assert_eq!(law.encode(linear), byte, "{law:?} {byte:#04x} -> {linear}");
            }
        }
        assert_eq!(Law::Mu.encode(0), 0xff);
        assert_eq!(Law::A.encode(0), 0xd5);
    }

    #[test]
    fn a_conversation_is_speech_about_half_the_time() {
        let bank = Bank::new(1);
        let mut rng = Rng::new(2);
        let samples = 60 * RATE;
        let talk = Conversation::new(&bank, &mut rng, samples);
        for script in &talk.parties {
            let share = script.speech_samples(&bank, samples) as f64 / f64::from(samples);
            assert!((0.2..0.7).contains(&share), "speech share {share}");
            // Never overlapping within a party.
            for pair in script.items.windows(2) {
                assert!(
                    pair[0].0 + bank.len(pair[0].1) + 160 <= pair[1].0,
                    "{pair:?}"
                );
            }
        }
        // A packet in the middle of a syllable is louder than room noise.
        let (at, _) = talk.parties[1].items[0];
        let mut out = [0u8; PACKET_SAMPLES];
        bank.fill(Law::Mu, &talk.parties[1], u64::from(at) + 400, &mut out);
        let peak = out.iter().map(|&b| Law::Mu.decode(b).unsigned_abs()).max();
        assert!(peak.unwrap() > 500, "{peak:?}");
    }
}
