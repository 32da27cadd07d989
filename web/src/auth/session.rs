//! Logged-in sessions, kept in memory: a random token in an HttpOnly cookie maps to the user
//! and the session's CSRF token.
//!
//! Sessions live until logout or [`SESSION_LIFETIME`] after login, whichever is first; a
//! restart of the server logs everybody out. At most [`MAX_SESSIONS`] are kept: past that the
//! oldest is dropped, so logins cannot grow memory without bound.
//!
//! TODO(#4): a session keeps the role and extension of its login; changing a user's role takes
//! effect at the next login (there is no user editing yet). Sessions are not persisted, so a
//! restart of `recorder run` logs everybody out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::password::random_token;
use crate::store::{Role, User};

/// How long a login lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

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
}

/// The session table.
#[derive(Debug, Default)]
pub struct Sessions {
    table: Mutex<HashMap<String, Session>>,
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
        };
        let mut table = self.lock();
        table.retain(|_, s| now.duration_since(s.created) < SESSION_LIFETIME);
        if table.len() >= MAX_SESSIONS
            && let Some(oldest) = table
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(t, _)| t.clone())
        {
            table.remove(&oldest);
            tracing::warn!(
                max = MAX_SESSIONS,
                "session table full, oldest session dropped"
            );
        }
        table.insert(token.clone(), session.clone());
        Ok((token, session))
    }

    /// The live session with this token.
    pub fn get(&self, token: &str, now: Instant) -> Option<Session> {
        let mut table = self.lock();
        let session = table.get(token)?;
        if now.duration_since(session.created) >= SESSION_LIFETIME {
            table.remove(token);
            return None;
        }
        Some(session.clone())
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
        let late = t0 + SESSION_LIFETIME;
        assert_eq!(sessions.get(&token, late), None);

        let (token, _) = sessions.create(&alice(), t0).unwrap();
        sessions.remove(&token);
        assert_eq!(sessions.get(&token, t0), None);
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
