//! The recording policy: whether a call's audio is kept, when, and why.
//!
//! At the start of a call the rules decide ([`Policy::decide`]): `never` rules first (they
//! win over everything, the record button included), then the other rules in order, first
//! match wins, then the default mode. During the call, a record-button INFO
//! ([`Control::on_record_info`]) starts or stops a segment if the user may record, the call
//! is not excluded, and the far end accepted the INFO with a 2xx. Every step leaves a
//! [`Decision`] with its reason, for the journal.

pub mod pattern;

use serde::Serialize;

use crate::config::{CallDirection, Config, Mode, RuleAction, RuleConfig};
use crate::dialog::{InfoAnswer, KeyPress, RecordInfo};
use crate::time::Timestamp;

/// What the policy says about a call at its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Record the whole call.
    Record,
    /// Record only if someone presses the record button.
    OnDemand,
    /// Never record it.
    Never,
}

/// What started a recording segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The policy records the call.
    Policy,
    /// A user's Record INFO.
    Info,
    /// A user's DTMF keys.
    Dtmf,
}

impl Trigger {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Policy => "policy",
            Trigger::Info => "info",
            Trigger::Dtmf => "dtmf",
        }
    }
}

/// One decision about a call, with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// When it was taken (capture time).
    pub at: Timestamp,
    /// `record`, `on-demand`, `never`, `start`, `stop` or `ignore`.
    pub action: &'static str,
    /// Why, in words a supervisor understands.
    pub reason: String,
}

/// What the media side must do after a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a segment at this time.
    Start(Timestamp, Trigger),
    /// Close the open segment at this time.
    Stop(Timestamp),
    /// Nothing.
    None,
}

/// The facts about a call the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct CallFacts<'a> {
    /// The caller's number.
    pub caller: &'a str,
    /// The called number.
    pub callee: &'a str,
}

/// The policy, built from the configuration.
#[derive(Clone, Debug)]
pub struct Policy {
    config: Config,
}

impl Policy {
    /// The policy of a configuration.
    pub fn new(config: &Config) -> Policy {
        Policy {
            config: config.clone(),
        }
    }

    fn is_internal(&self, number: &str) -> bool {
        self.config.users.iter().any(|u| u.extension == number)
            || self
                .config
                .policy
                .internal
                .iter()
                .any(|p| p.matches(number))
    }

    /// The direction of a call from its parties.
    pub fn direction(&self, facts: CallFacts<'_>) -> CallDirection {
        match (
            self.is_internal(facts.caller),
            self.is_internal(facts.callee),
        ) {
            (true, true) => CallDirection::Internal,
            (true, false) => CallDirection::Outbound,
            (false, true) => CallDirection::Inbound,
            (false, false) => CallDirection::Unknown,
        }
    }

    /// Decides at the start of a call.
    pub fn decide(&self, facts: CallFacts<'_>) -> (Verdict, String) {
        let direction = self.direction(facts);
        let rules = &self.config.policy.rules;

        let never = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.action == RuleAction::Never);
        for (i, rule) in never {
            if let Some(why) = rule_matches(rule, facts, direction) {
                let reason = format!("{} matched {why}: never record", rule_name(rule, i));
                return (Verdict::Never, reason);
            }
        }
        let others = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.action != RuleAction::Never);
        for (i, rule) in others {
            if let Some(why) = rule_matches(rule, facts, direction) {
                let (verdict, what) = match rule.action {
                    RuleAction::Record => (Verdict::Record, "record the call"),
                    _ => (Verdict::OnDemand, "record only on demand"),
                };
                return (
                    verdict,
                    format!("{} matched {why}: {what}", rule_name(rule, i)),
                );
            }
        }
        match self.config.policy.default {
            Mode::Always => (
                Verdict::Record,
                "no rule matched; default mode always".into(),
            ),
            Mode::Never => (Verdict::Never, "no rule matched; default mode never".into()),
            Mode::OnDemand => (
                Verdict::OnDemand,
                "no rule matched; default mode on-demand: waiting for a Record INFO".into(),
            ),
        }
    }

    /// Whether a phone user's record button counts.
    pub fn may_record(&self, user: &str) -> bool {
        self.config
            .users
            .iter()
            .any(|u| u.extension == user && u.may_record)
    }

    /// Explains, in lines of text, what the policy decides for a call and a button press.
    pub fn explain(&self, facts: CallFacts<'_>, user: Option<&str>) -> Vec<String> {
        let (verdict, reason) = self.decide(facts);
        let mut lines = vec![
            format!("caller {} -> callee {}", facts.caller, facts.callee),
            format!("direction: {}", self.direction(facts).as_str()),
            format!("at call start: {} ({reason})", verdict_name(verdict)),
        ];
        if let Some(user) = user {
            let on = &self.config.on_demand;
            let line = match verdict {
                Verdict::Never => {
                    format!(
                        "{}: {} from {user}: ignored, the call must never be recorded",
                        on.header, on.on
                    )
                }
                Verdict::Record => {
                    format!(
                        "{}: {} from {user}: no effect, the call is recorded anyway",
                        on.header, on.on
                    )
                }
                Verdict::OnDemand if self.may_record(user) => format!(
                    "{}: {} from {user}: starts a segment once the far end answers 2xx",
                    on.header, on.on
                ),
                Verdict::OnDemand => {
                    format!(
                        "{}: {} from {user}: ignored, {user} may not record",
                        on.header, on.on
                    )
                }
            };
            lines.push(line);
        }
        lines
    }

    /// The on-demand settings.
    pub fn on_demand(&self) -> &crate::config::OnDemandConfig {
        &self.config.on_demand
    }
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Record => "record",
        Verdict::OnDemand => "on-demand",
        Verdict::Never => "never",
    }
}

fn rule_name(rule: &RuleConfig, index: usize) -> String {
    match &rule.name {
        Some(name) => format!("rule {} ({name})", index + 1),
        None => format!("rule {}", index + 1),
    }
}

/// Whether every condition of a rule holds; if so, the words saying which.
fn rule_matches(
    rule: &RuleConfig,
    facts: CallFacts<'_>,
    direction: CallDirection,
) -> Option<String> {
    let mut why = Vec::new();
    if let Some(p) = &rule.caller {
        if !p.matches(facts.caller) {
            return None;
        }
        why.push(format!("caller {} ({p})", facts.caller));
    }
    if let Some(p) = &rule.callee {
        if !p.matches(facts.callee) {
            return None;
        }
        why.push(format!("callee {} ({p})", facts.callee));
    }
    if let Some(p) = &rule.number {
        let hit = [facts.caller, facts.callee]
            .into_iter()
            .find(|n| p.matches(n))?;
        why.push(format!("number {hit} ({p})"));
    }
    if let Some(d) = rule.direction {
        if d != direction {
            return None;
        }
        why.push(format!("direction {}", d.as_str()));
    }
    Some(why.join(", "))
}

/// The recording state of one call.
#[derive(Clone, Debug)]
pub struct Control {
    verdict: Verdict,
    open: Option<Trigger>,
    /// Keys each party pressed lately (caller, callee), with when the last one came.
    keys: [(String, Option<Timestamp>); 2],
    /// Every decision so far.
    pub decisions: Vec<Decision>,
}

/// Keys further apart than this start a new sequence.
const KEY_GAP: crate::time::Duration = crate::time::Duration::from_secs(3);

impl Control {
    /// Decides at the start of a call; returns the control and what to do now.
    pub fn start(policy: &Policy, facts: CallFacts<'_>, now: Timestamp) -> (Control, Action) {
        let (verdict, reason) = policy.decide(facts);
        let mut control = Control {
            verdict,
            open: None,
            keys: [(String::new(), None), (String::new(), None)],
            decisions: Vec::new(),
        };
        control.decisions.push(Decision {
            at: now,
            action: verdict_name(verdict),
            reason,
        });
        let action = if verdict == Verdict::Record {
            control.open = Some(Trigger::Policy);
            Action::Start(now, Trigger::Policy)
        } else {
            Action::None
        };
        (control, action)
    }

    /// The verdict at call start.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The reason for the verdict at call start.
    pub fn verdict_reason(&self) -> &str {
        self.decisions.first().map_or("", |d| d.reason.as_str())
    }

    /// Whether a segment is open.
    pub fn is_recording(&self) -> bool {
        self.open.is_some()
    }

    fn note(&mut self, at: Timestamp, action: &'static str, reason: String) {
        // A hostile phone can send INFOs without end; keep the first thousand decisions.
        if self.decisions.len() < 1000 {
            self.decisions.push(Decision { at, action, reason });
        }
    }

    /// Handles a record-button INFO and its answer.
    pub fn on_record_info(&mut self, policy: &Policy, info: &RecordInfo) -> Action {
        let settings = policy.on_demand();
        let value = info.value.trim();
        let what = format!(
            "INFO {}: {value} from {}",
            settings.header,
            display_user(&info.user)
        );
        let at = info.requested_at;

        let on = if value.eq_ignore_ascii_case(&settings.on) {
            true
        } else if value.eq_ignore_ascii_case(&settings.off) {
            false
        } else {
            let reason = format!(
                "{what} ignored: value is neither \"{}\" nor \"{}\"",
                settings.on, settings.off
            );
            self.note(at, "ignore", reason);
            return Action::None;
        };
        if self.refuses(policy, &info.user, &what, at) {
            return Action::None;
        }
        let answered_at = match info.answer {
            InfoAnswer::Accepted(answered_at, _) => answered_at,
            InfoAnswer::Refused(refused_at, code) => {
                self.note(
                    refused_at,
                    "ignore",
                    format!("{what} refused by the far end ({code})"),
                );
                return Action::None;
            }
            InfoAnswer::Unanswered => {
                self.note(
                    at,
                    "ignore",
                    format!("{what} ignored: no answer to the INFO was seen"),
                );
                return Action::None;
            }
        };

        let what = format!("{what} accepted");
        self.switch(on, &what, answered_at, Trigger::Info)
    }

    /// Notes that the segment just started covers the call from its first audio (look-back).
    pub fn note_look_back(&mut self, since: Timestamp) {
        let reason = "look-back: the recording covers the call from its first audio".to_string();
        self.note(since, "start", reason);
    }

    /// Handles a key a party pressed; `user` is the party's number.
    pub fn on_key(&mut self, policy: &Policy, press: &KeyPress, user: &str) -> Action {
        let settings = policy.on_demand();
        let (Some(on), off) = (settings.dtmf_on.as_deref(), settings.dtmf_off.as_deref()) else {
            return Action::None;
        };
        let (keys, last) = &mut self.keys[press.party.index()];
        if last.is_some_and(|at| press.at.since(at) > KEY_GAP) {
            keys.clear();
        }
        *last = Some(press.at);
        keys.push(press.digit);
        if keys.len() > 16 {
            keys.remove(0);
        }
        let start = keys.ends_with(on);
        let stop = off.is_some_and(|off| keys.ends_with(off));
        if !start && !stop {
            return Action::None;
        }
        let pressed = if start { on } else { off.unwrap_or_default() };
        keys.clear();
        let what = format!("DTMF {pressed} from {}", display_user(user));
        let at = press.at;
        if self.refuses(policy, user, &what, at) {
            return Action::None;
        }
        self.switch(start, &what, at, Trigger::Dtmf)
    }

    /// Whether a user's request (`what`) cannot count, whatever it asks: the call must never
    /// be recorded, or the user may not record. The reason is noted.
    fn refuses(&mut self, policy: &Policy, user: &str, what: &str, at: Timestamp) -> bool {
        let why = if self.verdict == Verdict::Never {
            "this call must never be recorded"
        } else if !policy.may_record(user) {
            "no permission"
        } else {
            return false;
        };
        self.note(at, "ignore", format!("{what} ignored: {why}"));
        true
    }

    /// Switches recording on or off for a user's request (`what` names it for the reasons).
    fn switch(&mut self, on: bool, what: &str, at: Timestamp, trigger: Trigger) -> Action {
        match (on, self.open) {
            (true, None) => {
                self.open = Some(trigger);
                self.note(at, "start", format!("{what}: recording starts"));
                Action::Start(at, trigger)
            }
            (true, Some(_)) => {
                self.note(at, "ignore", format!("{what}: already recording"));
                Action::None
            }
            (false, Some(Trigger::Policy)) => {
                let reason = format!("{what}: ignored, the policy records this whole call");
                self.note(at, "ignore", reason);
                Action::None
            }
            (false, Some(_)) => {
                self.open = None;
                self.note(at, "stop", format!("{what}: recording stops"));
                Action::Stop(at)
            }
            (false, None) => {
                self.note(at, "ignore", format!("{what}: not recording"));
                Action::None
            }
        }
    }

    /// The call ended: close an open segment.
    pub fn on_end(&mut self, at: Timestamp, how: &str) -> Action {
        match self.open.take() {
            Some(_) => {
                self.note(at, "stop", format!("call ended ({how}): recording stops"));
                Action::Stop(at)
            }
            None => Action::None,
        }
    }
}

fn display_user(user: &str) -> &str {
    if user.is_empty() {
        "an unknown user"
    } else {
        user
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::Party;

    fn policy(text: &str) -> Policy {
        Policy::new(&Config::parse(text).unwrap())
    }

    const BASE: &str = r#"
[policy]
default = "on-demand"
internal = ["1???", "2???"]
[[policy.rules]]
callee = "+4930*"
action = "record"
[[policy.rules]]
name = "works council"
number = "2999"
action = "never"
[[users]]
extension = "1001"
may_record = true
[[users]]
extension = "203"
"#;

    fn facts<'a>(caller: &'a str, callee: &'a str) -> CallFacts<'a> {
        CallFacts { caller, callee }
    }

    fn info(value: &str, user: &str, answer: InfoAnswer) -> RecordInfo {
        RecordInfo {
            value: value.into(),
            user: user.into(),
            party: Party::Caller,
            requested_at: Timestamp::from_micros(1_000_000),
            answer,
        }
    }

    fn ok(at_s: i64) -> InfoAnswer {
        InfoAnswer::Accepted(Timestamp::from_micros(at_s * 1_000_000), 200)
    }

    #[test]
    fn rules_and_default() {
        let p = policy(BASE);
        let (v, why) = p.decide(facts("1001", "+4930123"));
        assert_eq!(v, Verdict::Record);
        assert_eq!(
            why,
            "rule 1 matched callee +4930123 (+4930*): record the call"
        );
        assert_eq!(p.decide(facts("1001", "2002")).0, Verdict::OnDemand);
        assert_eq!(p.direction(facts("1001", "2002")), CallDirection::Internal);
        assert_eq!(p.direction(facts("+4930", "2002")), CallDirection::Inbound);
        // The never rule is second in the file but wins over the record rule.
        let (v, why) = p.decide(facts("2999", "+4930123"));
        assert_eq!(v, Verdict::Never);
        assert!(
            why.starts_with("rule 2 (works council) matched number 2999"),
            "{why}"
        );
    }

    #[test]
    fn info_pairs_make_segments() {
        let p = policy(BASE);
        let (mut c, action) = Control::start(&p, facts("1001", "2002"), Timestamp::from_micros(0));
        assert_eq!(action, Action::None);
        assert!(matches!(
            c.on_record_info(&p, &info("on", "1001", ok(5))),
            Action::Start(_, Trigger::Info)
        ));
        assert!(matches!(
            c.on_record_info(&p, &info(" ON ", "1001", ok(6))),
            Action::None
        ));
        assert!(matches!(
            c.on_record_info(&p, &info("off", "1001", ok(12))),
            Action::Stop(_)
        ));
        assert!(matches!(
            c.on_record_info(&p, &info("on", "1001", ok(18))),
            Action::Start(..)
        ));
        assert!(matches!(
            c.on_end(Timestamp::from_micros(25_000_000), "bye"),
            Action::Stop(_)
        ));
    }

    #[test]
    fn dtmf_sequences_start_and_stop_recording() {
        let p = policy(&format!(
            "{BASE}[on_demand]\ndtmf_on = \"*1\"\ndtmf_off = \"*2\"\n"
        ));
        let (mut c, _) = Control::start(&p, facts("1001", "2002"), Timestamp::from_micros(0));
        let press = |digit, s: i64| KeyPress {
            party: crate::dialog::Party::Caller,
            digit,
            at: Timestamp::from_micros(s * 1_000_000),
        };
        assert_eq!(c.on_key(&p, &press('*', 1), "1001"), Action::None);
        assert!(matches!(
            c.on_key(&p, &press('1', 1), "1001"),
            Action::Start(_, Trigger::Dtmf)
        ));
        // A lone '2' long after the '*' is no stop sequence.
        assert_eq!(c.on_key(&p, &press('*', 3), "1001"), Action::None);
        assert_eq!(c.on_key(&p, &press('2', 9), "1001"), Action::None);
        assert_eq!(c.on_key(&p, &press('*', 10), "1001"), Action::None);
        assert!(matches!(
            c.on_key(&p, &press('2', 10), "1001"),
            Action::Stop(_)
        ));
        // The same keys from a user without permission do nothing.
        assert_eq!(c.on_key(&p, &press('*', 20), "203"), Action::None);
        assert_eq!(c.on_key(&p, &press('1', 20), "203"), Action::None);
        assert_eq!(
            c.decisions.last().unwrap().reason,
            "DTMF *1 from 203 ignored: no permission"
        );
    }

    #[test]
    fn refused_unpermitted_and_excluded_infos_do_nothing() {
        let p = policy(BASE);
        let (mut c, _) = Control::start(&p, facts("1001", "2002"), Timestamp::from_micros(0));
        let refused = InfoAnswer::Refused(Timestamp::from_micros(2), 488);
        assert_eq!(
            c.on_record_info(&p, &info("on", "1001", refused)),
            Action::None
        );
        assert!(
            c.decisions
                .last()
                .unwrap()
                .reason
                .contains("refused by the far end (488)")
        );
        assert_eq!(
            c.on_record_info(&p, &info("on", "203", ok(3))),
            Action::None
        );
        assert_eq!(
            c.decisions.last().unwrap().reason,
            "INFO Record: on from 203 ignored: no permission"
        );

        let (mut never, _) = Control::start(&p, facts("1001", "2999"), Timestamp::from_micros(0));
        assert_eq!(
            never.on_record_info(&p, &info("on", "1001", ok(3))),
            Action::None
        );
        assert!(
            never
                .decisions
                .last()
                .unwrap()
                .reason
                .contains("must never be recorded")
        );
    }
}
