//! The login rate limit: failed logins are counted per client address and per user name over
//! a sliding window, and a login is refused (429) while either count is at its limit.
//!
//! The defaults ([`LoginLimits::default`]): 20 failures per address and 5 per user name in 15
//! minutes. The address limit slows one client guessing many names; the user limit slows
//! many clients guessing one user's password, at the price that they can lock that user out
//! for the window (the user can still ask an admin, who sees the failures in the audit log).
//! The address is the TCP peer: `X-Forwarded-For` is not trusted, as any client can send it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most keys (addresses and names) tracked at once; past that the stalest is forgotten.
const MAX_KEYS: usize = 100_000;

/// How many failed logins are allowed, and over what window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures allowed from one client address within the window.
    pub per_address: u32,
    /// Failures allowed for one user name within the window.
    pub per_user: u32,
    /// The sliding window.
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> LoginLimits {
        LoginLimits {
            per_address: 20,
            per_user: 5,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Failed logins per key, for the limits.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Live keys forgotten because the table was full.
    evicted: AtomicU64,
}

impl LoginLimiter {
    /// A limiter with no failures yet.
    pub fn new(limits: LoginLimits) -> LoginLimiter {
        LoginLimiter {
            limits,
            failures: Mutex::new(HashMap::new()),
            evicted: AtomicU64::new(0),
        }
    }

    /// Whether a login may be tried now; if not, how long until it may.
    pub fn check(&self, address: &str, user: &str, now: Instant) -> Result<(), Duration> {
        let mut failures = self.lock();
        let keys = [
            (address_key(address), self.limits.per_address),
            (user_key(user), self.limits.per_user),
        ];
        let mut wait = Duration::ZERO;
        for (key, limit) in keys {
            if let Some(times) = failures.get_mut(&key) {
                prune(times, now, self.limits.window);
                if times.len() >= limit as usize
                    && let Some(&first) = times.front()
                {
                    wait = wait.max(self.limits.window - now.duration_since(first));
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failed login.
    pub fn failed(&self, address: &str, user: &str, now: Instant) {
        let mut failures = self.lock();
        if failures.len() + 2 > MAX_KEYS {
            let window = self.limits.window;
            failures.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
            if failures.len() + 2 > MAX_KEYS {
                // Still full of live keys (a flood of names): forget the stalest sixteenth at
                // once, so the table stays bounded and the scan is not paid per attempt.
                let mut by_age: Vec<(Option<Instant>, String)> = failures
                    .iter()
                    .map(|(k, t)| (t.back().copied(), k.clone()))
                    .collect();
                by_age.sort_unstable();
                let forget = (MAX_KEYS / 16).max(2);
                for (_, key) in by_age.into_iter().take(forget) {
                    failures.remove(&key);
                }
                let evicted = self.evicted.fetch_add(forget as u64, Ordering::Relaxed);
                tracing::warn!(
                    table = "login-failures",
                    limit = MAX_KEYS,
                    evicted = evicted + forget as u64,
                    "failed-login table full, stalest entries forgotten"
                );
            }
        }
        for key in [address_key(address), user_key(user)] {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// Keys (addresses and user names) tracked now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no failure is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets a user name's failures after it logged in. The address keeps its count, or a
    /// client with one valid account could reset its own limit between guesses.
    pub fn succeeded(&self, user: &str) {
        self.lock().remove(&user_key(user));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn address_key(address: &str) -> String {
    format!("a:{address}")
}

fn user_key(user: &str) -> String {
    format!("u:{user}")
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|&t| now.duration_since(t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: LoginLimits = LoginLimits {
        per_address: 4,
        per_user: 2,
        window: Duration::from_secs(60),
    };

    #[test]
    fn a_user_name_is_limited_until_its_failures_leave_the_window() {
        let limiter = LoginLimiter::new(LIMITS);
        let t0 = Instant::now();
        limiter.failed("10.0.0.1", "alice", t0);
        assert!(limiter.check("10.0.0.2", "alice", t0).is_ok());
        limiter.failed("10.0.0.2", "alice", t0 + Duration::from_secs(10));
        // Two failures for alice: refused from any address, for the rest of the window.
        let wait = limiter.check("10.0.0.3", "alice", t0 + Duration::from_secs(20));
        assert_eq!(wait, Err(Duration::from_secs(40)));
        assert!(limiter.check("10.0.0.3", "bob", t0).is_ok());
        assert!(
            limiter
                .check("10.0.0.3", "alice", t0 + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_limited_across_user_names() {
        let limiter = LoginLimiter::new(LIMITS);
        let t0 = Instant::now();
        for name in ["a", "b", "c", "d"] {
            assert!(limiter.check("10.0.0.9", name, t0).is_ok());
            limiter.failed("10.0.0.9", name, t0);
        }
        assert!(limiter.check("10.0.0.9", "e", t0).is_err());
        assert!(limiter.check("10.0.0.8", "e", t0).is_ok());
    }

    #[test]
    fn a_flood_of_names_keeps_the_table_bounded() {
        let limiter = LoginLimiter::new(LoginLimits::default());
        let now = Instant::now();
        for i in 0..(MAX_KEYS + 20_000) {
            limiter.failed(
                &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                "x",
                now,
            );
            limiter.failed("10.0.0.1", &format!("user{i}"), now);
        }
        assert!(limiter.len() <= MAX_KEYS, "{} keys", limiter.len());
        assert!(limiter.evicted.load(Ordering::Relaxed) > 0);
        // The newest name (its failures later than the flood's) is still limited.
        let later = now + Duration::from_millis(1);
        for _ in 0..LoginLimits::default().per_user {
            limiter.failed("10.9.9.9", "newest", later);
        }
        assert!(limiter.check("10.9.9.8", "newest", later).is_err());
    }

    #[test]
    fn success_clears_the_user_but_not_the_address() {
        let limiter = LoginLimiter::new(LIMITS);
        let t0 = Instant::now();
        for _ in 0..2 {
            limiter.failed("10.0.0.1", "alice", t0);
        }
        limiter.failed("10.0.0.1", "x", t0);
        limiter.failed("10.0.0.1", "y", t0);
        limiter.succeeded("alice");
        assert!(limiter.check("10.0.0.2", "alice", t0).is_ok());
        assert!(limiter.check("10.0.0.1", "alice", t0).is_err());
    }
}
