//! A passive call recorder: it watches SIP and RTP on a mirror port (or in a capture file),
//! follows every call, records the ones its policy asks for as stereo Ogg Opus, and keeps the
//! call journal in DuckDB.
//!
//! The layers, top-down as packets flow:
//!
//! - [`capture`]: where frames come from (capture files; live eBPF and libpcap sources). The
//!   only module that does packet I/O.
//! - [`wire`]: frames to transport payloads (link layers, tunnels, IP fragments, TCP
//!   streams), and SIP, SDP, RTP and RTCP views. Pure parsing, no I/O, no clock.
//! - [`dialog`]: the correlator, a state machine that follows SIP dialogs and binds RTP
//!   streams to calls through SDP. Time comes from the caller.
//! - [`policy`]: whether and when a call is recorded (rules, the record button), with reasons.
//! - [`media`]: RTP payloads to PCM, both parties aligned, encoded as stereo Ogg Opus.
//! - [`journal`]: the DuckDB journal and the recordings folder.
//! - [`pipeline`]: the above wired together; [`cli`] drives it from the command line.

pub mod capture;
pub mod cli;
pub mod config;
pub mod dialog;
pub mod journal;
pub mod media;
pub mod pipeline;
pub mod policy;
pub mod time;
pub mod wire;
