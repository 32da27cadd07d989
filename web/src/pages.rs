//! The HTML pages: login and logout, the call list, a call's detail, and for admins the
//! audit log and the users.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use crate::auth::{
    self, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Scope, Viewer, client_address, is_local_path,
    password, removal_cookie, session_cookie,
};
use crate::error::{PageError, WebError};
use crate::filter::{CallParams, DIRECTIONS, DISPOSITIONS};
use crate::ladder::Ladder;
use crate::render::{APP_JS, STYLE_CSS, render};
use crate::store::{AuditAction, CallQuery, Role, User};
use crate::{AppState, blocking};

/// Calls per page of the journal.
pub const PAGE_SIZE: u32 = 50;

/// Audit rows per page.
pub const AUDIT_PAGE_SIZE: u32 = 100;

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(calls))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/calls/{id}", web::get().to(call))
        .route("/audit", web::get().to(audit))
        .route("/users", web::get().to(users))
        .route("/users", web::post().to(add_user))
        .route("/static/style.css", web::get().to(style))
        .route("/static/app.js", web::get().to(script));
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// The viewer as templates see it.
fn viewer_context(viewer: &Viewer) -> Value {
    context! {
        user => viewer.session.user,
        role => viewer.session.role.as_str(),
        extension => viewer.session.extension,
        csrf => viewer.session.csrf,
    }
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(STYLE_CSS)
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(APP_JS)
}

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_string(),
        _ => "/".to_string(),
    }
}

async fn login_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<NextParam>,
) -> Result<HttpResponse, PageError> {
    let next = safe_next(query.next.as_deref());
    let logged_in = req
        .cookie(SESSION_COOKIE)
        .and_then(|c| state.sessions.get(c.value(), Instant::now()));
    if logged_in.is_some() {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .finish());
    }
    login_page(&next, "", None, actix_web::http::StatusCode::OK)
}

/// The login page with a fresh double-submit CSRF token.
fn login_page(
    next: &str,
    username: &str,
    error: Option<&str>,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, PageError> {
    let csrf = password::random_token().map_err(|e| WebError::Internal(e.to_string()))?;
    let body = render(
        "login.html",
        context! { csrf, next, username, error, viewer => () },
    )?;
    let cookie = actix_web::cookie::Cookie::build(LOGIN_CSRF_COOKIE, csrf)
        .path("/login")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .finish();
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .body(body))
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let cookie = req.cookie(LOGIN_CSRF_COOKIE);
    let csrf_ok = cookie
        .as_ref()
        .is_some_and(|c| !form.csrf.is_empty() && password::same_secret(c.value(), &form.csrf));
    if !csrf_ok {
        return Err(
            WebError::Forbidden("missing or wrong CSRF token; reload the login page").into(),
        );
    }
    let next = safe_next(form.next.as_deref());
    let address = client_address(&req);
    let user = match auth::authenticate(&state, &address, &form.username, &form.password).await {
        Ok(user) => user,
        Err(err @ (WebError::BadCredentials | WebError::TooManyRequests { .. })) => {
            let status = actix_web::ResponseError::status_code(&err);
            return login_page(&next, &form.username, Some(&err.to_string()), status);
        }
        Err(err) => return Err(err.into()),
    };
    let (token, _) = state
        .sessions
        .create(&user, Instant::now())
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(session_cookie(&token, state.secure_cookies))
        .cookie(removal_cookie(LOGIN_CSRF_COOKIE, "/login"))
        .finish())
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

async fn logout(
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    state.sessions.remove(&viewer.token);
    let user = &viewer.session.user;
    state
        .audit(
            user,
            &viewer.address,
            AuditAction::Logout,
            (None, None),
            None,
        )
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .cookie(removal_cookie(SESSION_COOKIE, "/"))
        .finish())
}

#[derive(Deserialize)]
struct PageParam {
    page: Option<u32>,
}

async fn calls(
    state: web::Data<AppState>,
    viewer: Viewer,
    params: web::Query<CallParams>,
    page: web::Query<PageParam>,
) -> Result<HttpResponse, PageError> {
    let page = page.page.unwrap_or(1).max(1);
    let (query, error) = match params.to_query(&viewer.scope()) {
        Ok(query) => (query, None),
        // A bad filter shows the page with the message, not a bare error.
        Err(WebError::BadRequest(message)) => (None, Some(message)),
        Err(err) => return Err(err.into()),
    };
    let (calls, total) = match query {
        Some(mut query) => {
            query.limit = Some(PAGE_SIZE);
            query.offset = Some((page - 1).saturating_mul(PAGE_SIZE));
            let store = state.store.clone();
            blocking(move || Ok((store.calls(&query)?, store.count_calls(&query)?))).await?
        }
        None => (Vec::new(), 0),
    };
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    let recorded_only = matches!(params.recorded_only.as_deref(), Some("on" | "true" | "1"));
    let body = render(
        "calls.html",
        context! {
            viewer => viewer_context(&viewer),
            calls => Value::from_serialize(&calls),
            total, page, pages, error, recorded_only,
            params => Value::from_serialize(&*params),
            query => params.query_string(),
            directions => DIRECTIONS,
            dispositions => DISPOSITIONS,
        },
    )?;
    Ok(html(body))
}

/// A call the viewer may see, or 404.
pub async fn visible_call(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
) -> Result<serde_json::Value, WebError> {
    let party = match viewer.scope() {
        Scope::All => None,
        Scope::Party(ext) => Some(ext),
        Scope::Nothing => return Err(WebError::NotFound),
    };
    let query = CallQuery {
        id: Some(id),
        party,
        ..CallQuery::default()
    };
    let store = state.store.clone();
    let mut calls = blocking(move || store.calls(&query)).await?;
    calls.pop().ok_or(WebError::NotFound)
}

async fn call(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let call = visible_call(&state, &viewer, id).await?;
    let store = state.store.clone();
    let messages = blocking(move || store.messages(id)).await?;
    let body = render(
        "call.html",
        context! {
            viewer => viewer_context(&viewer),
            call => Value::from_serialize(&call),
            ladder => Value::from_serialize(Ladder::new(&messages)),
        },
    )?;
    Ok(html(body))
}

#[derive(Deserialize)]
struct BeforeParam {
    before: Option<i64>,
}

async fn audit(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<BeforeParam>,
) -> Result<HttpResponse, PageError> {
    viewer.require_admin()?;
    let store = state.store.clone();
    let before = query.before;
    let entries = blocking(move || store.audit(AUDIT_PAGE_SIZE, before)).await?;
    let older = if entries.len() == AUDIT_PAGE_SIZE as usize {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let time = chrono::DateTime::from_timestamp_micros(e.event.at_us)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            context! {
                id => e.id, time, user => e.event.user, address => e.event.address,
                action => e.event.action.as_str(), call => e.event.call,
                recording => e.event.recording, detail => e.event.detail,
            }
        })
        .collect();
    let body = render(
        "audit.html",
        context! { viewer => viewer_context(&viewer), entries => rows, older },
    )?;
    Ok(html(body))
}

async fn users_page(
    state: &AppState,
    viewer: &Viewer,
    error: Option<String>,
    added: Option<String>,
) -> Result<HttpResponse, PageError> {
    let store = state.store.clone();
    let users = blocking(move || store.users()).await?;
    let rows: Vec<Value> = users
        .iter()
        .map(|u| context! { name => u.name, role => u.role.as_str(), extension => u.extension })
        .collect();
    let status = if error.is_some() {
        actix_web::http::StatusCode::BAD_REQUEST
    } else {
        actix_web::http::StatusCode::OK
    };
    let body = render(
        "users.html",
        context! { viewer => viewer_context(viewer), users => rows, error, added },
    )?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

async fn users(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, PageError> {
    viewer.require_admin()?;
    users_page(&state, &viewer, None, None).await
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    csrf: Option<String>,
    username: String,
    role: String,
    #[serde(default)]
    extension: String,
    password: String,
}

async fn add_user(
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    viewer.require_admin()?;
    let extension = Some(form.extension.trim().to_string()).filter(|e| !e.is_empty());
    let user = match new_user(&form.username, &form.role, extension, &form.password) {
        Ok(user) => user,
        Err(message) => return users_page(&state, &viewer, Some(message), None).await,
    };
    let name = user.name.clone();
    let store = state.store.clone();
    match blocking(move || store.add_user(&user)).await {
        Ok(()) => {}
        Err(WebError::Conflict(message)) => {
            return users_page(&state, &viewer, Some(message), None).await;
        }
        Err(err) => return Err(err.into()),
    }
    state
        .audit(
            &viewer.session.user,
            &viewer.address,
            AuditAction::UserAdded,
            (None, None),
            Some(&format!("{name} ({})", form.role)),
        )
        .await?;
    tracing::info!(user = %name, role = %form.role, by = %viewer.session.user, "user added");
    users_page(&state, &viewer, None, Some(name)).await
}

/// A user checked for what every user needs: a name, a known role, an extension for agents,
/// and a password of at least 8 characters; the password is hashed here.
pub fn new_user(
    name: &str,
    role: &str,
    extension: Option<String>,
    password: &str,
) -> Result<User, String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
        return Err("a user name is 1 to 64 printable characters".into());
    }
    let role: Role = role.parse()?;
    if role == Role::Agent && extension.is_none() {
        return Err("an agent needs an extension (the calls it sees)".into());
    }
    if password.chars().count() < 8 {
        return Err("a password has at least 8 characters".into());
    }
    let password_hash = password::hash_password(password).map_err(|e| e.to_string())?;
    Ok(User {
        name: name.to_string(),
        role,
        extension,
        password_hash,
    })
}
