//! The main job, wired together: frames in; calls, decisions and recordings out.
//!
//! ```text
//! frame ─► wire::Decoder ─► SIP (UDP, TCP, SCTP) ─► dialog::Correlator ─► events
//!                        └► media addresses ─────► Correlator::handle_media ─► RTP routes
//! events ─► policy::Control ─► segment open/close ─► media::SegmentWriter ─► journal
//! ```
//!
//! The same pipeline serves a capture file and a live capture; only the source of frames and
//! the end reason differ. Time is the frames' own.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::capture::MediaFilter;
use crate::config::Config;
use crate::dialog::unbound::UnboundStreams;
use crate::dialog::{
    Call, CallKey, Correlator, CorrelatorConfig, CorrelatorStats, EndReason, Event, MediaVerdict,
    Party,
};
use crate::journal::{FinishedCall, Journal, JournalError};
use crate::media::srtp::SrtpContext;
use crate::media::{Codec, EncoderSettings, SegmentSpec, SegmentWriter};
use crate::policy::{Action, CallFacts, Control, Policy, Trigger, Verdict};
use crate::time::{Duration, Timestamp};
use crate::wire::RtpPacket;
use crate::wire::sip::{Message, looks_like_sip};
use crate::wire::tcp::{TcpReassembler, looks_like_websocket_upgrade};
use crate::wire::{Decoder, L4Payload, LinkType, Transport};

/// Where look-back recordings wait, inside the data folder, until a record button claims them.
pub const LOOK_BACK_DIR: &str = "recordings/.look-back";

/// The note of an answered call that was to be recorded but whose audio never came (its RTP
/// was not in the capture, or went to addresses no SDP announced).
const NO_AUDIO: &str = "recording was on, but no audio of this call was captured";

/// The note on a call whose media is encrypted with keys the SDP does not carry.
const NO_SRTP_KEYS: &str =
    "encrypted media without SDES keys in the SDP (DTLS-SRTP?) cannot be recorded";

/// The note on a call whose SRTP does not authenticate with the SDP's keys.
const BAD_SRTP_KEYS: &str = "SRTP packets failed authentication with the SDP's keys";

/// How often time-outs are checked, in capture time.
const TICK: Duration = Duration::from_secs(1);

/// How long an unsignalled RTP stream must be quiet before it is written to the journal.
const UNBOUND_IDLE: Duration = Duration::from_secs(30);

/// Free space the recordings folder needs before recordings paused by a full disk resume.
const RESUME_FREE_BYTES: u64 = 256 * 1024;

/// How often, in capture time, a full recordings disk is checked for space again.
const RESUME_PROBE: Duration = Duration::from_secs(2);

/// A jump of the capture clock larger than this (forward or back) is a broken clock, not time
/// passing: seen in merged and edited captures, where it would time out every call at once.
const MAX_CLOCK_JUMP: Duration = Duration::from_secs(3600);

/// Smooths the capture clock over jumps larger than [`MAX_CLOCK_JUMP`]: after such a jump,
/// times are shifted so that the jump counts as one packet interval (20 ms).
#[derive(Debug, Default)]
struct CaptureClock {
    offset: i64,
    last: Option<Timestamp>,
    jumps: u64,
}

impl CaptureClock {
    fn adjust(&mut self, at: Timestamp) -> Timestamp {
        let shifted = Timestamp::from_micros(at.as_micros() - self.offset);
        let Some(last) = self.last else {
            self.last = Some(shifted);
            return shifted;
        };
        let step = shifted.as_micros() - last.as_micros();
        if step.abs() <= MAX_CLOCK_JUMP.as_micros() {
            self.last = Some(last.max(shifted));
            return shifted;
        }
        self.offset += step - 20_000;
        self.jumps += 1;
        if self.jumps.is_power_of_two() {
            tracing::warn!(
                jump_s = step / 1_000_000,
                jumps = self.jumps,
                "capture clock jumped; later times are shifted to follow on"
            );
        }
        let adjusted = Timestamp::from_micros(at.as_micros() - self.offset);
        self.last = Some(adjusted);
        adjusted
    }
}

/// Counters of one pipeline run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct PipelineStats {
    /// Frames processed.
    pub frames: u64,
    /// SIP messages parsed.
    pub sip_messages: u64,
    /// Payloads that looked like SIP but could not be parsed.
    pub sip_malformed: u64,
    /// UDP payloads on no SIP port and no call's media address.
    pub unrelated_udp: u64,
    /// Payloads on SIP ports too short to be SIP (keep-alives such as CRLF or "hello").
    pub keepalives: u64,
    /// RTP streams seen without any SIP announcing them.
    pub unbound_streams: u64,
    /// Calls finished and written to the journal.
    pub calls_finished: u64,
    /// Calls with at least one recording.
    pub calls_recorded: u64,
    /// Segments written completely.
    pub segments: u64,
    /// Segments that could not be written (disk full, I/O error).
    pub segments_failed: u64,
}

/// What the bounded tables evicted (see [`Pipeline::evictions`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evictions {
    /// Calls given up because the call table was full.
    pub calls: u64,
    /// TCP streams dropped (table full or byte budget spent).
    pub tcp_streams: u64,
    /// Bytes those TCP streams held.
    pub tcp_bytes: u64,
    /// Partial IP datagrams dropped.
    pub fragments: u64,
    /// Unsignalled RTP streams dropped.
    pub unbound_streams: u64,
}

impl Evictions {
    /// Whether any table evicted anything.
    pub fn any(&self) -> bool {
        *self != Evictions::default()
    }
}

struct CallMedia {
    control: Control,
    segment: Option<SegmentWriter>,
    segments: i32,
    recorded: bool,
    media_seen: bool,
    notes: Vec<String>,
    /// Frames of this call's media the capture lost (kernel ring buffer full).
    capture_lost: u64,
    /// Recording was switched on before any audio: the segment opens with the first packet.
    pending_start: Option<(Timestamp, Trigger)>,
    /// A segment met audio in a codec this build cannot decode.
    undecodable: bool,
    /// Look-back: the call's audio is kept from its first packet in case a record button is
    /// pressed later (open once audio comes; `None` once used or when not wanted).
    look_back: LookBack,
    /// SRTP contexts by sender and SSRC (`None`: no key for it).
    srtp: HashMap<(Party, u32), Option<SrtpContext>>,
    /// Why encrypted media could not be recorded, if it could not.
    srtp_problem: Option<&'static str>,
    /// What started the open segment (a segment resumed after a full disk keeps it).
    trigger: Trigger,
    /// Recording is on but paused by a full disk: a segment with this trigger opens again
    /// when space returns.
    waiting_for_space: Option<Trigger>,
}

/// The SRTP context for what `party` sends, from the first SDES key its SDP offered.
fn srtp_context(call: &Call, party: Party) -> Option<SrtpContext> {
    call.announced_by(party)
        .iter()
        .flat_map(|a| &a.media.crypto)
        .find_map(|c| SrtpContext::from_sdes(&c.suite, &c.key_params))
}

/// The look-back state of a call.
enum LookBack {
    /// Not wanted (policy, or already used).
    Off,
    /// Wanted; opens with the call's first audio.
    Waiting,
    /// Keeping the call's audio under a temporary name.
    Keeping(Box<SegmentWriter>),
}

/// Everything but the decoder, so the decoder's callback can borrow it.
struct Inner {
    data_dir: PathBuf,
    sip_ports: HashSet<u16>,
    tcp: TcpReassembler,
    correlator: Correlator,
    unbound: UnboundStreams,
    policy: Policy,
    journal: Journal,
    encoder: EncoderSettings,
    calls: HashMap<CallKey, CallMedia>,
    media_filter: Option<Box<dyn MediaFilter>>,
    /// Whether on-demand calls keep their audio from the start (`policy.look_back`).
    look_back: bool,
    /// Decrypted SRTP, reused between packets.
    srtp_buffer: Vec<u8>,
    disk_full_warned: bool,
    /// When a full recordings disk was last checked for space.
    last_space_probe: Timestamp,
    stats: PipelineStats,
    error: Option<JournalError>,
}

/// The pipeline from frames to journal.
pub struct Pipeline {
    decoder: Decoder,
    inner: Inner,
    clock: CaptureClock,
    now: Timestamp,
    next_tick: Timestamp,
}

impl Pipeline {
    /// A pipeline writing into `journal` under the given configuration.
    pub fn new(config: &Config, journal: Journal) -> Pipeline {
        let correlator_config = CorrelatorConfig {
            record_header: config.on_demand.header.clone(),
            ringing_timeout: Duration::from_secs(i64::from(config.timeouts.ringing)),
            media_timeout: Duration::from_secs(i64::from(config.timeouts.media)),
            aliases: config.nat.aliases.clone(),
            max_calls: config.limits.calls,
            ..CorrelatorConfig::default()
        };
        let first_key = journal.next_call_id();
        Pipeline {
            decoder: Decoder::new(),
            inner: Inner {
                data_dir: journal.dir().to_path_buf(),
                sip_ports: config.capture.sip_ports.iter().copied().collect(),
                tcp: TcpReassembler::with_budget(
                    config.limits.tcp_streams,
                    config.limits.tcp_buffer_mib << 20,
                    Duration::from_secs(600),
                ),
                correlator: Correlator::new(correlator_config, first_key),
                unbound: UnboundStreams::with_limit(config.limits.unbound_streams),
                policy: Policy::new(config),
                journal,
                encoder: EncoderSettings {
                    bitrate: config.recording.bitrate,
                    complexity: config.recording.complexity,
                    speech: config.recording.coder == crate::config::Coder::Speech,
                },
                calls: HashMap::new(),
                media_filter: None,
                look_back: config.policy.look_back,
                srtp_buffer: Vec::with_capacity(2048),
                disk_full_warned: false,
                last_space_probe: Timestamp::MIN,
                stats: PipelineStats::default(),
                error: None,
            },
            clock: CaptureClock::default(),
            now: Timestamp::MIN,
            next_tick: Timestamp::MIN,
        }
    }

    /// Starts a new source of frames (the next capture file): its clock is its own, so a gap
    /// or overlap with the previous file is real time, not a broken clock.
    pub fn start_source(&mut self) {
        self.clock = CaptureClock::default();
    }

    /// Keeps a kernel-side media filter up to date with the addresses calls announce (live
    /// eBPF capture), and reads each call's capture loss from it when the call ends.
    pub fn set_media_filter(&mut self, filter: Box<dyn MediaFilter>) {
        self.inner.media_filter = Some(filter);
    }

    /// The journal, e.g. to record an import's progress.
    pub fn journal(&mut self) -> &mut Journal {
        &mut self.inner.journal
    }

    /// Counters so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            frames: self.decoder.stats.frames,
            ..self.inner.stats
        }
    }

    /// The correlator's counters.
    pub fn correlator_stats(&self) -> CorrelatorStats {
        self.inner.correlator.stats
    }

    /// The wire decoder's counters.
    pub fn decode_stats(&self) -> crate::wire::DecodeStats {
        self.decoder.stats
    }

    /// Entries every bounded table evicted so far: calls, TCP streams (and their bytes), IP
    /// fragment datagrams, unsignalled RTP streams.
    pub fn evictions(&self) -> Evictions {
        Evictions {
            calls: self.inner.correlator.stats.calls_evicted,
            tcp_streams: self.inner.tcp.stats.streams_evicted,
            tcp_bytes: self.inner.tcp.stats.bytes_evicted,
            fragments: self.decoder.frag_stats().evicted,
            unbound_streams: self.inner.unbound.evicted,
        }
    }

    /// Calls followed now.
    pub fn active_calls(&self) -> usize {
        self.inner.correlator.active_calls()
    }

    /// Processes one frame captured at `at`.
    pub fn process(
        &mut self,
        at: Timestamp,
        link: LinkType,
        frame: &[u8],
    ) -> Result<(), JournalError> {
        let at = self.clock.adjust(at);
        if at >= self.next_tick {
            self.tick(at)?;
        }
        self.now = self.now.max(at);
        let inner = &mut self.inner;
        self.decoder.decode(at, link, frame, &mut |payload| {
            inner.handle_payload(at, payload)
        });
        match self.inner.error.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Advances time without a frame (live capture with no traffic).
    pub fn tick(&mut self, now: Timestamp) -> Result<(), JournalError> {
        self.next_tick = now + TICK;
        self.decoder.expire(now);
        let inner = &mut self.inner;
        inner.tcp.expire(now);
        inner.correlator.handle_timeout(now);
        inner.drain_events();
        inner.advance_segments(now);
        inner.resume_recordings(now)?;
        let idle = inner.unbound.take_idle(now, UNBOUND_IDLE);
        inner.write_unbound(&idle)?;
        inner.journal.commit_if_due()?;
        match inner.error.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Ends every open call for `reason`, finishes their recordings and commits.
    pub fn finish(&mut self, reason: EndReason) -> Result<(), JournalError> {
        let inner = &mut self.inner;
        inner.correlator.finish_all(reason);
        inner.drain_events();
        let rest = inner.unbound.take_all();
        inner.write_unbound(&rest)?;
        inner.journal.commit()?;
        match inner.error.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

impl Inner {
    fn handle_payload(&mut self, at: Timestamp, payload: &L4Payload<'_>) {
        let (src, dst) = (payload.src, payload.dst);
        let on_sip_port =
            self.sip_ports.contains(&dst.port()) || self.sip_ports.contains(&src.port());
        match payload.transport {
            Transport::Udp => {
                if on_sip_port || looks_like_sip(payload.payload) {
                    // Keep-alives (CRLF, NUL, "hello", "jaK") are shorter than any SIP message.
                    if payload.payload.len() < 20 && !looks_like_sip(payload.payload) {
                        self.stats.keepalives += 1;
                    } else {
                        self.handle_sip(at, src, dst, payload.payload);
                    }
                    return;
                }
                self.handle_media(at, src, dst, payload.payload);
            }
            Transport::Tcp(info) => {
                let wanted = on_sip_port
                    || self.tcp.contains(src, dst)
                    || looks_like_sip(payload.payload)
                    || looks_like_websocket_upgrade(payload.payload);
                if !wanted {
                    return;
                }
                let mut messages: Vec<Vec<u8>> = Vec::new();
                self.tcp
                    .push(at, src, dst, info, payload.payload, &mut |m| {
                        messages.push(m.to_vec())
                    });
                for message in messages {
                    self.handle_sip(at, src, dst, &message);
                }
            }
            Transport::Sctp => {
                if looks_like_sip(payload.payload) {
                    self.handle_sip(at, src, dst, payload.payload);
                }
            }
        }
    }

    fn handle_sip(&mut self, at: Timestamp, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) {
        let message = match Message::parse(bytes) {
            Ok(message) => message,
            Err(err) => {
                self.stats.sip_malformed += 1;
                tracing::trace!(%src, %dst, %err, "SIP message not parsed, skipped");
                return;
            }
        };
        self.stats.sip_messages += 1;
        tracing::trace!(%src, %dst, line = message.start_text(), "SIP");
        self.correlator.handle_sip(at, src, dst, &message);
        self.drain_events();
    }

    fn handle_media(&mut self, at: Timestamp, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        match self.correlator.handle_media(at, src, dst, payload) {
            MediaVerdict::NotOurs => {
                self.stats.unrelated_udp += 1;
                self.unbound.observe(at, src, dst, payload);
            }
            MediaVerdict::Rtcp(_) | MediaVerdict::Other(_) => {}
            MediaVerdict::Rtp(route) => {
                // After a final failure (a 4xx waiting for an authenticated retry, say) media
                // is no conversation: it must not open a recording that would end, with the
                // call, before it started. (Asked only while a start waits for audio, not for
                // every packet.)
                let correlator = &self.correlator;
                let pending = self.calls.get_mut(&route.call).and_then(|m| {
                    m.media_seen = true;
                    m.pending_start?;
                    let refused = correlator
                        .call(route.call)
                        .is_some_and(|c| c.state == crate::dialog::CallState::Rejected);
                    if refused {
                        None
                    } else {
                        m.pending_start.take()
                    }
                });
                if let Some((opened_at, trigger)) = pending
                    && let Err(err) = self.open_segment(route.call, opened_at, trigger, true)
                {
                    self.error.get_or_insert(err);
                }
                self.start_look_back(route.call, at);
                let Some(media) = self.calls.get_mut(&route.call) else {
                    return self.drain_events();
                };
                let writer = match (&mut media.segment, &mut media.look_back) {
                    (Some(segment), _) => Some(segment),
                    (None, LookBack::Keeping(look_back)) => Some(look_back.as_mut()),
                    _ => None,
                };
                if let Some(writer) = writer {
                    // SRTP: decrypt with the sender's SDES key first.
                    let clear;
                    let packet = if route.encrypted {
                        let Some(call) = self.correlator.call(route.call) else {
                            return self.drain_events();
                        };
                        let key = (route.party, route.packet.ssrc());
                        let context = media
                            .srtp
                            .entry(key)
                            .or_insert_with(|| srtp_context(call, route.party));
                        let Some(context) = context.as_mut() else {
                            media.srtp_problem.get_or_insert(NO_SRTP_KEYS);
                            return self.drain_events();
                        };
                        if context.decrypt(payload, &mut self.srtp_buffer).is_err() {
                            media.srtp_problem.get_or_insert(BAD_SRTP_KEYS);
                            return self.drain_events();
                        }
                        clear = match RtpPacket::new_checked(self.srtp_buffer.as_slice()) {
                            Ok(packet) => packet,
                            Err(_) => return self.drain_events(),
                        };
                        &clear
                    } else {
                        &route.packet
                    };
                    let result = writer.push_rtp(at, route.party, src, route.codec, packet);
                    if let Err(err) = result {
                        let key = route.call;
                        self.segment_error(key, at, err);
                    }
                }
            }
        }
        self.drain_events();
    }

    fn write_unbound(
        &mut self,
        streams: &[crate::dialog::unbound::UnboundStream],
    ) -> Result<(), JournalError> {
        if streams.is_empty() {
            return Ok(());
        }
        self.stats.unbound_streams += streams.len() as u64;
        self.journal.unbound_streams(streams)
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.correlator.poll_event() {
            // Here as well as on ticks: a flood, or the end of a capture, brings many calls
            // between two ticks, and the rows held for a commit are bounded.
            let result = self
                .handle_event(event)
                .and_then(|()| self.journal.commit_if_due());
            if let Err(err) = result {
                tracing::error!(%err, "journal write failed");
                self.error.get_or_insert(err);
            }
        }
    }

    fn handle_event(&mut self, event: Event) -> Result<(), JournalError> {
        match event {
            Event::CallStarted(key) => {
                let Some(call) = self.correlator.call(key) else {
                    return Ok(());
                };
                let facts = CallFacts {
                    caller: &call.caller,
                    callee: &call.callee,
                };
                let direction = self.policy.direction(facts);
                let (control, action) = Control::start(&self.policy, facts, call.started_at);
                let verdict = match control.verdict() {
                    Verdict::Record => "record",
                    Verdict::OnDemand => "on-demand",
                    Verdict::Never => "never",
                };
                self.journal.call_started(
                    call,
                    direction.as_str(),
                    verdict,
                    control.verdict_reason(),
                )?;
                let (caller, callee) = (&call.caller, &call.callee);
                tracing::debug!(call = key.0, %caller, %callee, verdict, "call");
                self.calls.insert(
                    key,
                    CallMedia {
                        control,
                        segment: None,
                        segments: 0,
                        recorded: false,
                        media_seen: false,
                        notes: Vec::new(),
                        capture_lost: 0,
                        pending_start: None,
                        undecodable: false,
                        look_back: if self.look_back && verdict == "on-demand" {
                            LookBack::Waiting
                        } else {
                            LookBack::Off
                        },
                        srtp: HashMap::new(),
                        srtp_problem: None,
                        trigger: Trigger::Policy,
                        waiting_for_space: None,
                    },
                );
                self.apply(key, action)?;
            }
            Event::CallAnswered(key) => {
                if let Some(at) = self.correlator.call(key).and_then(|c| c.answered_at) {
                    self.journal.call_answered(key.0, at)?;
                }
            }
            Event::RecordInfo(key, info) => {
                let Some(media) = self.calls.get_mut(&key) else {
                    return Ok(());
                };
                let action = media.control.on_record_info(&self.policy, &info);
                tracing::info!(
                    call = key.0,
                    user = %info.user,
                    value = %info.value,
                    decision = %media.control.decisions.last().map_or("", |d| d.reason.as_str()),
                    "record button"
                );
                self.apply(key, action)?;
            }
            Event::Dtmf(key, press) => {
                let Some(call) = self.correlator.call(key) else {
                    return Ok(());
                };
                let user = match press.party {
                    Party::Caller => call.caller.clone(),
                    Party::Callee => call.callee.clone(),
                };
                let Some(media) = self.calls.get_mut(&key) else {
                    return Ok(());
                };
                let action = media.control.on_key(&self.policy, &press, &user);
                self.apply(key, action)?;
            }
            Event::CallEnded(key) => {
                let Some(call) = self.correlator.call(key) else {
                    return Ok(());
                };
                let at = call.ended_at.unwrap_or(call.last_activity);
                let how = call.end_reason.map_or("unknown", |r| r.as_str());
                // Written now, not only when the call is finished after its grace period, so a
                // crash in between leaves the call's end in the journal.
                self.journal.call_ended(call)?;
                if let Some(media) = self.calls.get_mut(&key) {
                    Self::discard_look_back(media);
                    let action = media.control.on_end(at, how);
                    self.apply(key, action)?;
                }
            }
            Event::CallFinished(key) => {
                let Some(call) = self.correlator.take_finished(key) else {
                    return Ok(());
                };
                self.finish_call(call)?;
            }
            Event::MediaBound(_, addr) => {
                if let Some(filter) = self.media_filter.as_mut() {
                    filter.add(addr);
                }
            }
            Event::MediaUnbound(key, addr) => {
                if let Some(filter) = self.media_filter.as_mut() {
                    let lost = filter.remove(addr);
                    if let Some(media) = self.calls.get_mut(&key) {
                        media.capture_lost += lost;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish_call(&mut self, call: Call) -> Result<(), JournalError> {
        let key = call.key;
        let Some(mut media) = self.calls.remove(&key) else {
            return Ok(());
        };
        Self::discard_look_back(&mut media);
        if let Some(segment) = media.segment.take() {
            // Ended without a CallEnded (should not happen): close at the call's end.
            let at = call.ended_at.unwrap_or(call.last_activity);
            self.close_segment(&mut media, segment, at)?;
        }
        if media.undecodable {
            // Name the codecs as the SDP did (e.g. BV32), from the streams that carried them.
            let mut names: Vec<&str> = call
                .streams
                .iter()
                .filter_map(|s| s.codec.as_deref().map(|name| (name, s.clock_rate)))
                .filter(|(name, clock)| !Codec::from_encoding(name, *clock).is_decodable())
                .map(|(name, _)| name)
                .collect();
            names.sort_unstable();
            names.dedup();
            let names = if names.is_empty() {
                "unknown".to_string()
            } else {
                names.join(", ")
            };
            media.notes.push(format!(
                "audio not recorded: codec {names} cannot be decoded"
            ));
        }
        if let Some(problem) = media.srtp_problem {
            media.notes.push(problem.to_string());
        }
        if media.capture_lost > 0 {
            tracing::warn!(
                call = key.0,
                lost = media.capture_lost,
                "capture loss: media frames of this call were dropped before userspace"
            );
        }
        let note = (!media.notes.is_empty()).then(|| media.notes.join("; "));
        self.journal.call_finished(&FinishedCall {
            call: &call,
            recorded: media.recorded,
            decisions: &media.control.decisions,
            note,
            capture_lost: media.capture_lost,
        })?;
        self.stats.calls_finished += 1;
        if media.recorded {
            self.stats.calls_recorded += 1;
        }
        tracing::debug!(
            call = key.0,
            disposition = call.disposition.map_or("unknown", |d| d.as_str()),
            end = call.end_reason.map_or("unknown", |r| r.as_str()),
            recorded = media.recorded,
            "call finished"
        );
        Ok(())
    }

    fn apply(&mut self, key: CallKey, action: Action) -> Result<(), JournalError> {
        match action {
            Action::None => Ok(()),
            Action::Start(at, trigger) => {
                let Some(media) = self.calls.get_mut(&key) else {
                    return Ok(());
                };
                if let LookBack::Keeping(_) = media.look_back {
                    return self.adopt_look_back(key, trigger);
                }
                media.look_back = LookBack::Off;
                if media.media_seen {
                    self.open_segment(key, at, trigger, false)
                } else {
                    // No audio yet (the call is ringing): the segment is created with its
                    // first packet, so a call that never gets audio leaves no empty file.
                    media.pending_start = Some((at, trigger));
                    Ok(())
                }
            }
            Action::Stop(at) => {
                let Some(media) = self.calls.get_mut(&key) else {
                    return Ok(());
                };
                let waited_for_audio = media.pending_start.take().is_some();
                media.waiting_for_space = None;
                let answered = self
                    .correlator
                    .call(key)
                    .is_some_and(|c| c.answered_at.is_some());
                if waited_for_audio && answered && !media.notes.iter().any(|n| n == NO_AUDIO) {
                    // Say why a call that was to be recorded has no recording.
                    media.notes.push(NO_AUDIO.to_string());
                }
                let Some(segment) = media.segment.take() else {
                    return Ok(());
                };
                let mut media = self.calls.remove(&key).expect("present above");
                let result = self.close_segment(&mut media, segment, at);
                self.calls.insert(key, media);
                result
            }
        }
    }

    /// Opens the look-back recording of a call with its first audio.
    fn start_look_back(&mut self, key: CallKey, at: Timestamp) {
        let Some(media) = self.calls.get_mut(&key) else {
            return;
        };
        if !matches!(media.look_back, LookBack::Waiting) || media.segment.is_some() {
            return;
        }
        let spec = SegmentSpec {
            id: key.0,
            path: self
                .data_dir
                .join(LOOK_BACK_DIR)
                .join(format!("{}.opus", key.0)),
            opened_at: at,
            wait_for_media: true,
            tags: vec![("ENCODER", format!("recorder {}", env!("CARGO_PKG_VERSION")))],
            wideband: false,
        };
        media.look_back = match SegmentWriter::open(spec, self.encoder) {
            Ok(writer) => LookBack::Keeping(Box::new(writer)),
            Err(err) => {
                tracing::warn!(call = key.0, %err, "look-back recording not started");
                LookBack::Off
            }
        };
    }

    /// A record button on a call with look-back: the audio kept since the call's start becomes
    /// the segment.
    fn adopt_look_back(&mut self, key: CallKey, trigger: Trigger) -> Result<(), JournalError> {
        let Some(media) = self.calls.get_mut(&key) else {
            return Ok(());
        };
        let LookBack::Keeping(mut writer) = std::mem::replace(&mut media.look_back, LookBack::Off)
        else {
            return Ok(());
        };
        let since = writer.started_at().unwrap_or(Timestamp::MIN);
        media.segments += 1;
        let (id, rel) = self
            .journal
            .segment_opened(key.0, media.segments, since, trigger)?;
        match writer.adopt(id, self.data_dir.join(&rel)) {
            Ok(()) => {
                media.control.note_look_back(since);
                tracing::info!(call = key.0, segment = id, "recording started (look-back)");
                media.segment = Some(*writer);
                media.trigger = trigger;
            }
            Err(err) => {
                self.journal.segment_failed(id, since)?;
                media.notes.push(format!("recording {id} failed: {err}"));
            }
        }
        Ok(())
    }

    /// Ends a look-back recording nobody asked for: its audio was never consented to.
    fn discard_look_back(media: &mut CallMedia) {
        if let LookBack::Keeping(writer) = std::mem::replace(&mut media.look_back, LookBack::Off) {
            let path = writer.path().to_path_buf();
            drop(writer);
            let _ = std::fs::remove_file(path);
        }
    }

    /// Creates a segment's journal row and file.
    fn open_segment(
        &mut self,
        key: CallKey,
        at: Timestamp,
        trigger: Trigger,
        wait_for_media: bool,
    ) -> Result<(), JournalError> {
        let Some(call) = self.correlator.call(key) else {
            return Ok(());
        };
        // A call that negotiated a wideband codec is recorded at 16 kHz.
        let wideband = call.announced.iter().flatten().any(|a| {
            let first = a.media.payload_types.first().copied();
            first
                .and_then(|pt| a.media.encoding(pt))
                .is_some_and(|(name, clock)| Codec::from_encoding(name, clock).is_wideband())
        });
        let tags = vec![
            ("TITLE", format!("{} -> {}", call.caller, call.callee)),
            ("CALL_ID", call.call_id.clone()),
            ("CALLER", call.caller.clone()),
            ("CALLEE", call.callee.clone()),
            ("DATE", at.to_rfc3339()),
            ("ENCODER", format!("recorder {}", env!("CARGO_PKG_VERSION"))),
        ];
        let Some(media) = self.calls.get_mut(&key) else {
            return Ok(());
        };
        media.segments += 1;
        let (id, rel) = self
            .journal
            .segment_opened(key.0, media.segments, at, trigger)?;
        let spec = SegmentSpec {
            id,
            path: self.data_dir.join(&rel),
            opened_at: at,
            wait_for_media,
            tags,
            wideband,
        };
        match SegmentWriter::open(spec, self.encoder) {
            Ok(writer) => {
                tracing::info!(
                    call = key.0,
                    segment = id,
                    trigger = trigger.as_str(),
                    "recording started"
                );
                media.segment = Some(writer);
                media.trigger = trigger;
                self.disk_full_warned = false;
            }
            Err(err) => {
                self.journal.segment_cut_short(id, at)?;
                self.stats.segments_failed += 1;
                let disk_full = err.is_disk_full();
                media.notes.push(format!("recording {id} failed: {err}"));
                if disk_full {
                    media.waiting_for_space = Some(trigger);
                }
                self.warn_media_error(key, id, disk_full, &err.to_string());
            }
        }
        Ok(())
    }

    fn close_segment(
        &mut self,
        media: &mut CallMedia,
        segment: SegmentWriter,
        at: Timestamp,
    ) -> Result<(), JournalError> {
        let id = segment.id();
        media.undecodable |= !segment.undecodable.is_empty();
        match segment.close(at) {
            Ok(finished) if finished.packets == [0, 0] => {
                // Recording was on but no audio came (a call rejected while ringing, say):
                // an empty file proves nothing, so it goes, and the row says why.
                let rel = self.journal.segment_path(id)?;
                if let Some(rel) = rel {
                    let _ = std::fs::remove_file(self.data_dir.join(rel));
                }
                self.journal.segment_empty(&finished)?;
            }
            Ok(finished) => {
                self.journal.segment_closed(&finished)?;
                media.recorded = true;
                self.stats.segments += 1;
                tracing::info!(
                    segment = id,
                    seconds = finished.ended_at.since(finished.started_at).as_secs_f64(),
                    sha256 = %finished.sha256,
                    "recording finished"
                );
            }
            Err(err) => {
                let status = self.journal.segment_cut_short(id, at)?;
                self.stats.segments_failed += 1;
                media.notes.push(cut_short_note(id, status, &err));
                self.warn_media_error(CallKey(0), id, err.is_disk_full(), &err.to_string());
            }
        }
        Ok(())
    }

    fn segment_error(&mut self, key: CallKey, at: Timestamp, err: crate::media::MediaError) {
        let Some(media) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(segment) = media.segment.take() else {
            // The look-back recording failed (a full disk, say): the call is recorded from the
            // record button on, as without look-back.
            if matches!(media.look_back, LookBack::Keeping(_)) {
                Self::discard_look_back(media);
                tracing::warn!(call = key.0, %err, "look-back recording dropped");
            }
            return;
        };
        let id = segment.id();
        drop(segment);
        self.stats.segments_failed += 1;
        if err.is_disk_full() {
            // Recording goes on in a new segment once there is space again.
            media.waiting_for_space = Some(media.trigger);
        }
        match self.journal.segment_cut_short(id, at) {
            Ok(status) => media.notes.push(cut_short_note(id, status, &err)),
            Err(journal_err) => {
                self.error.get_or_insert(journal_err);
            }
        }
        self.warn_media_error(key, id, err.is_disk_full(), &err.to_string());
    }

    /// Opens new segments for calls whose recording a full disk paused, once the recordings
    /// folder has room again (checked every [`RESUME_PROBE`]).
    fn resume_recordings(&mut self, now: Timestamp) -> Result<(), JournalError> {
        if !self.calls.values().any(|m| m.waiting_for_space.is_some())
            || now.since(self.last_space_probe) < RESUME_PROBE
        {
            return Ok(());
        }
        self.last_space_probe = now;
        let recordings = self.data_dir.join(crate::journal::RECORDINGS_DIR);
        let free = free_bytes(&recordings).unwrap_or(0);
        if free < RESUME_FREE_BYTES {
            return Ok(());
        }
        let waiting: Vec<(CallKey, Trigger)> = self
            .calls
            .iter_mut()
            .filter_map(|(key, m)| m.waiting_for_space.take().map(|t| (*key, t)))
            .collect();
        for (key, trigger) in waiting {
            self.open_segment(key, now, trigger, true)?;
            if let Some(media) = self.calls.get_mut(&key)
                && let Some(segment) = &media.segment
            {
                let id = segment.id();
                tracing::info!(call = key.0, segment = id, free, "recording resumed");
                media
                    .notes
                    .push(format!("recording resumed in {id} when space returned"));
            }
        }
        Ok(())
    }

    fn warn_media_error(&mut self, key: CallKey, segment: i64, disk_full: bool, err: &str) {
        if disk_full {
            if !self.disk_full_warned {
                self.disk_full_warned = true;
                tracing::warn!(
                    call = key.0,
                    segment,
                    "recordings disk full: recording paused until space returns"
                );
            }
        } else {
            tracing::warn!(call = key.0, segment, err, "recording failed");
        }
    }

    fn advance_segments(&mut self, now: Timestamp) {
        let mut failed = Vec::new();
        for (key, media) in &mut self.calls {
            if let Some(segment) = media.segment.as_mut()
                && let Err(err) = segment.advance(now)
            {
                failed.push((*key, err));
            }
        }
        for (key, err) in failed {
            self.segment_error(key, now, err);
        }
    }
}

/// The note a call gets when a recording stopped early.
fn cut_short_note(id: i64, status: &str, err: &crate::media::MediaError) -> String {
    let why = if err.is_disk_full() {
        "recordings disk full".to_string()
    } else {
        err.to_string()
    };
    match status {
        "incomplete" => format!("recording {id} cut short ({why}); it plays up to that point"),
        _ => format!("recording {id} failed ({why})"),
    }
}

/// Bytes free for unprivileged writers on the file system holding `dir`.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stat` points to writable memory of the
    // right type; statvfs fills it when it returns 0.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}
