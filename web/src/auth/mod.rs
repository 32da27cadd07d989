//! Who is asking: logins (Argon2 passwords, a rate limit), sessions in an HttpOnly cookie,
//! CSRF tokens, and what each role may see.
//!
//! A logged-in request carries the session cookie ([`SESSION_COOKIE`], HttpOnly,
//! SameSite=Strict). Every POST carries the session's CSRF token too: forms in a hidden field
//! named `csrf`, API clients in the `X-CSRF-Token` header (the login answer tells them). The
//! login form has no session yet, so its token is a double-submit cookie
//! ([`LOGIN_CSRF_COOKIE`]) that must equal the form field.

pub mod limit;
pub mod password;
pub mod session;

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::AppState;
use crate::error::{PageError, WebError};
use crate::store::{AuditAction, Role, User};
use password::same_secret;
pub use session::Session;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "recorder_session";

/// The login form's double-submit CSRF cookie.
pub const LOGIN_CSRF_COOKIE: &str = "recorder_login_csrf";

/// The header API clients send their CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// Which calls a user may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every call (admins, supervisors).
    All,
    /// Calls where this extension is caller or callee (agents).
    Party(String),
    /// None (an agent without an extension).
    Nothing,
}

/// The logged-in user of a request; extracting it fails with 401 (API) or a redirect to the
/// login page (pages) when there is no live session.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// The session token (from the cookie).
    pub token: String,
    /// The session.
    pub session: Session,
    /// The client's IP address, for the audit log.
    pub address: String,
}

impl Viewer {
    /// Which calls this user may see.
    pub fn scope(&self) -> Scope {
        match (self.session.role, &self.session.extension) {
            (Role::Admin | Role::Supervisor, _) => Scope::All,
            (Role::Agent, Some(ext)) if !ext.is_empty() => Scope::Party(ext.clone()),
            (Role::Agent, _) => Scope::Nothing,
        }
    }

    /// Fails with 403 unless the user is an admin.
    pub fn require_admin(&self) -> Result<(), WebError> {
        if self.session.role == Role::Admin {
            Ok(())
        } else {
            Err(WebError::Forbidden("only admins may do this"))
        }
    }

    /// Fails with 403 unless `token` is this session's CSRF token.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), WebError> {
        match token {
            Some(token) if same_secret(token, &self.session.csrf) => Ok(()),
            _ => Err(WebError::Forbidden("missing or wrong CSRF token")),
        }
    }

    /// Checks the CSRF header of an API POST.
    pub fn check_csrf_header(&self, req: &HttpRequest) -> Result<(), WebError> {
        let token = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        self.check_csrf(token)
    }
}

impl FromRequest for Viewer {
    type Error = actix_web::Error;
    type Future = Ready<Result<Viewer, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(viewer(req).ok_or_else(|| {
            let next = match req.uri().path_and_query() {
                Some(pq) => pq.as_str().to_string(),
                None => "/".to_string(),
            };
            let err = WebError::Unauthenticated { next };
            if req.path().starts_with("/api/") {
                err.into()
            } else {
                PageError(err).into()
            }
        }))
    }
}

fn viewer(req: &HttpRequest) -> Option<Viewer> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let cookie = req.cookie(SESSION_COOKIE)?;
    let session = state.sessions.get(cookie.value(), Instant::now())?;
    Some(Viewer {
        token: cookie.value().to_string(),
        session,
        address: client_address(req),
    })
}

/// The client's IP address: the TCP peer (proxies' headers are not trusted).
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The session cookie for a token.
pub fn session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(
            session::SESSION_LIFETIME.as_secs() as i64
        ))
        .finish()
}

/// A cookie that removes the named cookie from the browser.
pub fn removal_cookie(name: &'static str, path: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "").path(path).finish();
    cookie.make_removal();
    cookie
}

/// Checks a user name and password against the journal, within the rate limit, and audits
/// the outcome. Returns the user, or 401 / 429.
pub async fn authenticate(
    state: &AppState,
    address: &str,
    name: &str,
    password: &str,
) -> Result<User, WebError> {
    let now = Instant::now();
    if let Err(wait) = state.limiter.check(address, name, now) {
        tracing::warn!(user = name, address, "login refused by the rate limit");
        state
            .audit(
                name,
                address,
                AuditAction::LoginFailed,
                (None, None),
                Some("rate limited"),
            )
            .await?;
        return Err(WebError::TooManyRequests {
            retry_after_s: wait.as_secs().max(1),
        });
    }

    let store = state.store.clone();
    let (name_owned, password) = (name.to_string(), password.to_string());
    // Argon2 takes tens of milliseconds: off the async workers.
    let user = web::block(move || -> Result<Option<User>, WebError> {
        let user = store.user(&name_owned)?;
        match user {
            Some(user) if password::verify_password(&password, &user.password_hash) => {
                Ok(Some(user))
            }
            Some(_) => Ok(None),
            None => {
                password::waste_verification(&password);
                Ok(None)
            }
        }
    })
    .await
    .map_err(|e| WebError::Internal(e.to_string()))??;

    match user {
        Some(user) => {
            state.limiter.succeeded(name);
            state
                .audit(name, address, AuditAction::Login, (None, None), None)
                .await?;
            tracing::info!(user = name, address, role = %user.role, "login");
            Ok(user)
        }
        None => {
            state.limiter.failed(address, name, Instant::now());
            state
                .audit(
                    name,
                    address,
                    AuditAction::LoginFailed,
                    (None, None),
                    Some("wrong user name or password"),
                )
                .await?;
            tracing::info!(user = name, address, "login failed");
            Err(WebError::BadCredentials)
        }
    }
}

/// Whether `next` is a path on this server (not `//host` or a full URL), so a login link
/// cannot send the user elsewhere.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert!(is_local_path("/calls/3?x=1"));
        assert!(!is_local_path("//evil.example/"));
        assert!(!is_local_path("/\\evil.example/"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path(""));
    }
}
