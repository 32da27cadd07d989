//! The deterministic call capture generator behind `cargo xtask gen`, also used by the
//! benchmarks and the end-to-end tests.
//!
//! It writes a classic pcap (Ethernet, IPv4, UDP) of `calls` calls that overlap in time: call
//! starts are spread evenly over a ramp shorter than the calls, so all of them are up at once
//! for most of the capture. Each call is a SIP dialog (INVITE with SDP, 100, 180, 200 with
//! SDP, ACK, optional `Record: on` / `Record: off` INFO pairs with their 200 OKs, BYE, 200)
//! and G.711 RTP both ways at 20 ms carrying synthesized speech ([`audio`]). Loss, jitter and
//! reordering are applied per RTP packet; the first packet of each stream is always on time,
//! so every stream's start is unambiguous.
//!
//! Everything is drawn from the seed by keyed hashing ([`rng`]), so the same options give a
//! byte-identical file. Frames are written in capture-time order, ties broken by call and
//! packet, in windows of one second: memory stays bounded by the calls up at once, not by the
//! length of the capture.
//!
//! [`generate`] also returns what a correct recorder must find: per call, the packets of each
//! stream, the loss it can see, and the packets of each record-button segment.

pub mod audio;
pub mod frame;
pub mod plan;
pub mod rng;
pub mod sip;

use std::io::{self, Write};
use std::net::SocketAddrV4;

use audio::{Bank, Conversation, PACKET_SAMPLES};
use frame::{DSCP_SIGNALLING, DSCP_VOICE, PcapWriter, udp_frame};
use plan::{AGENTS, CallPlan, PACKET_US, Step};
use rng::{Rng, key, unit};

/// The capture starts at 2026-12-04 09:00:00 UTC (µs since the epoch).
pub const EPOCH_US: i64 = 1_796_374_800_000_000;

/// How much capture time is generated at once, µs.
const WINDOW_US: i64 = 1_000_000;

/// Event codes below this are SIP steps; from it on, RTP packets (`k * 2 + end`).
const RTP_BASE: u32 = 64;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Calls in the capture, all up at once in its middle.
    pub calls: u32,
    /// Seconds of conversation per call (answer to BYE).
    pub duration: f64,
    /// Seconds over which the call starts are spread; `None`: a quarter of `duration`.
    pub ramp: Option<f64>,
    /// Share of RTP packets lost (never sent), 0 to 1.
    pub loss: f64,
    /// Largest extra delay of an RTP packet, ms (uniform between 0 and this).
    pub jitter_ms: f64,
    /// Share of RTP packets held back behind the next one, 0 to 1.
    pub reorder: f64,
    /// Share of calls where the agent presses the record button (one or two INFO pairs).
    pub record_share: f64,
    /// The seed; the same options give the same bytes.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            calls: 100,
            duration: 30.0,
            ramp: None,
            loss: 0.0,
            jitter_ms: 0.0,
            reorder: 0.0,
            record_share: 0.2,
            seed: 1,
        }
    }
}

impl Options {
    /// Checks the ranges; the message names the offending option.
    pub fn validate(&self) -> Result<(), String> {
        let share = |name: &str, x: f64| {
            if (0.0..=1.0).contains(&x) {
                Ok(())
            } else {
                Err(format!("--{name} must be between 0 and 1, not {x}"))
            }
        };
        share("loss", self.loss)?;
        share("reorder", self.reorder)?;
        share("record-share", self.record_share)?;
        if self.calls == 0 || self.calls > 1_000_000 {
            return Err(format!("--calls must be 1 to 1000000, not {}", self.calls));
        }
        if !(1.0..=86_400.0).contains(&self.duration) {
            return Err(format!(
                "--duration must be 1 to 86400 s, not {}",
                self.duration
            ));
        }
        if !(0.0..=1000.0).contains(&self.jitter_ms) {
            return Err(format!(
                "--jitter-ms must be 0 to 1000, not {}",
                self.jitter_ms
            ));
        }
        if let Some(ramp) = self.ramp
            && !(0.0..=86_400.0).contains(&ramp)
        {
            return Err(format!("--ramp must be 0 to 86400 s, not {ramp}"));
        }
        Ok(())
    }

    fn ramp_us(&self) -> i64 {
        (self.ramp.unwrap_or(self.duration / 4.0) * 1e6) as i64
    }

    /// When call `index` sends its INVITE, µs since the epoch: evenly spread over the ramp,
    /// with a random offset inside each call's share of it.
    fn start_of(&self, index: u32) -> i64 {
        let spacing = self.ramp_us() as f64 / f64::from(self.calls);
        let offset = unit(key(&[self.seed, u64::from(index), 0x57a7])) * spacing;
        EPOCH_US + (f64::from(index) * spacing + offset) as i64
    }

    /// The largest delay an RTP packet can get (jitter and reordering), µs.
    fn max_delay_us(&self) -> i64 {
        let jitter = (self.jitter_ms * 1000.0) as i64;
        if self.reorder > 0.0 {
            2 * jitter + PACKET_US + 1_000
        } else {
            jitter
        }
    }
}

/// One RTP stream as a correct recorder sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamSummary {
    /// Packets sent (lost ones included).
    pub sent: u64,
    /// Packets in the capture.
    pub received: u64,
    /// Packets lost between the first and the last received (what RFC 3550 loss counts).
    pub lost: u64,
    /// Packets captured before the BYE: what a recording of the whole call holds (jitter can
    /// carry the last ones past it).
    pub before_bye: u64,
}

/// One call as a correct recorder sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct CallSummary {
    /// The SIP Call-ID.
    pub call_id: String,
    /// The caller's number.
    pub caller: String,
    /// The callee's number.
    pub callee: String,
    /// `PCMU` or `PCMA`.
    pub codec: &'static str,
    /// Seconds from the answer to the BYE.
    pub talk_seconds: f64,
    /// The caller's voice ([0]) and the callee's ([1]).
    pub streams: [StreamSummary; 2],
    /// Per accepted `Record: on`/`off` pair: RTP packets of the caller's and the callee's
    /// voice between the two 200 OKs, in capture order.
    pub segments: Vec<[u64; 2]>,
}

/// What was generated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Frames written.
    pub frames: u64,
    /// File size.
    pub bytes: u64,
    /// SIP messages among the frames.
    pub sip_messages: u64,
    /// RTP packets among the frames.
    pub rtp_packets: u64,
    /// Capture time of the first frame, µs since the epoch.
    pub first_at: i64,
    /// Capture time of the last frame.
    pub last_at: i64,
    /// The most calls up at once (INVITE to the BYE's 200 OK).
    pub max_concurrent: u32,
    /// Per call, in order of their INVITEs.
    pub calls: Vec<CallSummary>,
}

impl Summary {
    /// Seconds of conversation over all calls (answer to BYE), the audio a recorder that
    /// records every call encodes (per channel).
    pub fn talk_seconds(&self) -> f64 {
        self.calls.iter().map(|c| c.talk_seconds).sum()
    }
}

/// A recorder configuration for generated captures: the given default mode, and the agents
/// (extensions 2000 to 2099) allowed to press the record button.
pub fn recorder_config(default_mode: &str) -> String {
    let mut text = format!("[policy]\ndefault = \"{default_mode}\"\n");
    for agent in 0..AGENTS {
        text.push_str(&format!(
            "\n[[users]]\nextension = \"{}\"\nmay_record = true\n",
            2000 + agent
        ));
    }
    text
}

/// Per call, what the writer tracks to fill in the summary.
#[derive(Default)]
struct Tally {
    recording: bool,
    ended: bool,
    segments: Vec<[u64; 2]>,
    received: [u64; 2],
    before_bye: [u64; 2],
    last_k: [u32; 2],
}

/// An event to write: a SIP step or an RTP packet of a call, at its capture time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: i64,
    call: u32,
    what: u32,
}

/// Writes the capture to `out`; returns what a recorder must find in it, and the sink.
pub fn generate<W: Write>(options: &Options, out: W) -> io::Result<(Summary, W)> {
    options.validate().map_err(io::Error::other)?;
    let bank = Bank::new(options.seed);
    let plans: Vec<CallPlan> = (0..options.calls)
        .map(|i| CallPlan::new(options, i, options.start_of(i)))
        .collect();
    let talks: Vec<Conversation> = plans
        .iter()
        .map(|p| conversation(options, &bank, p))
        .collect();
    let mut tallies: Vec<Tally> = plans.iter().map(|_| Tally::default()).collect();
    let max_delay = options.max_delay_us();

    let mut pcap = PcapWriter::new(out)?;
    let mut summary = Summary {
        first_at: plans[0].steps[0].0,
        max_concurrent: max_concurrent(&plans),
        ..Summary::default()
    };
    let mut pending: Vec<Event> = Vec::new();
    let mut writer = EventWriter {
        bank: &bank,
        frame: Vec::with_capacity(1600),
        text: String::with_capacity(1500),
        payload: [0; 12 + PACKET_SAMPLES],
    };
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut window = EPOCH_US;
    while lo < plans.len() || !pending.is_empty() {
        let end = window + WINDOW_US;
        while hi < plans.len() && plans[hi].steps[0].0 < end {
            hi += 1;
        }
        while lo < hi && plans[lo].last_at() + max_delay < window {
            lo += 1;
        }
        for plan in &plans[lo..hi] {
            events_in(options, plan, window, end, &mut pending);
        }
        pending.sort_unstable();
        // Nothing generated later is due before `end`: later events are due at or after
        // `end`, and delays are never negative.
        let due = pending.partition_point(|e| e.at < end);
        for event in pending.drain(..due) {
            let i = event.call as usize;
            writer.write(&mut pcap, event, &plans[i], &talks[i], &mut tallies[i])?;
            summary.last_at = event.at;
            if event.what < RTP_BASE {
                summary.sip_messages += 1;
            } else {
                summary.rtp_packets += 1;
            }
        }
        window = end;
    }

    summary.frames = pcap.records;
    summary.bytes = pcap.bytes;
    summary.calls = plans
        .iter()
        .zip(&tallies)
        .map(|(plan, tally)| call_summary(plan, tally))
        .collect();
    Ok((summary, pcap.finish()?))
}

fn conversation(options: &Options, bank: &Bank, plan: &CallPlan) -> Conversation {
    let mut rng = Rng::new(key(&[options.seed, u64::from(plan.index), 0x7a1c]));
    Conversation::new(bank, &mut rng, plan.talk_samples())
}

/// Adds the events of `plan` due in `[from, to)` (before delays) to `out`.
fn events_in(options: &Options, plan: &CallPlan, from: i64, to: i64, out: &mut Vec<Event>) {
    let call = plan.index;
    for (n, &(at, _)) in plan.steps.iter().enumerate() {
        if (from..to).contains(&at) {
            out.push(Event {
                at,
                call,
                what: n as u32,
            });
        }
    }
    for (end, e) in plan.ends.iter().enumerate() {
        let first = ((from - e.media_start).max(0) + PACKET_US - 1) / PACKET_US;
        let last = ((to - e.media_start + PACKET_US - 1) / PACKET_US).min(i64::from(e.packets));
        for k in first..last.max(first) {
            let k = k as u32;
            let due = e.media_start + i64::from(k) * PACKET_US;
            if let Some(delay) = delay(options, call, end, k) {
                out.push(Event {
                    at: due + delay,
                    call,
                    what: RTP_BASE + k * 2 + end as u32,
                });
            }
        }
    }
}

/// The delay of packet `k` of a stream, µs, or `None` if it is lost. The first packet of a
/// stream is never lost nor late.
fn delay(options: &Options, call: u32, end: usize, k: u32) -> Option<i64> {
    if k == 0 {
        return Some(0);
    }
    let draw = |purpose: u64| {
        unit(key(&[
            options.seed,
            u64::from(call),
            end as u64,
            u64::from(k),
            purpose,
        ]))
    };
    if draw(1) < options.loss {
        return None;
    }
    let jitter = options.jitter_ms * 1000.0;
    let mut delay = (draw(2) * jitter) as i64;
    if draw(3) < options.reorder {
        // Behind the next packet, whatever its own jitter.
        delay += PACKET_US + jitter as i64 + 1_000;
    }
    Some(delay)
}

fn max_concurrent(plans: &[CallPlan]) -> u32 {
    let mut edges: Vec<(i64, i32)> = plans
        .iter()
        .flat_map(|p| [(p.steps[0].0, 1), (p.last_at(), -1)])
        .collect();
    edges.sort_unstable();
    let mut up = 0i32;
    let mut most = 0i32;
    for (_, change) in edges {
        up += change;
        most = most.max(up);
    }
    most as u32
}

fn call_summary(plan: &CallPlan, tally: &Tally) -> CallSummary {
    let streams = [0, 1].map(|end| {
        let received = tally.received[end];
        let span = if received == 0 {
            0
        } else {
            u64::from(tally.last_k[end]) + 1
        };
        StreamSummary {
            sent: u64::from(plan.ends[end].packets),
            received,
            lost: span - received,
            before_bye: tally.before_bye[end],
        }
    });
    CallSummary {
        call_id: plan.call_id.clone(),
        caller: plan.ends[0].number.clone(),
        callee: plan.ends[1].number.clone(),
        codec: plan.law.name(),
        talk_seconds: (plan.bye_at - plan.answered_at) as f64 / 1e6,
        streams,
        segments: tally.segments.clone(),
    }
}

/// Turns events into frames, with reused buffers.
struct EventWriter<'a> {
    bank: &'a Bank,
    frame: Vec<u8>,
    text: String,
    payload: [u8; 12 + PACKET_SAMPLES],
}

impl EventWriter<'_> {
    fn write<W: Write>(
        &mut self,
        pcap: &mut PcapWriter<W>,
        event: Event,
        plan: &CallPlan,
        talk: &Conversation,
        tally: &mut Tally,
    ) -> io::Result<()> {
        if event.what < RTP_BASE {
            let step = plan.steps[event.what as usize].1;
            sip::render(plan, step, &mut self.text);
            let from = sip::sender(plan, step);
            let (a, b) = (&plan.ends[from], &plan.ends[1 - from]);
            udp_frame(
                &mut self.frame,
                SocketAddrV4::new(a.ip, sip::SIP_PORT),
                SocketAddrV4::new(b.ip, sip::SIP_PORT),
                DSCP_SIGNALLING,
                (plan.index as u16)
                    .wrapping_mul(16)
                    .wrapping_add(event.what as u16),
                self.text.as_bytes(),
            );
            match step {
                Step::InfoOnOk(_) if !tally.recording => {
                    tally.recording = true;
                    tally.segments.push([0, 0]);
                }
                Step::InfoOffOk(_) => tally.recording = false,
                Step::Bye => tally.ended = true,
                _ => {}
            }
            return pcap.write(event.at, &self.frame);
        }

        let k = (event.what - RTP_BASE) / 2;
        let from = ((event.what - RTP_BASE) % 2) as usize;
        let (a, b) = (&plan.ends[from], &plan.ends[1 - from]);
        let header = &mut self.payload[..12];
        header[0] = 0x80; // RTP version 2, no padding, extension or CSRC
        header[1] = plan.law.payload_type() | if k == 0 { 0x80 } else { 0 };
        header[2..4].copy_from_slice(&a.seq0.wrapping_add(k as u16).to_be_bytes());
        let ts = a.ts0.wrapping_add(k.wrapping_mul(PACKET_SAMPLES as u32));
        header[4..8].copy_from_slice(&ts.to_be_bytes());
        header[8..12].copy_from_slice(&a.ssrc.to_be_bytes());
        let sample = plan.sample_of(from, k);
        self.bank.fill(
            plan.law,
            &talk.parties[from],
            sample,
            &mut self.payload[12..],
        );
        udp_frame(
            &mut self.frame,
            SocketAddrV4::new(a.ip, a.rtp_port),
            SocketAddrV4::new(b.ip, b.rtp_port),
            DSCP_VOICE,
            (a.ssrc as u16).wrapping_add(k as u16),
            &self.payload,
        );
        tally.received[from] += 1;
        if !tally.ended {
            tally.before_bye[from] += 1;
        }
        tally.last_k[from] = tally.last_k[from].max(k);
        if tally.recording
            && let Some(segment) = tally.segments.last_mut()
        {
            segment[from] += 1;
        }
        pcap.write(event.at, &self.frame)
    }
}

/// The decoded audio of call `index` of a capture, both parties as a recorder hears them
/// (caller left, callee right), interleaved 16-bit stereo at 8 kHz, from answer to BYE.
pub fn call_audio(options: &Options, index: u32) -> Vec<i16> {
    let bank = Bank::new(options.seed);
    call_audio_with(options, &bank, index)
}

/// [`call_audio`] with a bank made once for many calls.
pub fn call_audio_with(options: &Options, bank: &Bank, index: u32) -> Vec<i16> {
    let plan = CallPlan::new(options, index, options.start_of(index));
    let talk = conversation(options, bank, &plan);
    let samples = plan.talk_samples() as usize / PACKET_SAMPLES * PACKET_SAMPLES;
    let mut out = vec![0i16; samples * 2];
    let mut packet = [0u8; PACKET_SAMPLES];
    for (party, script) in talk.parties.iter().enumerate() {
        for block in 0..samples / PACKET_SAMPLES {
            let first = block * PACKET_SAMPLES;
            bank.fill(plan.law, script, first as u64, &mut packet);
            for (i, &byte) in packet.iter().enumerate() {
                out[(first + i) * 2 + party] = plan.law.decode(byte);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(options: &Options) -> (Summary, Vec<u8>) {
        generate(options, Vec::new()).unwrap()
    }

    fn small() -> Options {
        Options {
            calls: 20,
            duration: 6.0,
            loss: 0.02,
            jitter_ms: 15.0,
            reorder: 0.01,
            record_share: 0.5,
            seed: 42,
            ..Options::default()
        }
    }

    #[test]
    fn the_same_options_give_the_same_bytes() {
        let options = small();
        let (first, a) = bytes(&options);
        let (second, b) = bytes(&options);
        assert_eq!(first, second);
        assert!(a == b, "two runs with the same options differ");
        let (_, c) = bytes(&Options {
            seed: 43,
            ..options
        });
        assert!(a != c, "another seed gives the same file");
    }

    #[test]
    fn frames_are_in_time_order_and_counted() {
        let options = small();
        let (summary, file) = bytes(&options);
        let mut at = 24;
        let mut last = 0u64;
        let mut frames = 0;
        while at < file.len() {
            let field = |i: usize| u32::from_le_bytes(file[at + i..at + i + 4].try_into().unwrap());
            let time = u64::from(field(0)) * 1_000_000 + u64::from(field(4));
            assert!(time >= last, "frame {frames} goes back in time");
            last = time;
            at += 16 + field(8) as usize;
            frames += 1;
        }
        assert_eq!(at, file.len());
        assert_eq!(frames, summary.frames);
        assert_eq!(summary.frames, summary.sip_messages + summary.rtp_packets);
        assert_eq!(summary.max_concurrent, options.calls);
        let received: u64 = summary
            .calls
            .iter()
            .flat_map(|c| c.streams)
            .map(|s| s.received)
            .sum();
        assert_eq!(received, summary.rtp_packets);
        // About 2% lost, some calls with segments.
        let sent: u64 = summary
            .calls
            .iter()
            .flat_map(|c| c.streams)
            .map(|s| s.sent)
            .sum();
        let loss = 1.0 - received as f64 / sent as f64;
        assert!((0.01..0.03).contains(&loss), "loss {loss}");
        assert!(summary.calls.iter().any(|c| !c.segments.is_empty()));
        assert!(summary.calls.iter().any(|c| c.segments.is_empty()));
    }

    #[test]
    fn call_audio_covers_the_conversation() {
        let options = Options {
            duration: 30.0,
            ..small()
        };
        let audio = call_audio(&options, 3);
        assert_eq!(audio.len(), 30 * 8000 * 2);
        for channel in 0..2 {
            let loud = audio
                .iter()
                .skip(channel)
                .step_by(2)
                .filter(|s| s.unsigned_abs() > 300)
                .count();
            assert!(loud > 10_000, "channel {channel}: {loud} loud samples");
        }
    }
}
