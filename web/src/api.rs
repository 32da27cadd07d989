//! The JSON API under `/api/v1`, with the same sessions as the pages.
//!
//! - `POST /api/v1/login` (JSON `{"username", "password"}`): sets the session cookie and
//!   answers `{"user", "role", "extension", "csrf"}`; API POSTs then send `csrf` in the
//!   `X-CSRF-Token` header. JSON only: a cross-site form cannot send it.
//! - `POST /api/v1/logout`.
//! - `GET /api/v1/calls`: calls as `recorder calls --json` shows them, newest first; the
//!   filters of [`crate::filter`] plus `limit` (default 100, at most 1000) and `offset`; the
//!   header `X-Total-Count` has the number of matching calls.
//! - `GET /api/v1/calls/{id}`: one call, with its SIP `messages`.
//! - `POST /api/v1/exports` (filters as query parameters): audits an export and answers
//!   `{"export": audit id, "calls": [...]}` with every matching call, for `recorder export
//!   --url`, which then downloads each recording.
//! - `GET /api/v1/audit?limit&before` (admins): audit rows, newest first.
//! - `GET /api/v1/verify` (admins): what `recorder verify` reports, checked by the running
//!   recorder (`{audit_rows, audit_head, recordings_matched, recordings_checked, problems}`).
//! - `POST /api/v1/calls/{id}/hold` (admins; JSON `{"reason"}`) and `POST
//!   /api/v1/calls/{id}/release` (admins; JSON `{"reason"}`, the reason optional): put a call
//!   under legal hold or lift it, audited; 409 if it is already so. A running recorder keeps
//!   the journal file to itself, so this is how holds change without stopping capture.
//!
//! Recordings are in [`crate::media`]. Without a session every endpoint answers 401.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::auth::{self, SESSION_COOKIE, Viewer, client_address, session_cookie};
use crate::error::WebError;
use crate::filter::CallParams;
use crate::pages::visible_call;
use crate::store::AuditAction;
use crate::{AppState, blocking};

/// Calls per API answer when no limit is given.
pub const DEFAULT_LIMIT: u32 = 100;

/// The most calls per API answer.
pub const MAX_LIMIT: u32 = 1000;

/// Registers the API.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/calls", web::get().to(calls))
            .route("/calls/{id}", web::get().to(call))
            .route("/calls/{id}/{action}", web::post().to(change_hold))
            .route("/exports", web::post().to(export))
            .route("/audit", web::get().to(audit))
            .route("/verify", web::get().to(verify))
            .configure(crate::media::routes),
    );
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, WebError> {
    let address = client_address(&req);
    let user = auth::authenticate(&state, &address, &body.username, &body.password).await?;
    let (token, session) = state
        .sessions
        .create(&user, Instant::now())
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&token, state.secure_cookies))
        .json(serde_json::json!({
            "user": session.user,
            "role": session.role,
            "extension": session.extension,
            "csrf": session.csrf,
        })))
}

async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
) -> Result<HttpResponse, WebError> {
    viewer.check_csrf_header(&req)?;
    state.sessions.remove(&viewer.token);
    state
        .audit(
            &viewer.session.user,
            &viewer.address,
            AuditAction::Logout,
            (None, None),
            None,
        )
        .await?;
    Ok(HttpResponse::NoContent()
        .cookie(auth::removal_cookie(SESSION_COOKIE, "/"))
        .finish())
}

#[derive(Deserialize)]
struct Paging {
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn calls(
    state: web::Data<AppState>,
    viewer: Viewer,
    params: web::Query<CallParams>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, WebError> {
    let Some(mut query) = params.to_query(&viewer.scope())? else {
        return Ok(HttpResponse::Ok()
            .insert_header(("X-Total-Count", "0"))
            .json(Vec::<serde_json::Value>::new()));
    };
    query.limit = Some(paging.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT));
    query.offset = paging.offset;
    let store = state.store.clone();
    let (calls, total) =
        blocking(move || Ok((store.calls(&query)?, store.count_calls(&query)?))).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", total.to_string()))
        .json(calls))
}

async fn call(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let mut call = visible_call(&state, &viewer, id).await?;
    let store = state.store.clone();
    let messages = blocking(move || store.messages(id)).await?;
    if let Some(object) = call.as_object_mut() {
        object.insert(
            "messages".into(),
            serde_json::to_value(messages).unwrap_or_default(),
        );
    }
    Ok(HttpResponse::Ok().json(call))
}

async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    params: web::Query<CallParams>,
) -> Result<HttpResponse, WebError> {
    viewer.check_csrf_header(&req)?;
    let calls = match params.to_query(&viewer.scope())? {
        Some(query) => {
            let store = state.store.clone();
            blocking(move || store.calls(&query)).await?
        }
        None => Vec::new(),
    };
    let recordings: usize = calls
        .iter()
        .map(|c| c["segments"].as_array().map_or(0, Vec::len))
        .sum();
    let filter = params.query_string();
    let detail = format!(
        "{} calls, {recordings} recordings; filter: {}",
        calls.len(),
        if filter.is_empty() { "none" } else { &filter }
    );
    let id = state
        .audit(
            &viewer.session.user,
            &viewer.address,
            AuditAction::Export,
            (None, None),
            Some(&detail),
        )
        .await?;
    tracing::info!(user = %viewer.session.user, calls = calls.len(), recordings, "export");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "export": id, "calls": calls })))
}

/// The body of a hold or release.
#[derive(Deserialize)]
struct HoldBody {
    reason: Option<String>,
}

/// `POST /calls/{id}/hold` or `/calls/{id}/release`: puts a call under legal hold or lifts
/// it, and answers the call as it is now.
async fn change_hold(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    path: web::Path<(String, String)>,
    body: web::Json<HoldBody>,
) -> Result<HttpResponse, WebError> {
    let (id, action) = path.into_inner();
    let on = match action.as_str() {
        "hold" => true,
        "release" => false,
        _ => return Err(WebError::NotFound),
    };
    viewer.require_admin()?;
    viewer.check_csrf_header(&req)?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    visible_call(&state, &viewer, id).await?;
    let reason = body.into_inner().reason.filter(|r| !r.trim().is_empty());
    if on && reason.is_none() {
        return Err(WebError::BadRequest(
            "a hold needs a reason (case, order)".into(),
        ));
    }
    let store = state.store.clone();
    let (user, address) = (viewer.session.user.clone(), viewer.address.clone());
    blocking(move || match on {
        true => store.hold(id, reason.as_deref().unwrap_or(""), &user, &address),
        false => store.release(id, reason.as_deref(), &user, &address),
    })
    .await?;
    tracing::info!(user = %viewer.session.user, call = id, on, "legal hold changed");
    Ok(HttpResponse::Ok().json(visible_call(&state, &viewer, id).await?))
}

async fn verify(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, WebError> {
    viewer.require_admin()?;
    let store = state.store.clone();
    let report = blocking(move || store.verify()).await?;
    tracing::info!(
        user = %viewer.session.user,
        problems = report.problems.len(),
        "verify"
    );
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Deserialize)]
struct AuditParams {
    limit: Option<u32>,
    before: Option<i64>,
}

async fn audit(
    state: web::Data<AppState>,
    viewer: Viewer,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, WebError> {
    viewer.require_admin()?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let before = params.before;
    let store = state.store.clone();
    let entries = blocking(move || store.audit(limit, before)).await?;
    Ok(HttpResponse::Ok().json(entries))
}
