//! Errors of request handlers and the status codes they map to.
//!
//! [`WebError`] answers as JSON (`{"error": "..."}`), for the API; [`PageError`] wraps it
//! for HTML pages, sending a logged-out visitor to the login page and rendering the rest as an
//! error page.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::render;
use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No valid session (401, or the login page for pages).
    #[error("log in first")]
    Unauthenticated {
        /// Where to go back to after logging in (a local path).
        next: String,
    },
    /// Wrong user name or password (401).
    #[error("wrong user name or password")]
    BadCredentials,
    /// Logged in, but the role does not allow it, or a POST without its CSRF token (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such call or recording, or one the user may not see (404: an agent learns nothing
    /// about other people's calls, not even that they exist).
    #[error("not found")]
    NotFound,
    /// A malformed parameter (400).
    #[error("{0}")]
    BadRequest(String),
    /// Too many failed logins (429).
    #[error("too many failed logins; try again in {retry_after_s} s")]
    TooManyRequests {
        /// Seconds until a login may be tried again.
        retry_after_s: u64,
    },
    /// A name taken already (409).
    #[error("{0}")]
    Conflict(String),
    /// The journal failed (500).
    #[error("journal error")]
    Store(#[source] StoreError),
    /// Something else on our side failed (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(err: StoreError) -> WebError {
        match err {
            StoreError::Conflict(what) => WebError::Conflict(format!("{what} exists already")),
            StoreError::Refused(why) => WebError::Conflict(why),
            other => WebError::Store(other),
        }
    }
}

impl WebError {
    fn log(&self) {
        match self {
            WebError::Store(err) => tracing::error!(error = %err, "journal request failed"),
            WebError::Internal(err) => tracing::error!(error = %err, "request failed"),
            _ => {}
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::Unauthenticated { .. } | WebError::BadCredentials => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Store(_) | WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut response = HttpResponse::build(self.status_code());
        if let WebError::TooManyRequests { retry_after_s } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}

/// A [`WebError`] on an HTML page.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageError(#[from] pub WebError);

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> PageError {
        PageError(err.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            WebError::Unauthenticated { .. } => StatusCode::SEE_OTHER,
            other => other.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        if let WebError::Unauthenticated { next } = &self.0 {
            let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            let location = HeaderValue::from_str(&format!("/login?{query}"))
                .unwrap_or(HeaderValue::from_static("/login"));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        let status = self.status_code();
        let html = render::error_page(status.as_u16(), &self.0.to_string());
        let mut response = HttpResponse::build(status);
        if let WebError::TooManyRequests { retry_after_s } = &self.0 {
            response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
        }
        response.content_type("text/html; charset=utf-8").body(html)
    }
}
