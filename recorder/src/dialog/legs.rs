//! Linking the legs of one conversation that a PBX or SBC bridges under different Call-IDs.
//!
//! A back-to-back user agent answers the caller on one dialog and calls the callee on another,
//! so the journal would show two calls for one conversation. A new call is taken for a leg of
//! an earlier one that is still up when:
//!
//! - both numbers match (or the callee matches and both callers are withheld) and it started
//!   within [`SAME_NUMBERS_WINDOW`] of it (an SBC whose two sides are on networks that never
//!   see each other's addresses), or
//! - one number matches, it started within [`RELAYED_WINDOW`], and the new call's INVITE came
//!   from the address the earlier INVITE went to (the PBX passing the call on).
//!
//! Numbers are compared on their last nine digits, so `+4930123456789`, `004930123456789` and
//! `030123456789` match. The window of recent starts is bounded.

use std::collections::VecDeque;
use std::net::IpAddr;

use super::{Call, CallKey};
use crate::time::{Duration, Timestamp};

/// How close in time two calls with the same caller and callee must start to be legs.
const SAME_NUMBERS_WINDOW: Duration = Duration::from_secs(2);

/// How close in time a relayed call must start after the call it continues.
const RELAYED_WINDOW: Duration = Duration::from_secs(10);

/// Recent call starts kept for linking.
const MAX_RECENT: usize = 10_000;

/// What linking looks at in a call's first INVITE.
#[derive(Clone, Debug)]
pub struct Leg {
    key: CallKey,
    at: Timestamp,
    caller: String,
    callee: String,
    from: IpAddr,
    to: IpAddr,
}

impl Leg {
    /// The leg of a call whose first INVITE went from `from` to `to`.
    pub fn of(call: &Call, from: IpAddr, to: IpAddr) -> Leg {
        Leg {
            key: call.key,
            at: call.started_at,
            caller: normalize(&call.caller),
            callee: normalize(&call.callee),
            from,
            to,
        }
    }

    fn continues(&self, earlier: &Leg) -> bool {
        let since = self.at.since(earlier.at);
        if self.at < earlier.at {
            return false;
        }
        let same_caller = !self.caller.is_empty() && self.caller == earlier.caller;
        let same_callee = !self.callee.is_empty() && self.callee == earlier.callee;
        // Withheld callers ("anonymous", "unavailable": no digits) count as the same caller
        // here, as an SBC passes the withheld number on as withheld.
        let both_withheld = self.caller.is_empty() && earlier.caller.is_empty();
        if (same_caller || both_withheld) && same_callee && since <= SAME_NUMBERS_WINDOW {
            return true;
        }
        let relayed = self.from == earlier.to && self.from != earlier.from;
        relayed && (same_caller || same_callee) && since <= RELAYED_WINDOW
    }
}

/// The last nine digits of a number (all of a shorter one); empty without digits.
fn normalize(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let start = digits.len().saturating_sub(9);
    digits[start..].iter().collect()
}

/// Recent call starts and the conversation each belongs to.
#[derive(Debug, Default)]
pub struct LegFinder {
    recent: VecDeque<(Leg, CallKey)>,
}

impl LegFinder {
    /// Finds the conversation a new call belongs to (its own key if none) and remembers it.
    /// `is_up` tells whether an earlier call is still up.
    pub fn link(&mut self, leg: &Leg, is_up: impl Fn(CallKey) -> bool) -> CallKey {
        while self
            .recent
            .front()
            .is_some_and(|(l, _)| leg.at.since(l.at) > RELAYED_WINDOW)
        {
            self.recent.pop_front();
        }
        let conversation = self
            .recent
            .iter()
            .rev()
            .find(|(earlier, _)| leg.continues(earlier) && is_up(earlier.key))
            .map_or(leg.key, |(_, conversation)| *conversation);
        if self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((leg.clone(), conversation));
        conversation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(key: i64, at_ms: i64, caller: &str, callee: &str, from: &str, to: &str) -> Leg {
        Leg {
            key: CallKey(key),
            at: Timestamp::from_micros(at_ms * 1000),
            caller: normalize(caller),
            callee: normalize(callee),
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
        }
    }

    #[test]
    fn links_a_pbx_leg_and_an_sbc_leg() {
        let mut finder = LegFinder::default();
        let up = |_| true;
        let a = leg(
            1,
            0,
            "+4930123456789",
            "2222",
            "192.168.20.132",
            "192.168.20.130",
        );
        assert_eq!(finder.link(&a, up), CallKey(1));
        // The PBX calls on: from the address the first INVITE went to, 5 s later.
        let b = leg(
            2,
            5000,
            "030123456789",
            "2222",
            "192.168.20.130",
            "192.168.20.1",
        );
        assert_eq!(finder.link(&b, up), CallKey(1));
        // An SBC's other side: same numbers, unrelated addresses, 6 ms later.
        let c = leg(
            3,
            5006,
            "004930123456789",
            "2222",
            "138.132.169.101",
            "10.1.1.1",
        );
        assert_eq!(finder.link(&c, up), CallKey(1));
    }

    #[test]
    fn does_not_link_strangers_or_ended_calls() {
        let mut finder = LegFinder::default();
        let a = leg(1, 0, "1111", "2222", "10.0.0.1", "10.0.0.9");
        finder.link(&a, |_| true);
        let other_numbers = leg(2, 100, "3333", "4444", "10.0.0.9", "10.0.0.2");
        assert_eq!(finder.link(&other_numbers, |_| true), CallKey(2));
        let too_late = leg(3, 3000, "1111", "2222", "10.0.0.5", "10.0.0.6");
        assert_eq!(finder.link(&too_late, |_| true), CallKey(3));
        let ended = leg(4, 200, "1111", "2222", "10.0.0.9", "10.0.0.2");
        assert_eq!(finder.link(&ended, |k| k != CallKey(1)), CallKey(4));
    }
}
