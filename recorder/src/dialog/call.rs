//! One call as the correlator follows it: parties, dialog state, outcome, media and messages.

use std::collections::HashSet;
use std::net::SocketAddr;

use serde::Serialize;

use super::Party;
use super::stream::RtpStream;
use crate::time::Timestamp;
use crate::wire::sdp::Media;

/// Messages kept per call for the ladder view; more are counted, not stored.
pub const MAX_MESSAGES_PER_CALL: usize = 1000;

/// RTP streams kept per call; more are counted, not stored.
pub const MAX_STREAMS_PER_CALL: usize = 64;

/// Media addresses bound per party (several hops may each announce one).
pub const MAX_ADDRESSES_PER_PARTY: usize = 16;

/// The journal's identifier of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CallKey(pub i64);

/// Where the INVITE dialog stands (RFC 3261 section 12 and 17.1.1 state names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// INVITE sent, nothing back yet.
    Calling,
    /// A provisional response came back (100-199).
    Proceeding,
    /// A final non-2xx came back; a new INVITE (after an authentication challenge, say) may
    /// still follow on the same Call-ID.
    Rejected,
    /// A 2xx came back: the call is up.
    Confirmed,
    /// BYE seen, or the call is otherwise over; media may still trickle in for a grace period.
    Terminated,
}

/// How a call turned out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A 2xx answered the INVITE.
    Answered,
    /// The caller withdrew the INVITE (CANCEL, 487).
    Cancelled,
    /// The callee was busy (486, 600).
    Busy,
    /// Refused by the callee or a proxy (other 3xx, 4xx, 6xx).
    Rejected,
    /// A server error (5xx), a time-out (408), or no final answer ever came.
    Failed,
}

impl Disposition {
    /// The outcome a final response status gives, if not cancelled.
    pub fn from_status(code: u16, cancelled: bool) -> Disposition {
        match code {
            200..=299 => Disposition::Answered,
            487 => Disposition::Cancelled,
            _ if cancelled => Disposition::Cancelled,
            486 | 600 => Disposition::Busy,
            408 | 500..=599 => Disposition::Failed,
            _ => Disposition::Rejected,
        }
    }

    /// The snake_case name used in the journal and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::Cancelled => "cancelled",
            Disposition::Busy => "busy",
            Disposition::Rejected => "rejected",
            Disposition::Failed => "failed",
        }
    }
}

/// How the correlator learned that a call was over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A BYE.
    Bye,
    /// A final non-2xx response ended an unanswered call.
    FinalResponse,
    /// No signalling or media for longer than the configured time-out.
    Timeout,
    /// The capture file ended with the call still up.
    CaptureEnd,
    /// A live capture was stopped with the call still up.
    CaptureStopped,
    /// A new INVITE reused the Call-ID after the call had ended.
    Replaced,
}

impl EndReason {
    /// The snake_case name used in the journal and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Bye => "bye",
            EndReason::FinalResponse => "final_response",
            EndReason::Timeout => "timeout",
            EndReason::CaptureEnd => "capture_end",
            EndReason::CaptureStopped => "capture_stopped",
            EndReason::Replaced => "replaced",
        }
    }
}

/// One SIP message of a call, for the ladder view.
#[derive(Clone, Debug, Serialize)]
pub struct MessageSummary {
    /// When it was seen (first copy).
    pub at: Timestamp,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The method (requests) or `"<code> <reason>"` (responses).
    pub label: String,
    /// The CSeq, e.g. `2 INFO`.
    pub cseq: String,
    /// Whether it carried SDP.
    pub has_sdp: bool,
    /// How many more copies were seen (retransmissions, other capture points).
    pub duplicates: u32,
    /// The transaction identity used to fold copies.
    #[serde(skip)]
    pub(super) identity: u64,
}

/// A media address a party announced in SDP, with the description it came with.
#[derive(Clone, Debug)]
pub struct AnnouncedMedia {
    /// Where the party receives the stream.
    pub addr: SocketAddr,
    /// The SDP media section (codecs, direction, crypto).
    pub media: Media,
}

/// A call, as far as the correlator has seen it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The journal's identifier.
    pub key: CallKey,
    /// The SIP Call-ID.
    pub call_id: String,
    /// The caller's number or user (From of the first INVITE).
    pub caller: String,
    /// The caller's display name, if any.
    pub caller_name: Option<String>,
    /// The number called (To of the first INVITE, else the Request-URI user).
    pub callee: String,
    /// The From tag of the first INVITE: requests carrying it come from the caller.
    pub caller_tag: Option<String>,
    /// Where the dialog stands.
    pub state: CallState,
    /// First INVITE.
    pub started_at: Timestamp,
    /// First 2xx to the INVITE.
    pub answered_at: Option<Timestamp>,
    /// BYE, final response, last activity (time-out) or capture end.
    pub ended_at: Option<Timestamp>,
    /// How it turned out, once known.
    pub disposition: Option<Disposition>,
    /// How it ended, once ended.
    pub end_reason: Option<EndReason>,
    /// The last final status to an INVITE of this call.
    pub final_status: Option<u16>,
    /// Whether a CANCEL was seen.
    pub cancelled: bool,
    /// The time of the last SIP message or RTP packet.
    pub last_activity: Timestamp,
    /// User-Agent of the caller's first INVITE.
    pub user_agent: Option<String>,
    /// Media each party announced; RTP to these addresses is the other party's voice.
    pub announced: [Vec<AnnouncedMedia>; 2],
    /// The RTP streams seen.
    pub streams: Vec<RtpStream>,
    /// RTCP packets seen.
    pub rtcp_packets: u64,
    /// Non-RTP packets seen on announced media addresses (T.38 UDPTL, for instance).
    pub other_media_packets: u64,
    /// The SIP messages, for the ladder view.
    pub messages: Vec<MessageSummary>,
    /// Messages and streams beyond the per-call bounds.
    pub dropped_messages: u64,
    /// Streams beyond [`MAX_STREAMS_PER_CALL`].
    pub dropped_streams: u64,
    /// Whether the capture joined the call after its INVITE.
    pub joined_midway: bool,
    /// The first leg of the conversation this call is a leg of (a PBX or SBC bridging two
    /// Call-IDs); its own key when it is the first or only leg.
    pub conversation: CallKey,
    /// Identity of each message seen, to fold retransmissions and duplicates.
    pub(super) seen: HashSet<u64>,
    /// CSeq numbers of the INVITEs seen (a new one after the end starts a new call).
    pub(super) invite_cseqs: Vec<u32>,
    /// The far-end tags of the dialogs a 2xx confirmed (more than one after forking).
    pub(super) dialogs: Vec<String>,
}

impl Call {
    /// A call starting with an INVITE at `now`.
    pub fn new(key: CallKey, call_id: &str, now: Timestamp) -> Call {
        Call {
            key,
            call_id: call_id.to_string(),
            caller: String::new(),
            caller_name: None,
            callee: String::new(),
            caller_tag: None,
            state: CallState::Calling,
            started_at: now,
            answered_at: None,
            ended_at: None,
            disposition: None,
            end_reason: None,
            final_status: None,
            cancelled: false,
            last_activity: now,
            user_agent: None,
            announced: [Vec::new(), Vec::new()],
            streams: Vec::new(),
            rtcp_packets: 0,
            other_media_packets: 0,
            messages: Vec::new(),
            dropped_messages: 0,
            dropped_streams: 0,
            joined_midway: false,
            conversation: key,
            seen: HashSet::new(),
            invite_cseqs: Vec::new(),
            dialogs: Vec::new(),
        }
    }

    /// Whether the call is over (media may still arrive during the grace period).
    pub fn is_ended(&self) -> bool {
        self.state == CallState::Terminated
    }

    /// Media a party announced.
    pub fn announced_by(&self, party: Party) -> &[AnnouncedMedia] {
        &self.announced[party.index()]
    }

    /// How long the call was up (answer to end), in seconds.
    pub fn talk_seconds(&self) -> Option<f64> {
        let (answered, ended) = (self.answered_at?, self.ended_at?);
        Some(ended.since(answered).as_secs_f64())
    }
}
