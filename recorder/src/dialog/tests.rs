//! Correlator tests on hand-written SIP with a fake clock.

use super::*;

const CALLER: &str = "10.0.0.1:5060";
const CALLEE: &str = "10.0.0.2:5060";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_micros(ms * 1000)
}

struct Harness {
    correlator: Correlator,
    events: Vec<Event>,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            correlator: Correlator::new(CorrelatorConfig::default(), 1),
            events: Vec::new(),
        }
    }

    fn sip(&mut self, ms: i64, src: &str, dst: &str, text: &str) {
        let bytes = text.replace('\n', "\r\n");
        let msg = Message::parse(bytes.as_bytes()).unwrap();
        self.correlator
            .handle_sip(at(ms), addr(src), addr(dst), &msg);
        self.drain();
    }

    fn rtp(&mut self, ms: i64, src: &str, dst: &str, seq: u16) -> Option<Party> {
        let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        packet[2..4].copy_from_slice(&seq.to_be_bytes());
        packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        packet.extend_from_slice(&[0xff; 160]);
        let party = match self
            .correlator
            .handle_media(at(ms), addr(src), addr(dst), &packet)
        {
            MediaVerdict::Rtp(route) => Some(route.party),
            _ => None,
        };
        self.drain();
        party
    }

    fn tick(&mut self, ms: i64) {
        self.correlator.handle_timeout(at(ms));
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(event) = self.correlator.poll_event() {
            self.events.push(event);
        }
    }

    fn finished(&mut self) -> Vec<Call> {
        let keys: Vec<CallKey> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::CallFinished(k) => Some(*k),
                _ => None,
            })
            .collect();
        keys.into_iter()
            .filter_map(|k| self.correlator.take_finished(k))
            .collect()
    }
}

fn invite(cseq: u32, branch: &str, sdp_port: u16) -> String {
    let body = format!(
        "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n\
         m=audio {sdp_port} RTP/AVP 0\n"
    );
    format!(
        "INVITE sip:2002@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch={branch}\n\
From: \"Alice\" <sip:1001@x>;tag=a1\nTo: <sip:2002@x>\nCall-ID: c1@x\nCSeq: {cseq} INVITE\n\
Content-Type: application/sdp\nContent-Length: {}\n\n{body}",
        body.replace('\n', "\r\n").len()
    )
}

fn response(code: &str, cseq: &str, branch: &str, sdp_port: Option<u16>) -> String {
    let body = sdp_port
        .map(|p| {
            format!(
                "v=0\no=- 1 1 IN IP4 10.0.0.2\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\n\
                 m=audio {p} RTP/AVP 0\n"
            )
        })
        .unwrap_or_default();
    let kind = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    };
    format!(
        "SIP/2.0 {code}\nVia: SIP/2.0/UDP 10.0.0.1;branch={branch}\n\
From: \"Alice\" <sip:1001@x>;tag=a1\n\
To: <sip:2002@x>;tag=b2\nCall-ID: c1@x\nCSeq: {cseq}\n{kind}Content-Length: {}\n\n{body}",
        body.replace('\n', "\r\n").len()
    )
}

fn request(method: &str, cseq: u32, branch: &str, extra: &str) -> String {
    format!(
        "{method} sip:2002@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch={branch}\n\
From: <sip:1001@x>;tag=a1\nTo: <sip:2002@x>;tag=b2\nCall-ID: c1@x\nCSeq: {cseq} {method}\n\
{extra}Content-Length: 0\n\n"
    )
}

#[test]
fn an_answered_call_with_media_and_bye() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        1,
        CALLEE,
        CALLER,
        &response("180 Ringing", "1 INVITE", "z9hG4bK1", None),
    );
    h.sip(
        1000,
        CALLEE,
        CALLER,
        &response("200 OK", "1 INVITE", "z9hG4bK1", Some(7000)),
    );
    h.sip(1001, CALLER, CALLEE, &request("ACK", 1, "z9hG4bK2", ""));
    assert_eq!(
        h.rtp(1020, "10.0.0.1:6000", "10.0.0.2:7000", 1),
        Some(Party::Caller)
    );
    assert_eq!(
        h.rtp(1021, "10.0.0.2:7000", "10.0.0.1:6000", 1),
        Some(Party::Callee)
    );
    assert_eq!(
        h.rtp(1040, "10.0.0.1:6000", "10.0.0.2:7000", 2),
        Some(Party::Caller)
    );
    assert_eq!(h.rtp(1040, "10.9.9.9:1", "10.9.9.9:2", 2), None);
    h.sip(5000, CALLER, CALLEE, &request("BYE", 2, "z9hG4bK3", ""));
    h.sip(
        5001,
        CALLEE,
        CALLER,
        &response("200 OK", "2 BYE", "z9hG4bK3", None),
    );
    assert!(h.events.contains(&Event::CallEnded(CallKey(1))));
    h.tick(20_000);

    let calls = h.finished();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        (call.caller.as_str(), call.callee.as_str()),
        ("1001", "2002")
    );
    assert_eq!(call.caller_name.as_deref(), Some("Alice"));
    assert_eq!(call.disposition, Some(Disposition::Answered));
    assert_eq!(call.end_reason, Some(EndReason::Bye));
    assert_eq!(call.answered_at, Some(at(1000)));
    assert_eq!(call.ended_at, Some(at(5000)));
    assert_eq!(call.streams.len(), 2);
    assert_eq!(call.streams[0].packets, 2);
    assert_eq!(call.streams[0].codec.as_deref(), Some("PCMU"));
    // Bindings are gone with the call.
    assert_eq!(h.correlator.bound_addresses(), 0);
}

#[test]
fn retransmissions_are_one_message() {
    let mut h = Harness::new();
    for ms in [0, 500, 1500] {
        h.sip(ms, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    }
    h.sip(
        1600,
        CALLEE,
        CALLER,
        &response("486 Busy Here", "1 INVITE", "z9hG4bK1", None),
    );
    h.sip(
        1700,
        CALLEE,
        CALLER,
        &response("486 Busy Here", "1 INVITE", "z9hG4bK1", None),
    );
    h.correlator.finish_all(EndReason::CaptureEnd);
    h.drain();
    let call = &h.finished()[0];
    assert_eq!(call.messages.len(), 2);
    assert_eq!(call.messages[0].duplicates, 2);
    assert_eq!(call.disposition, Some(Disposition::Busy));
    assert_eq!(call.end_reason, Some(EndReason::FinalResponse));
    assert_eq!(call.ended_at, Some(at(1600)));
}

#[test]
fn an_authentication_challenge_does_not_end_the_call() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        5,
        CALLEE,
        CALLER,
        &response(
            "407 Proxy Authentication Required",
            "1 INVITE",
            "z9hG4bK1",
            None,
        ),
    );
    h.sip(10, CALLER, CALLEE, &invite(2, "z9hG4bK9", 6000));
    h.sip(
        900,
        CALLEE,
        CALLER,
        &response("200 OK", "2 INVITE", "z9hG4bK9", Some(7000)),
    );
    h.tick(60_000);
    assert!(h.finished().is_empty(), "no BYE, still up");
    h.correlator.finish_all(EndReason::CaptureEnd);
    h.drain();
    let call = &h.finished()[0];
    assert_eq!(call.disposition, Some(Disposition::Answered));
    assert_eq!(call.end_reason, Some(EndReason::CaptureEnd));
    assert_eq!(call.ended_at, Some(at(900)));
}

#[test]
fn cancel_and_unanswered_time_out() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        100,
        CALLER,
        CALLEE,
        &request("CANCEL", 1, "z9hG4bK1", "")
            .replace("To: <sip:2002@x>;tag=b2", "To: <sip:2002@x>"),
    );
    h.sip(
        101,
        CALLEE,
        CALLER,
        &response("487 Request Terminated", "1 INVITE", "z9hG4bK1", None),
    );
    h.tick(40_000);
    h.tick(41_000);
    let call = &h.finished()[0];
    assert_eq!(call.disposition, Some(Disposition::Cancelled));
    assert_eq!(call.end_reason, Some(EndReason::FinalResponse));

    // An INVITE nobody ever answers is given up after the ringing time-out.
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.tick(179_000);
    assert!(h.finished().is_empty());
    h.tick(181_000);
    h.tick(190_000);
    let call = &h.finished()[0];
    assert_eq!(call.disposition, Some(Disposition::Failed));
    assert_eq!(call.end_reason, Some(EndReason::Timeout));
}

#[test]
fn an_answered_call_without_bye_times_out_after_media_stops() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        1000,
        CALLEE,
        CALLER,
        &response("200 OK", "1 INVITE", "z9hG4bK1", Some(7000)),
    );
    for i in 0..100 {
        h.rtp(1000 + i * 20, "10.0.0.1:6000", "10.0.0.2:7000", i as u16);
    }
    h.tick(200_000);
    assert!(h.finished().is_empty());
    h.tick(400_000);
    h.tick(410_000);
    let call = &h.finished()[0];
    assert_eq!(call.end_reason, Some(EndReason::Timeout));
    assert_eq!(call.ended_at, Some(at(1000 + 99 * 20)));
}

#[test]
fn record_infos_report_their_answers() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        1000,
        CALLEE,
        CALLER,
        &response("200 OK", "1 INVITE", "z9hG4bK1", Some(7000)),
    );
    h.sip(
        5000,
        CALLER,
        CALLEE,
        &request("INFO", 2, "z9hG4bK5", "Record: on\n"),
    );
    h.sip(
        5001,
        CALLEE,
        CALLER,
        &response("200 OK", "2 INFO", "z9hG4bK5", None),
    );
    h.sip(
        6000,
        CALLER,
        CALLEE,
        &request("INFO", 3, "z9hG4bK6", "Record: off\n"),
    );
    h.sip(
        6001,
        CALLEE,
        CALLER,
        &response("488 Not Acceptable Here", "3 INFO", "z9hG4bK6", None),
    );
    h.sip(
        7000,
        CALLER,
        CALLEE,
        &request("INFO", 4, "z9hG4bK7", "Record: on\n"),
    );
    h.correlator.finish_all(EndReason::CaptureEnd);
    h.drain();
    let infos: Vec<RecordInfo> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::RecordInfo(_, info) => Some(info.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(infos.len(), 3);
    assert_eq!(infos[0].answer, InfoAnswer::Accepted(at(5001), 200));
    assert_eq!(infos[0].user, "1001");
    assert_eq!(infos[0].party, Party::Caller);
    assert_eq!(infos[1].answer, InfoAnswer::Refused(at(6001), 488));
    assert_eq!(infos[2].answer, InfoAnswer::Unanswered);
}

#[test]
fn a_reused_call_id_after_bye_is_a_new_call() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        10,
        CALLEE,
        CALLER,
        &response("200 OK", "1 INVITE", "z9hG4bK1", Some(7000)),
    );
    h.sip(20, CALLER, CALLEE, &request("BYE", 2, "z9hG4bK2", ""));
    h.sip(1000, CALLER, CALLEE, &invite(3, "z9hG4bK3", 6002));
    h.correlator.finish_all(EndReason::CaptureEnd);
    h.drain();
    let calls = h.finished();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].end_reason, Some(EndReason::Bye));
    assert_eq!(calls[1].started_at, at(1000));
}

#[test]
fn symmetric_and_latched_rtp() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        10,
        CALLEE,
        CALLER,
        &response("200 OK", "1 INVITE", "z9hG4bK1", Some(7000)),
    );
    // The callee is behind NAT: its RTP comes from 192.0.2.9:30000, not 10.0.0.2:7000.
    assert_eq!(
        h.rtp(20, "192.0.2.9:30000", "10.0.0.1:6000", 1),
        Some(Party::Callee)
    );
    // The caller's RTP to the latched address is found too.
    assert_eq!(
        h.rtp(21, "10.0.0.1:6000", "192.0.2.9:30000", 1),
        Some(Party::Caller)
    );
}

#[test]
fn the_call_table_is_bounded() {
    let config = CorrelatorConfig {
        max_calls: 10,
        ..CorrelatorConfig::default()
    };
    let mut h = Harness {
        correlator: Correlator::new(config, 1),
        events: Vec::new(),
    };
    for i in 0..100 {
        let text = invite(1, "z9hG4bK1", 6000).replace("c1@x", &format!("flood{i}@x"));
        h.sip(i, CALLER, CALLEE, &text);
    }
    assert_eq!(h.correlator.active_calls(), 10);
    assert_eq!(h.correlator.stats.calls_evicted, 90);
}

#[test]
fn an_answer_after_the_ringing_time_out_changes_nothing() {
    let config = CorrelatorConfig {
        ringing_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let mut h = Harness {
        correlator: Correlator::new(config, 1),
        events: Vec::new(),
    };
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.tick(6000);
    assert!(h.events.contains(&Event::CallEnded(CallKey(1))));
    h.sip(
        6500,
        CALLEE,
        CALLER,
        &response("200 OK", "1 INVITE", "z9hG4bK1", Some(7000)),
    );
    h.tick(20_000);
    let call = &h.finished()[0];
    assert_eq!(call.end_reason, Some(EndReason::Timeout));
    assert_eq!(call.answered_at, None);
    assert_eq!(call.ended_at, Some(at(0)));
}

#[test]
fn dtmf_infos_are_key_presses() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        10,
        CALLEE,
        CALLER,
        &response("200 OK", "1 INVITE", "z9hG4bK1", Some(7000)),
    );
    let relay = request(
        "INFO",
        2,
        "z9hG4bK5",
        "Content-Type: application/dtmf-relay\n",
    )
    .replace(
        "Content-Length: 0\n\n",
        "Content-Length: 24\n\nSignal=*\r\nDuration=160\r\n",
    );
    h.sip(100, CALLER, CALLEE, &relay);
    let plain = request("INFO", 3, "z9hG4bK6", "Content-Type: application/dtmf\n")
        .replace("Content-Length: 0\n\n", "Content-Length: 1\n\n1");
    h.sip(200, CALLER, CALLEE, &plain);
    let presses: Vec<(Party, char)> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Dtmf(_, press) => Some((press.party, press.digit)),
            _ => None,
        })
        .collect();
    assert_eq!(presses, vec![(Party::Caller, '*'), (Party::Caller, '1')]);
}

#[test]
fn a_forked_call_ends_with_its_last_dialog() {
    let mut h = Harness::new();
    h.sip(0, CALLER, CALLEE, &invite(1, "z9hG4bK1", 6000));
    h.sip(
        5,
        CALLEE,
        CALLER,
        &response("180 Ringing", "1 INVITE", "z9hG4bK1", None),
    );
    // Two forks answer: b2 (the usual tag) and f3; the caller hangs up on f3 at once.
    h.sip(
        900,
        CALLEE,
        CALLER,
        &response("200 OK", "1 INVITE", "z9hG4bK1", Some(7000)),
    );
    let fork = response("200 OK", "1 INVITE", "z9hG4bK1", Some(7002)).replace("tag=b2", "tag=f3");
    h.sip(910, "10.0.0.3:5060", CALLER, &fork);
    let bye_fork = request("BYE", 2, "z9hG4bK7", "").replace("tag=b2", "tag=f3");
    h.sip(920, CALLER, "10.0.0.3:5060", &bye_fork);
    assert!(
        !h.events.contains(&Event::CallEnded(CallKey(1))),
        "one dialog is still up"
    );
    h.sip(5000, CALLER, CALLEE, &request("BYE", 3, "z9hG4bK8", ""));
    h.tick(20_000);
    let call = &h.finished()[0];
    assert_eq!(call.end_reason, Some(EndReason::Bye));
    assert_eq!(call.ended_at, Some(at(5000)));
    assert_eq!(call.answered_at, Some(at(900)));
}
