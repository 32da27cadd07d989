//! The correlator: SIP dialogs and the RTP bound to them through SDP (RFC 3261, RFC 3264).
//!
//! A state machine fed with messages and packets and a caller-supplied clock; it does no I/O.
//! Inputs are `handle_*` methods, outputs are [`Event`]s taken with [`Correlator::poll_event`].
//!
//! A call is one Call-ID, from its first INVITE: a PBX or proxy that keeps the Call-ID on
//! every hop gives one call, however many times each message is seen. Each party's SDP says
//! where it receives media; RTP sent to that address is the other party's voice, and RTP
//! sent from it (symmetric RTP) is that party's own. RTP from an address nobody announced is
//! latched to the sending party (NAT), so the return path is found too.
//!
//! Every table is bounded: calls, media bindings, messages and streams per call. What does
//! not fit is counted in [`CorrelatorStats`] and logged at warn (rate-limited).

pub mod call;
pub mod legs;
pub mod stream;
pub mod unbound;

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use serde::Serialize;

pub use call::{Call, CallKey, CallState, Disposition, EndReason, MessageSummary};
pub use stream::{PayloadKind, RtpStream};

use crate::media::codec::Codec;
use crate::time::{Duration, Timestamp};
use crate::wire::RtpPacket;
use crate::wire::rtp::{self, TelephoneEvent};
use crate::wire::sdp::{MediaKind, Sdp};
use crate::wire::sip::{Message, Method, StartLine};
use call::{AnnouncedMedia, MAX_ADDRESSES_PER_PARTY, MAX_MESSAGES_PER_CALL, MAX_STREAMS_PER_CALL};

/// A side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// Who sent the first INVITE.
    Caller,
    /// Who was called.
    Callee,
}

impl Party {
    /// 0 for the caller, 1 for the callee (the stereo channel, too).
    pub fn index(self) -> usize {
        match self {
            Party::Caller => 0,
            Party::Callee => 1,
        }
    }

    /// The other side.
    pub fn other(self) -> Party {
        match self {
            Party::Caller => Party::Callee,
            Party::Callee => Party::Caller,
        }
    }

    /// `"caller"` or `"callee"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Caller => "caller",
            Party::Callee => "callee",
        }
    }
}

/// Time-outs and limits of the correlator.
#[derive(Clone, Debug)]
pub struct CorrelatorConfig {
    /// The header of the on-demand recording INFO (`Record`).
    pub record_header: String,
    /// How long media still counts for a call after it ended.
    pub grace: Duration,
    /// How long an unanswered call may go without any message before it is given up.
    pub ringing_timeout: Duration,
    /// How long an answered call may go without signalling or media before it is given up.
    pub media_timeout: Duration,
    /// How long to wait, after a final non-2xx, for a new INVITE on the same Call-ID (as after
    /// an authentication challenge) before the call counts as rejected.
    pub retry_window: Duration,
    /// The same after an authentication challenge (401, 407).
    pub auth_retry_window: Duration,
    /// How long an INFO may wait for its answer.
    pub info_timeout: Duration,
    /// The most calls followed at once; the oldest is given up beyond it.
    pub max_calls: usize,
    /// The most media addresses bound at once.
    pub max_bindings: usize,
    /// Addresses the SDP names and the addresses their media really come from (static NAT).
    pub aliases: std::collections::HashMap<std::net::IpAddr, std::net::IpAddr>,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            record_header: "Record".to_string(),
            grace: Duration::from_secs(5),
            ringing_timeout: Duration::from_secs(180),
            media_timeout: Duration::from_secs(300),
            retry_window: Duration::from_secs(32),
            auth_retry_window: Duration::from_secs(120),
            info_timeout: Duration::from_secs(32),
            max_calls: 100_000,
            max_bindings: 400_000,
            aliases: std::collections::HashMap::new(),
        }
    }
}

/// What became of a record-button INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoAnswer {
    /// Accepted with a 2xx at this time.
    Accepted(Timestamp, u16),
    /// Refused with this status at this time.
    Refused(Timestamp, u16),
    /// No final answer was seen.
    Unanswered,
}

/// A record-button INFO and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// The value of the header (e.g. `on`).
    pub value: String,
    /// Who pressed the button: the INFO's From user.
    pub user: String,
    /// Which side sent it.
    pub party: Party,
    /// When the INFO was seen.
    pub requested_at: Timestamp,
    /// What the far end answered.
    pub answer: InfoAnswer,
}

/// A DTMF key pressed during a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPress {
    /// Who pressed it.
    pub party: Party,
    /// The key: `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: char,
    /// When.
    pub at: Timestamp,
}

/// What the correlator tells its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A call's first INVITE was seen; parties are known.
    CallStarted(CallKey),
    /// A 2xx answered the call.
    CallAnswered(CallKey),
    /// A record-button INFO got its answer (or never did).
    RecordInfo(CallKey, RecordInfo),
    /// A party pressed a key (an RFC 4733 event in its RTP, or a DTMF INFO).
    Dtmf(CallKey, KeyPress),
    /// The call ended at its `ended_at`: recording stops there.
    CallEnded(CallKey),
    /// The grace period is over; take the call with [`Correlator::take_finished`].
    CallFinished(CallKey),
    /// RTP/RTCP for this address now belongs to the call (for the kernel filter).
    MediaBound(CallKey, SocketAddr),
    /// The call no longer wants this address.
    MediaUnbound(CallKey, SocketAddr),
}

/// What a packet on a media address turned out to be.
#[derive(Debug)]
pub enum MediaVerdict<'p> {
    /// No call announced either address.
    NotOurs,
    /// An RTCP packet of a call.
    Rtcp(CallKey),
    /// Something else on a call's media address (T.38, garbage).
    Other(CallKey),
    /// An RTP packet of a call.
    Rtp(RtpRoute<'p>),
}

/// An RTP packet routed to its call.
#[derive(Debug)]
pub struct RtpRoute<'p> {
    /// The call.
    pub call: CallKey,
    /// Whose voice it carries.
    pub party: Party,
    /// What the payload type stands for.
    pub codec: Codec,
    /// Whether the media is SRTP (the payload must be decrypted first).
    pub encrypted: bool,
    /// The packet.
    pub packet: RtpPacket<&'p [u8]>,
}

/// Counters of what the correlator saw, skipped and dropped.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CorrelatorStats {
    /// SIP messages handled.
    pub sip_messages: u64,
    /// SIP messages that were copies of one already seen.
    pub sip_duplicates: u64,
    /// SIP messages outside any call (REGISTER, OPTIONS, stray responses).
    pub sip_outside_calls: u64,
    /// SIP messages without Call-ID or CSeq.
    pub sip_incomplete: u64,
    /// Calls started.
    pub calls: u64,
    /// Calls given up because the call table was full.
    pub calls_evicted: u64,
    /// Media bindings refused because the binding table was full.
    pub bindings_refused: u64,
    /// RTP packets routed to calls.
    pub rtp_packets: u64,
    /// RTCP packets routed to calls.
    pub rtcp_packets: u64,
}

#[derive(Clone, Copy, Debug)]
struct Binding {
    call: CallKey,
    /// Who announced (receives on) this address.
    receiver: Party,
    /// Index into `call.announced[receiver]`.
    media: usize,
    rtcp: bool,
}

#[derive(Clone, Debug)]
struct PendingInfo {
    call: CallKey,
    cseq: u32,
    info: RecordInfo,
}

/// Follows SIP dialogs and binds RTP to them.
#[derive(Debug)]
pub struct Correlator {
    config: CorrelatorConfig,
    calls: HashMap<CallKey, Call>,
    /// Calls finished and waiting for [`Correlator::take_finished`].
    finished: HashMap<CallKey, Call>,
    by_call_id: HashMap<String, CallKey>,
    bindings: HashMap<SocketAddr, Binding>,
    pending_infos: Vec<PendingInfo>,
    legs: legs::LegFinder,
    events: VecDeque<Event>,
    next_key: i64,
    /// What was seen and dropped.
    pub stats: CorrelatorStats,
}

impl Correlator {
    /// A correlator whose calls get keys from `first_key` upwards.
    pub fn new(config: CorrelatorConfig, first_key: i64) -> Self {
        Correlator {
            config,
            calls: HashMap::new(),
            finished: HashMap::new(),
            by_call_id: HashMap::new(),
            bindings: HashMap::new(),
            pending_infos: Vec::new(),
            legs: legs::LegFinder::default(),
            events: VecDeque::new(),
            next_key: first_key,
            stats: CorrelatorStats::default(),
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A call being followed.
    pub fn call(&self, key: CallKey) -> Option<&Call> {
        self.calls.get(&key).or_else(|| self.finished.get(&key))
    }

    /// Calls being followed now.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Media addresses bound now.
    pub fn bound_addresses(&self) -> usize {
        self.bindings.len()
    }

    /// Removes a call after its [`Event::CallFinished`] and hands it over.
    pub fn take_finished(&mut self, key: CallKey) -> Option<Call> {
        self.finished.remove(&key)
    }

    /// Handles one SIP message seen going from `src` to `dst`.
    pub fn handle_sip(&mut self, now: Timestamp, src: SocketAddr, dst: SocketAddr, msg: &Message) {
        self.stats.sip_messages += 1;
        let (Some(call_id), Some((cseq, cseq_method))) = (msg.call_id(), msg.cseq()) else {
            self.stats.sip_incomplete += 1;
            return;
        };

        let Some(key) = self.call_for(now, src, dst, call_id, msg) else {
            self.stats.sip_outside_calls += 1;
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };

        // Retransmissions and copies from other capture points are the same transaction
        // message: same branch, same CSeq, same method or status, same tags.
        let identity = message_identity(msg, src, cseq, cseq_method);
        if !call.seen.insert(identity) {
            self.stats.sip_duplicates += 1;
            if let Some(summary) = call
                .messages
                .iter_mut()
                .rev()
                .find(|m| m.identity == identity)
            {
                summary.duplicates += 1;
            }
            return;
        }
        push_summary(call, now, src, dst, msg, cseq, cseq_method, identity);
        call.last_activity = now;

        let sender = sender_of(call, msg);
        match msg.start_line() {
            StartLine::Request(method) => self.on_request(now, key, method, sender, cseq, msg),
            StartLine::Response(code) => {
                self.on_response(now, key, code, sender, cseq, cseq_method, msg)
            }
        }
    }

    /// Finds the call a message belongs to, starting one for an INVITE.
    fn call_for(
        &mut self,
        now: Timestamp,
        src: SocketAddr,
        dst: SocketAddr,
        call_id: &str,
        msg: &Message,
    ) -> Option<CallKey> {
        let is_invite = msg.method() == Some(Method::Invite);
        let to_tag = msg.to().and_then(|to| to.tag).is_some();

        if let Some(&key) = self.by_call_id.get(call_id) {
            let call = self.calls.get(&key)?;
            // A fresh INVITE (no To tag, new CSeq) after the call ended reuses the Call-ID for
            // a new call. The old one is finished first.
            let replaced = call.is_ended()
                && is_invite
                && !to_tag
                && msg
                    .cseq()
                    .is_some_and(|(n, _)| !call.invite_cseqs.contains(&n))
                && msg.top_via_branch().is_some();
            if !replaced {
                return Some(key);
            }
            self.finish(key);
        } else if !is_invite {
            return None;
        }

        if self.calls.len() >= self.config.max_calls {
            self.evict_oldest(now);
        }
        let key = CallKey(self.next_key);
        self.next_key += 1;
        let mut call = Call::new(key, call_id, now);
        start_call(&mut call, msg);
        call.joined_midway = to_tag;
        if to_tag {
            // Joined a call already up (capture started late): treat it as answered.
            call.state = CallState::Confirmed;
        }
        let leg = legs::Leg::of(&call, src.ip(), dst.ip());
        call.conversation = self.legs.link(&leg, |other| {
            self.calls.get(&other).is_some_and(|c| !c.is_ended())
        });
        self.calls.insert(key, call);
        self.by_call_id.insert(call_id.to_string(), key);
        self.stats.calls += 1;
        self.events.push_back(Event::CallStarted(key));
        tracing::debug!(call = key.0, call_id, "call started");
        Some(key)
    }

    fn on_request(
        &mut self,
        now: Timestamp,
        key: CallKey,
        method: Method,
        sender: Party,
        cseq: u32,
        msg: &Message,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        match method {
            Method::Invite => {
                // A new INVITE after a final non-2xx (an authentication challenge, say) puts
                // the call back to calling.
                if call.state == CallState::Rejected {
                    call.state = CallState::Calling;
                    call.ended_at = None;
                    call.disposition = None;
                }
                if !call.invite_cseqs.contains(&cseq) && call.invite_cseqs.len() < 64 {
                    call.invite_cseqs.push(cseq);
                }
            }
            Method::Bye => {
                // A forked INVITE may have set up more than one dialog, and a B2BUA that
                // keeps the Call-ID has one per leg, each with its own tags: a BYE ends the
                // dialog whose answering tag is its From or To tag (whichever side hung up),
                // and the call ends with the last one.
                let from = msg.from().and_then(|f| f.tag);
                let to = msg.to().and_then(|t| t.tag);
                call.dialogs
                    .retain(|d| Some(d.as_str()) != from && Some(d.as_str()) != to);
                let tagged = from.is_some() || to.is_some();
                let others_up = tagged && !call.dialogs.is_empty();
                if !call.is_ended() && !others_up {
                    call.state = CallState::Terminated;
                    call.ended_at = Some(now);
                    call.end_reason = Some(EndReason::Bye);
                    if call.disposition.is_none() {
                        call.disposition = Some(if call.answered_at.is_some() {
                            Disposition::Answered
                        } else {
                            Disposition::Cancelled
                        });
                    }
                    self.events.push_back(Event::CallEnded(key));
                }
            }
            Method::Cancel => call.cancelled = true,
            Method::Info => {
                if let Some(digit) = dtmf_info_digit(msg) {
                    let press = KeyPress {
                        party: sender,
                        digit,
                        at: now,
                    };
                    self.events.push_back(Event::Dtmf(key, press));
                }
                if let Some(value) = msg.header_by_name(&self.config.record_header) {
                    let user = msg.from().and_then(|f| f.user()).unwrap_or("").to_string();
                    self.pending_infos.push(PendingInfo {
                        call: key,
                        cseq,
                        info: RecordInfo {
                            value: value.to_string(),
                            user,
                            party: sender,
                            requested_at: now,
                            answer: InfoAnswer::Unanswered,
                        },
                    });
                }
            }
            _ => {}
        }
        if msg.has_sdp() {
            self.announce(key, sender, msg);
        }
    }

    #[expect(clippy::too_many_arguments, reason = "the fields of one response")]
    fn on_response(
        &mut self,
        now: Timestamp,
        key: CallKey,
        code: u16,
        sender: Party,
        cseq: u32,
        cseq_method: Method,
        msg: &Message,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        match cseq_method {
            Method::Invite => match code {
                100..=199 => {
                    if call.state == CallState::Calling {
                        call.state = CallState::Proceeding;
                    }
                }
                // A 2xx after the call ended (a late copy, or an answer after the ringing
                // time-out) changes nothing: the call is over in the journal's books.
                200..=299 if !call.is_ended() => {
                    let tag = msg.to().and_then(|to| to.tag);
                    if let Some(tag) = tag
                        && !call.dialogs.iter().any(|d| d == tag)
                        && call.dialogs.len() < 8
                    {
                        call.dialogs.push(tag.to_string());
                    }
                    if call.answered_at.is_none() {
                        call.answered_at = Some(now);
                        call.disposition = Some(Disposition::Answered);
                        call.final_status = Some(code);
                        // A forked INVITE may be refused by one branch, answered by another.
                        call.ended_at = None;
                        self.events.push_back(Event::CallAnswered(key));
                    }
                    call.state = CallState::Confirmed;
                }
                200..=299 => {}
                _ => {
                    // A failed re-INVITE (488 to a T.38 offer, say) does not end an answered
                    // call; a final answer to the first INVITE decides the outcome, unless a
                    // new INVITE follows within the retry window.
                    if call.answered_at.is_none() && !call.is_ended() {
                        call.final_status = Some(code);
                        call.state = CallState::Rejected;
                        call.ended_at = Some(now);
                        call.disposition = Some(Disposition::from_status(code, call.cancelled));
                    }
                }
            },
            Method::Info if code >= 200 => {
                let answer = if (200..300).contains(&code) {
                    InfoAnswer::Accepted(now, code)
                } else {
                    InfoAnswer::Refused(now, code)
                };
                if let Some(at) = self
                    .pending_infos
                    .iter()
                    .position(|p| p.call == key && p.cseq == cseq)
                {
                    let mut pending = self.pending_infos.remove(at);
                    pending.info.answer = answer;
                    self.events.push_back(Event::RecordInfo(key, pending.info));
                }
            }
            _ => {}
        }
        if msg.has_sdp() && (100..300).contains(&code) {
            self.announce(key, sender, msg);
        }
    }

    /// Binds the media a party announced in SDP to the call.
    fn announce(&mut self, key: CallKey, party: Party, msg: &Message) {
        let Some(sdp) = Sdp::parse(msg.body()) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let wanted = sdp.media.iter().filter_map(|media| {
            let ip = sdp.media_address(media)?;
            let usable = media.port != 0
                && !ip.is_unspecified()
                && matches!(media.kind, MediaKind::Audio | MediaKind::Image);
            usable.then_some((ip, media))
        });
        // An address the configuration knows as translated (NAT) is bound as well.
        let aliases = &self.config.aliases;
        let wanted: Vec<_> = wanted
            .flat_map(|(ip, media)| {
                let alias = aliases.get(&ip).map(|&alias| (alias, media));
                std::iter::once((ip, media)).chain(alias)
            })
            .collect();
        for (ip, media) in wanted {
            let addr = SocketAddr::new(ip, media.port);
            let list = &mut call.announced[party.index()];
            let index = match list.iter().position(|a| a.addr == addr) {
                Some(index) => {
                    // A re-INVITE on the same address may change codecs or direction.
                    list[index].media = media.clone();
                    index
                }
                None if list.len() < MAX_ADDRESSES_PER_PARTY => {
                    list.push(AnnouncedMedia {
                        addr,
                        media: media.clone(),
                    });
                    list.len() - 1
                }
                None => continue,
            };

            let rtcp_addr = match (media.rtcp_mux, media.rtcp) {
                (true, _) => None,
                (false, Some((port, rtcp_ip))) => {
                    Some(SocketAddr::new(rtcp_ip.unwrap_or(ip), port))
                }
                (false, None) => media.port.checked_add(1).map(|p| SocketAddr::new(ip, p)),
            };
            let binding = Binding {
                call: key,
                receiver: party,
                media: index,
                rtcp: false,
            };
            bind(
                &mut self.bindings,
                &mut self.events,
                &mut self.stats,
                &self.config,
                addr,
                binding,
            );
            if let Some(rtcp) = rtcp_addr {
                let binding = Binding {
                    rtcp: true,
                    ..binding
                };
                bind(
                    &mut self.bindings,
                    &mut self.events,
                    &mut self.stats,
                    &self.config,
                    rtcp,
                    binding,
                );
            }
        }
    }

    /// Routes a UDP payload on a possible media address to its call.
    pub fn handle_media<'p>(
        &mut self,
        now: Timestamp,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &'p [u8],
    ) -> MediaVerdict<'p> {
        // Sent to an announced address: the other party's voice. Sent from one (symmetric
        // RTP): the announcer's own.
        let (binding, voice, by_destination) = match self.bindings.get(&dst) {
            Some(b) => (*b, b.receiver.other(), true),
            None => match self.bindings.get(&src) {
                Some(b) => (*b, b.receiver, false),
                None => return MediaVerdict::NotOurs,
            },
        };
        let Some(call) = self.calls.get_mut(&binding.call) else {
            return MediaVerdict::NotOurs;
        };
        let Some(announced) = call.announced[binding.receiver.index()].get(binding.media) else {
            return MediaVerdict::NotOurs;
        };
        call.last_activity = call.last_activity.max(now);

        if binding.rtcp || (announced.media.rtcp_mux && rtp::is_rtcp_type(payload)) {
            call.rtcp_packets += 1;
            self.stats.rtcp_packets += 1;
            return MediaVerdict::Rtcp(binding.call);
        }
        let packet = match RtpPacket::new_checked(payload) {
            Ok(packet) => packet,
            Err(_) => {
                call.other_media_packets += 1;
                return MediaVerdict::Other(binding.call);
            }
        };
        let ssrc = packet.ssrc();
        let existing = call
            .streams
            .iter()
            .position(|s| s.ssrc == ssrc && s.src == src && s.dst == dst);
        // On an address last offered for T.38 (m=image), a packet is RTP only if it continues
        // a stream already seen: the offer may be refused, and audio goes on meanwhile.
        if announced.media.kind != MediaKind::Audio && existing.is_none() {
            call.other_media_packets += 1;
            return MediaVerdict::Other(binding.call);
        }

        let (codec, kind) = classify(&announced.media, &packet);
        let encrypted = announced.media.is_secure();
        let index = match existing {
            Some(index) => Some(index),
            None if call.streams.len() < MAX_STREAMS_PER_CALL => {
                call.streams
                    .push(RtpStream::new(src, dst, ssrc, voice, now));
                Some(call.streams.len() - 1)
            }
            None => {
                call.dropped_streams += 1;
                None
            }
        };
        if let Some(index) = index {
            let digit =
                call.streams[index].record(now, packet.sequence(), packet.timestamp(), kind);
            if let Some(digit) = digit {
                let press = KeyPress {
                    party: voice,
                    digit,
                    at: now,
                };
                self.events.push_back(Event::Dtmf(binding.call, press));
            }
        }
        self.stats.rtp_packets += 1;

        // NAT: the sender's real address was not announced; latch it so the return stream
        // to it is found as well.
        if by_destination && !self.bindings.contains_key(&src) {
            let sender = voice.index();
            if call.announced[sender].len() < MAX_ADDRESSES_PER_PARTY {
                let media = call.announced[sender]
                    .first()
                    .map(|a| a.media.clone())
                    .unwrap_or_else(|| announced.media.clone());
                call.announced[sender].push(AnnouncedMedia { addr: src, media });
                let latched = Binding {
                    call: binding.call,
                    receiver: voice,
                    media: call.announced[sender].len() - 1,
                    rtcp: false,
                };
                bind(
                    &mut self.bindings,
                    &mut self.events,
                    &mut self.stats,
                    &self.config,
                    src,
                    latched,
                );
            }
        }

        MediaVerdict::Rtp(RtpRoute {
            call: binding.call,
            party: voice,
            codec,
            encrypted,
            packet,
        })
    }

    /// Advances time: ends calls whose time-outs ran out, answers stale INFOs, finishes calls
    /// whose grace period is over.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let config = self.config.clone();

        let stale: Vec<usize> = (0..self.pending_infos.len())
            .filter(|&i| now.since(self.pending_infos[i].info.requested_at) >= config.info_timeout)
            .collect();
        for i in stale.into_iter().rev() {
            let pending = self.pending_infos.remove(i);
            self.events
                .push_back(Event::RecordInfo(pending.call, pending.info));
        }

        let mut ended = Vec::new();
        let mut finished = Vec::new();
        for (key, call) in &mut self.calls {
            let idle = now.since(call.last_activity);
            match call.state {
                CallState::Terminated => {
                    if now.since(call.ended_at.unwrap_or(call.last_activity)) >= config.grace {
                        finished.push(*key);
                    }
                }
                CallState::Rejected => {
                    // After an authentication challenge a person may be typing a password.
                    let window = match call.final_status {
                        Some(401 | 407) => config.auth_retry_window,
                        _ => config.retry_window,
                    };
                    if now.since(call.ended_at.unwrap_or(call.last_activity)) >= window {
                        call.state = CallState::Terminated;
                        call.end_reason = Some(EndReason::FinalResponse);
                        ended.push(*key);
                    }
                }
                CallState::Calling | CallState::Proceeding => {
                    if idle >= config.ringing_timeout {
                        end_idle(call, Disposition::Failed);
                        ended.push(*key);
                    }
                }
                CallState::Confirmed => {
                    if idle >= config.media_timeout {
                        end_idle(call, Disposition::Answered);
                        ended.push(*key);
                    }
                }
            }
        }
        ended.sort_unstable();
        finished.sort_unstable();
        for key in ended {
            self.flush_infos(key);
            self.events.push_back(Event::CallEnded(key));
        }
        for key in finished {
            self.finish(key);
        }
    }

    /// Ends every call still up (the capture is over) and finishes all calls.
    pub fn finish_all(&mut self, reason: EndReason) {
        let mut keys: Vec<CallKey> = self.calls.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let Some(call) = self.calls.get_mut(&key) else {
                continue;
            };
            match call.state {
                CallState::Terminated => {}
                CallState::Rejected => {
                    call.state = CallState::Terminated;
                    call.end_reason = Some(EndReason::FinalResponse);
                    self.flush_infos(key);
                    self.events.push_back(Event::CallEnded(key));
                }
                _ => {
                    call.state = CallState::Terminated;
                    call.ended_at = Some(call.last_activity);
                    call.end_reason = Some(reason);
                    if call.answered_at.is_some() {
                        call.disposition = Some(Disposition::Answered);
                    }
                    self.flush_infos(key);
                    self.events.push_back(Event::CallEnded(key));
                }
            }
            self.finish(key);
        }
    }

    /// Reports INFOs of a call that never got an answer.
    fn flush_infos(&mut self, key: CallKey) {
        let mut i = 0;
        while i < self.pending_infos.len() {
            if self.pending_infos[i].call == key {
                let pending = self.pending_infos.remove(i);
                self.events.push_back(Event::RecordInfo(key, pending.info));
            } else {
                i += 1;
            }
        }
    }

    /// Unbinds a call's media and announces that it can be taken.
    fn finish(&mut self, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if !call.is_ended() {
            call.state = CallState::Terminated;
            call.ended_at = Some(call.last_activity);
            call.end_reason.get_or_insert(EndReason::Replaced);
            self.events.push_back(Event::CallEnded(key));
        }
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for list in &call.announced {
            for announced in list {
                addrs.push(announced.addr);
                if let Some(port) = announced.addr.port().checked_add(1) {
                    addrs.push(SocketAddr::new(announced.addr.ip(), port));
                }
                if let Some((port, ip)) = announced.media.rtcp {
                    addrs.push(SocketAddr::new(ip.unwrap_or(announced.addr.ip()), port));
                }
            }
        }
        for addr in addrs {
            if self.bindings.get(&addr).is_some_and(|b| b.call == key) {
                self.bindings.remove(&addr);
                self.events.push_back(Event::MediaUnbound(key, addr));
            }
        }
        if self.by_call_id.get(&call.call_id) == Some(&key) {
            self.by_call_id.remove(&call.call_id);
        }
        self.flush_infos(key);
        if let Some(call) = self.calls.remove(&key) {
            self.finished.insert(key, call);
        }
        self.events.push_back(Event::CallFinished(key));
    }

    /// Gives up the stalest calls, unanswered ones first: a sixty-fourth of the table at a
    /// time, so a flood of new calls costs one sort per batch, not a scan per INVITE.
    fn evict_oldest(&mut self, now: Timestamp) {
        let batch = (self.config.max_calls / 64).max(1);
        let mut candidates: Vec<(bool, Timestamp, CallKey)> = self
            .calls
            .values()
            .map(|c| (c.answered_at.is_some(), c.last_activity, c.key))
            .collect();
        candidates.sort_unstable();
        for (_, _, key) in candidates.into_iter().take(batch) {
            if let Some(call) = self.calls.get_mut(&key)
                && !call.is_ended()
            {
                end_idle(call, Disposition::Failed);
                call.end_reason = Some(EndReason::Timeout);
            }
            self.finish(key);
            self.stats.calls_evicted += 1;
            if self.stats.calls_evicted.is_power_of_two() {
                tracing::warn!(
                    table = "calls",
                    limit = self.config.max_calls,
                    evicted = self.stats.calls_evicted,
                    at = %now,
                    "call table full, stalest calls given up (unanswered first)"
                );
            }
        }
    }
}

/// Fills in the parties of a call from its first INVITE.
fn start_call(call: &mut Call, msg: &Message) {
    if let Some(from) = msg.from() {
        // Without a user part in From (a URI of just a host), the asserted identity or the
        // display name says more than nothing; the host is the last resort.
        let asserted = msg
            .header(crate::wire::sip::HeaderName::PAssertedIdentity)
            .and_then(|v| crate::wire::sip::NameAddr::parse(v).user());
        let caller = from
            .user()
            .or(asserted)
            .or(from.display)
            .unwrap_or_else(|| uri_host(from.uri));
        call.caller = caller.to_string();
        call.caller_name = from.display.map(str::to_string);
        call.caller_tag = from.tag.map(str::to_string);
    }
    let to_user = msg.to().and_then(|to| to.user());
    let uri_user = crate::wire::sip::uri_user(msg.request_uri());
    call.callee = to_user.or(uri_user).unwrap_or("").to_string();
    call.user_agent = msg
        .header(crate::wire::sip::HeaderName::UserAgent)
        .map(str::to_string);
}

/// The key of a DTMF INFO: `application/dtmf-relay` (`Signal=5`) or `application/dtmf` (`5`).
fn dtmf_info_digit(msg: &Message) -> Option<char> {
    let kind = msg.content_type()?;
    let body = std::str::from_utf8(msg.body()).ok()?;
    let value = if kind.eq_ignore_ascii_case("application/dtmf-relay") {
        body.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("signal")
                .then_some(value.trim())
        })?
    } else if kind.eq_ignore_ascii_case("application/dtmf") {
        body.trim()
    } else {
        return None;
    };
    let digit = value.chars().next()?.to_ascii_uppercase();
    // Some phones send events 10 and 11 for * and #.
    match value {
        "10" => Some('*'),
        "11" => Some('#'),
        _ if value.len() == 1 && matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D') => Some(digit),
        _ => None,
    }
}

/// The host of a SIP URI: `sip:10.0.0.1:5060;user=phone` gives `10.0.0.1`.
fn uri_host(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split([';', '?']).next().unwrap_or(rest);
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| h.trim_start_matches('['));
    }
    host.split(':').next().unwrap_or(host)
}

/// Which party sent a message: requests carrying the caller's From tag come from the caller,
/// responses to them from the callee; the other way round for the callee's requests.
fn sender_of(call: &Call, msg: &Message) -> Party {
    let from = msg.from();
    let from_caller = match (from.and_then(|f| f.tag), call.caller_tag.as_deref()) {
        (Some(tag), Some(caller_tag)) => tag == caller_tag,
        // No tags to compare: fall back to the From user.
        _ => from
            .and_then(|f| f.user())
            .is_some_and(|user| user == call.caller),
    };
    let request_from_caller = from_caller;
    match (msg.is_request(), request_from_caller) {
        (true, true) | (false, false) => Party::Caller,
        _ => Party::Callee,
    }
}

fn message_identity(msg: &Message, src: SocketAddr, cseq: u32, method: Method) -> u64 {
    let mut hasher = DefaultHasher::new();
    msg.start_line().hash(&mut hasher);
    cseq.hash(&mut hasher);
    method.hash(&mut hasher);
    msg.top_via_branch().hash(&mut hasher);
    msg.from().and_then(|f| f.tag).hash(&mut hasher);
    msg.to().and_then(|t| t.tag).hash(&mut hasher);
    // Without a branch (RFC 2543 peers) the sender tells hops apart.
    if msg.top_via_branch().is_none() {
        src.hash(&mut hasher);
    }
    hasher.finish()
}

#[expect(clippy::too_many_arguments, reason = "the fields of one summary")]
fn push_summary(
    call: &mut Call,
    now: Timestamp,
    src: SocketAddr,
    dst: SocketAddr,
    msg: &Message,
    cseq: u32,
    cseq_method: Method,
    identity: u64,
) {
    if call.messages.len() >= MAX_MESSAGES_PER_CALL {
        call.dropped_messages += 1;
        return;
    }
    let label = match msg.start_line() {
        StartLine::Request(_) => msg.start_text().to_string(),
        StartLine::Response(code) => format!("{code} {}", msg.start_text()),
    };
    let method_text = match cseq_method {
        Method::Other => msg
            .header(crate::wire::sip::HeaderName::CSeq)
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_string(),
        known => known.as_str().to_string(),
    };
    call.messages.push(MessageSummary {
        at: now,
        src,
        dst,
        label,
        cseq: format!("{cseq} {method_text}"),
        has_sdp: msg.has_sdp(),
        duplicates: 0,
        identity,
    });
}

fn end_idle(call: &mut Call, disposition: Disposition) {
    call.state = CallState::Terminated;
    call.ended_at = Some(call.last_activity);
    call.end_reason = Some(EndReason::Timeout);
    if call.disposition.is_none() {
        call.disposition = Some(disposition);
    }
}

fn bind(
    bindings: &mut HashMap<SocketAddr, Binding>,
    events: &mut VecDeque<Event>,
    stats: &mut CorrelatorStats,
    config: &CorrelatorConfig,
    addr: SocketAddr,
    binding: Binding,
) {
    if !bindings.contains_key(&addr) && bindings.len() >= config.max_bindings {
        stats.bindings_refused += 1;
        if stats.bindings_refused.is_power_of_two() {
            tracing::warn!(
                table = "media-bindings",
                limit = config.max_bindings,
                refused = stats.bindings_refused,
                "binding table full, media address not followed"
            );
        }
        return;
    }
    if bindings.insert(addr, binding).is_none() {
        events.push_back(Event::MediaBound(binding.call, addr));
    }
}

/// What a packet's payload type is, per the SDP of the address it was sent to.
fn classify<'m>(
    media: &'m crate::wire::sdp::Media,
    packet: &RtpPacket<&[u8]>,
) -> (Codec, PayloadKind<'m>) {
    let Some((encoding, clock_rate)) = media.encoding(packet.payload_type()) else {
        return (Codec::Unknown, PayloadKind::Unknown);
    };
    let codec = Codec::from_encoding(encoding, clock_rate);
    let kind = match codec {
        Codec::TelephoneEvent => PayloadKind::Event(TelephoneEvent::parse(packet.payload()).ok()),
        Codec::ComfortNoise => PayloadKind::ComfortNoise,
        Codec::Unsupported | Codec::Unknown => PayloadKind::Voice {
            encoding,
            clock_rate,
        },
        known => PayloadKind::Voice {
            encoding: known.name(),
            clock_rate,
        },
    };
    (codec, kind)
}

#[cfg(test)]
mod tests;
