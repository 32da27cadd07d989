//! Logged-in sessions, kept in memory: a random token in an HttpOnly cookie maps to the user
//! and the session's CSRF token.
//!
//! Sessions live until logout, [`SESSION_IDLE`] without a request, or [`SESSION_LIFETIME`]
//! after login, whichever is first; a restart of the server logs everybody out. At most
//! [`MAX_SESSIONS`] are kept: expired ones are dropped at each login, and past the limit the
//! oldest is dropped (counted and logged), so logins cannot grow memory without bound.
//!
//! TODO(#4): a session keeps the role and extension of its login; changing a user's role takes
//! effect at the next login (there is no user editing yet). Sessions are not persisted, so a
//! restart of `recorder run` logs everybody out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::password::random_token;
use crate::store::{Role, User};

/// How long a login lasts at most, however busy (the absolute limit).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How long a session lasts without a request (the idle limit): a browser left open on a
/// desk does not stay logged in all day.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// The most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

/// A logged-in user, as the session remembers it from the login.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Login name.
    pub user: String,
    /// Role at login.
    pub role: Role,
    /// Extension at login.
    pub extension: Option<String>,
    /// The token every form and API POST of this session must carry.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    /// Whether the session has expired at `now` (idle or absolute limit).
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.created) >= SESSION_LIFETIME
            || now.duration_since(self.last_seen) >= SESSION_IDLE
    }
}

/// The session table.
#[derive(Debug, Default)]
pub struct Sessions {
    table: Mutex<HashMap<String, Session>>,
    /// Live sessions dropped because the table was full.
    evicted: std::sync::atomic::AtomicU64,
}

impl Sessions {
    /// An empty table.
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// Starts a session for a user; returns its token and the session.
    pub fn create(&self, user: &User, now: Instant) -> Result<(String, Session), getrandom::Error> {
        let token = random_token()?;
        let session = Session {
            user: user.name.clone(),
            role: user.role,
            extension: user.extension.clone(),
            csrf: random_token()?,
            created: now,
            last_seen: now,
        };
        let mut table = self.lock();
        table.retain(|_, s| !s.expired(now));
        if table.len() >= MAX_SESSIONS
            && let Some(oldest) = table
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(t, _)| t.clone())
        {
            table.remove(&oldest);
            let evicted = self
                .evicted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            // Warn on the 1st, 2nd, 4th... eviction: a login flood must not flood the log.
            if evicted.is_power_of_two() {
                tracing::warn!(
                    table = "sessions",
                    limit = MAX_SESSIONS,
                    evicted,
                    "session table full, oldest session dropped"
                );
            }
        }
        table.insert(token.clone(), session.clone());
        Ok((token, session))
    }

    /// The live session with this token; a request through it counts as activity.
    pub fn get(&self, token: &str, now: Instant) -> Option<Session> {
        let mut table = self.lock();
        let session = table.get_mut(token)?;
        if session.expired(now) {
            table.remove(token);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Sessions held now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live sessions dropped so far because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a valid table (every change is one call).
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User {
            name: "alice".into(),
            role: Role::Agent,
            extension: Some("1001".into()),
            password_hash: String::new(),
        }
    }

    #[test]
    fn sessions_are_found_by_token_until_logout_or_expiry() {
        let sessions = Sessions::new();
        let t0 = Instant::now();
        let (token, session) = sessions.create(&alice(), t0).unwrap();
        assert_eq!(session.user, "alice");
        assert_eq!(sessions.get(&token, t0), Some(session.clone()));
        assert_eq!(sessions.get("other", t0), None);
        let late = t0 + SESSION_IDLE;
        assert_eq!(sessions.get(&token, late), None);

        let (token, _) = sessions.create(&alice(), t0).unwrap();
        sessions.remove(&token);
        assert_eq!(sessions.get(&token, t0), None);
    }

    #[test]
    fn an_idle_session_expires_and_a_busy_one_expires_at_its_absolute_limit() {
        let sessions = Sessions::new();
        let t0 = Instant::now();
        let (idle, _) = sessions.create(&alice(), t0).unwrap();
        let (busy, _) = sessions.create(&alice(), t0).unwrap();
        // A request every 20 minutes keeps the busy one alive past the idle limit...
        let step = Duration::from_secs(20 * 60);
        let mut now = t0;
        while now + step < t0 + SESSION_LIFETIME {
            now += step;
            assert!(
                sessions.get(&busy, now).is_some(),
                "busy session ended early"
            );
        }
        assert!(now.duration_since(t0) > SESSION_IDLE * 4);
        assert_eq!(
            sessions.get(&idle, now),
            None,
            "idle session outlived the idle limit"
        );
        // ...but not past the absolute one.
        assert_eq!(sessions.get(&busy, t0 + SESSION_LIFETIME), None);
    }

    #[test]
    fn expired_sessions_are_dropped_at_login_and_the_table_is_bounded() {
        let sessions = Sessions::new();
        let t0 = Instant::now();
        for _ in 0..100 {
            sessions.create(&alice(), t0).unwrap();
        }
        sessions.create(&alice(), t0 + SESSION_IDLE).unwrap();
        assert_eq!(sessions.len(), 1);
        for _ in 0..MAX_SESSIONS + 10 {
            sessions.create(&alice(), t0 + SESSION_IDLE).unwrap();
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert_eq!(sessions.evicted(), 11);
    }

    #[test]
    fn each_session_has_its_own_csrf_token() {
        let sessions = Sessions::new();
        let now = Instant::now();
        let (_, a) = sessions.create(&alice(), now).unwrap();
        let (_, b) = sessions.create(&alice(), now).unwrap();
        assert_ne!(a.csrf, b.csrf);
    }
}
