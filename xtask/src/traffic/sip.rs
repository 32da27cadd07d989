//! The SIP messages of a generated call (RFC 3261 over UDP, SDP per RFC 4566), as a phone and
//! a PBX or carrier would send them: one dialog, requests in two CSeq spaces, responses
//! mirroring the request's Via, From, To, Call-ID and CSeq.

use std::fmt::Write;

use super::plan::{CallPlan, Step};

/// The SIP port of both ends.
pub const SIP_PORT: u16 = 5060;

/// Which end sends a step (0 caller, 1 callee).
pub fn sender(plan: &CallPlan, step: Step) -> usize {
    match step {
        Step::Invite | Step::Ack => 0,
        Step::Trying | Step::Ringing | Step::Answer => 1,
        Step::InfoOn(_) | Step::InfoOff(_) => plan.agent,
        Step::InfoOnOk(_) | Step::InfoOffOk(_) => 1 - plan.agent,
        Step::Bye => plan.hangs_up,
        Step::ByeOk => 1 - plan.hangs_up,
    }
}

/// The request a step is or answers, and the CSeq number of that request in its sender's
/// space (the caller's starts at 1 with the INVITE, the callee's at 101).
fn request(plan: &CallPlan, step: Step) -> (&'static str, Step, u32) {
    let (method, request) = match step {
        Step::Invite | Step::Trying | Step::Ringing | Step::Answer => ("INVITE", Step::Invite),
        Step::Ack => ("ACK", Step::Invite),
        Step::InfoOn(p) | Step::InfoOnOk(p) => ("INFO", Step::InfoOn(p)),
        Step::InfoOff(p) | Step::InfoOffOk(p) => ("INFO", Step::InfoOff(p)),
        Step::Bye | Step::ByeOk => ("BYE", Step::Bye),
    };
    let from = sender(plan, request);
    // In-dialog requests of this end before this one (the INVITE counts for the caller).
    let earlier = plan
        .steps
        .iter()
        .take_while(|(_, s)| *s != request)
        .filter(|(_, s)| is_request(*s) && *s != Step::Ack && sender(plan, *s) == from)
        .count() as u32;
    (method, request, if from == 0 { 1 } else { 101 } + earlier)
}

fn is_request(step: Step) -> bool {
    matches!(
        step,
        Step::Invite | Step::Ack | Step::InfoOn(_) | Step::InfoOff(_) | Step::Bye
    )
}

fn sdp(plan: &CallPlan, end: usize) -> String {
    let e = &plan.ends[end];
    let session = 1000 + u64::from(plan.index) * 2 + end as u64;
    let pt = plan.law.payload_type();
    format!(
        "v=0\r\no={user} {session} {session} IN IP4 {ip}\r\ns=call\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
        user = e.number,
        ip = e.ip,
        port = e.rtp_port,
        name = plan.law.name(),
    )
}

/// Writes the message of `step` into `out` (cleared first).
pub fn render(plan: &CallPlan, step: Step, out: &mut String) {
    out.clear();
    let (method, request, cseq) = request(plan, step);
    let from_end = sender(plan, request);
    let to_end = 1 - from_end;
    let (a, b) = (&plan.ends[from_end], &plan.ends[to_end]);
    let uri = |n: usize| format!("sip:{}@{}", plan.ends[n].number, plan.ends[n].ip);
    let name_of = |n: usize| {
        plan.ends[n]
            .name
            .as_ref()
            .map(|name| format!("\"{name}\" "))
            .unwrap_or_default()
    };
    // The dialog's From and To follow who sent the request, as RFC 3261 section 12.2 says.
    let from_tag = &a.tag;
    let to_tag = (!matches!(step, Step::Invite | Step::Trying)).then_some(&b.tag);
    // The ACK of a 2xx is a transaction of its own (RFC 3261 section 17.1.1.3).
    let ack = if step == Step::Ack { "a" } else { "" };
    let branch = format!("z9hG4bK{}-{}-{cseq}{ack}", plan.index, from_end);
    let body = match step {
        Step::Invite => sdp(plan, 0),
        Step::Answer => sdp(plan, 1),
        _ => String::new(),
    };

    let _ = match step {
        Step::Trying => write!(out, "SIP/2.0 100 Trying\r\n"),
        Step::Ringing => write!(out, "SIP/2.0 180 Ringing\r\n"),
        Step::Answer | Step::InfoOnOk(_) | Step::InfoOffOk(_) | Step::ByeOk => {
            write!(out, "SIP/2.0 200 OK\r\n")
        }
        _ => write!(out, "{method} {}:{SIP_PORT} SIP/2.0\r\n", uri(to_end)),
    };
    let _ = write!(
        out,
        "Via: SIP/2.0/UDP {}:{SIP_PORT};branch={branch};rport\r\n",
        a.ip
    );
    if is_request(step) {
        out.push_str("Max-Forwards: 70\r\n");
    }
    let _ = write!(
        out,
        "From: {}<{}>;tag={from_tag}\r\n",
        name_of(from_end),
        uri(from_end)
    );
    let _ = match to_tag {
        Some(tag) => write!(
            out,
            "To: {}<{}>;tag={tag}\r\n",
            name_of(to_end),
            uri(to_end)
        ),
        None => write!(out, "To: {}<{}>\r\n", name_of(to_end), uri(to_end)),
    };
    let _ = write!(
        out,
        "Call-ID: {}\r\nCSeq: {cseq} {method}\r\n",
        plan.call_id
    );
    let contact_end = if is_request(step) { from_end } else { to_end };
    if matches!(step, Step::Invite | Step::Ringing | Step::Answer) {
        let _ = write!(out, "Contact: <{}:{SIP_PORT}>\r\n", uri(contact_end));
    }
    if matches!(step, Step::Invite | Step::Answer) {
        out.push_str("Allow: INVITE, ACK, CANCEL, BYE, INFO, OPTIONS\r\n");
        out.push_str("User-Agent: recorder-xtask traffic generator\r\n");
    }
    match step {
        Step::InfoOn(_) => out.push_str("Record: on\r\n"),
        Step::InfoOff(_) => out.push_str("Record: off\r\n"),
        _ => {}
    }
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n{body}", body.len());
}
