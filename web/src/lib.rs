//! The web journal: supervisors and phone users log in, browse calls, read why each was or
//! was not recorded, follow its SIP ladder and stream quality, and play or download its
//! recordings; admins manage users and read the audit log. A JSON API under `/api/v1` serves
//! the same data to the same sessions (and to `recorder calls --url` / `recorder export
//! --url`).
//!
//! The journal is reached through the [`Store`] trait, which the `recorder` crate implements
//! on DuckDB: this crate cannot depend on `recorder`, whose binary serves it.
//!
//! - [`auth`]: passwords, sessions, CSRF, the login rate limit, roles.
//! - [`pages`]: the HTML pages (server-rendered, [`render`] holds the templates).
//! - [`api`]: the JSON API; [`media`]: recordings, with HTTP Range.
//! - [`filter`]: the call filters shared by pages and API; [`ladder`]: the SIP ladder layout.
//!
//! Every login, failed login, play, download and export is appended to the journal's audit
//! log with user, time, client address and the call or recording.

pub mod api;
pub mod auth;
pub mod error;
pub mod filter;
pub mod ladder;
pub mod media;
pub mod pages;
pub mod render;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpServer, web};

pub use auth::limit::LoginLimits;
pub use auth::password::hash_password;
pub use error::WebError;
pub use pages::new_user;
pub use store::{
    AuditAction, AuditEntry, AuditEvent, CallQuery, Recording, Role, SipMessage, Store, StoreError,
    User, VerifyReport,
};

use auth::limit::LoginLimiter;
use auth::session::Sessions;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Where to listen (port 0: any free port; [`Running::addr`] tells which).
    pub listen: SocketAddr,
    /// The login rate limit.
    pub login_limits: LoginLimits,
    /// Mark the session cookie `Secure` (when a TLS proxy is in front; always with `tls`).
    pub secure_cookies: bool,
    /// Serve HTTPS with this certificate and key ([`tls::load`]) instead of plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            login_limits: LoginLimits::default(),
            secure_cookies: false,
            tls: None,
            workers: 0,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The journal.
    pub store: Arc<dyn Store>,
    /// Logged-in sessions.
    pub sessions: Sessions,
    /// Failed-login counts.
    pub limiter: LoginLimiter,
    /// Whether cookies get `Secure`.
    pub secure_cookies: bool,
}

impl AppState {
    /// Appends an audit row (on the blocking pool); `target` is (call, recording).
    pub async fn audit(
        &self,
        user: &str,
        address: &str,
        action: AuditAction,
        target: (Option<i64>, Option<i64>),
        detail: Option<&str>,
    ) -> Result<i64, WebError> {
        let event = AuditEvent {
            at_us: chrono::Utc::now().timestamp_micros(),
            user: user.to_string(),
            address: address.to_string(),
            action,
            call: target.0,
            recording: target.1,
            detail: detail.map(str::to_string),
        };
        let store = self.store.clone();
        blocking(move || store.audit_append(&event)).await
    }
}

/// Runs a store call on actix's blocking thread pool.
pub async fn blocking<T, F>(f: F) -> Result<T, WebError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    web::block(f)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
        .map_err(WebError::from)
}

/// A started server.
pub struct Running {
    /// The server future: await it (it ends on SIGINT/SIGTERM or [`Running::handle`] stop).
    pub server: actix_web::dev::Server,
    /// The address it listens on.
    pub addr: SocketAddr,
}

impl Running {
    /// A handle to stop the server from elsewhere (e.g. when `recorder run` shuts down).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Binds the web journal to `config.listen` and returns the server, not yet awaited. Call it
/// inside a Tokio or actix runtime; `recorder run` embeds it next to capture this way.
pub fn serve(store: Arc<dyn Store>, config: &WebConfig) -> std::io::Result<Running> {
    render::check_templates().map_err(std::io::Error::other)?;
    let state = web::Data::new(AppState {
        store,
        sessions: Sessions::new(),
        limiter: LoginLimiter::new(config.login_limits),
        secure_cookies: config.secure_cookies || config.tls.is_some(),
    });
    let https = config.tls.is_some();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(security_headers(https))
            .configure(pages::routes)
            .configure(api::routes)
    })
    // The embedding process decides when to stop (`recorder run` stops capture and the web
    // together); `run_until_stopped` listens for the signals itself.
    .disable_signals();
    server = if config.workers > 0 {
        server.workers(config.workers)
    } else {
        server
    };
    let server = match &config.tls {
        Some(tls) => server.bind_rustls_0_23(config.listen, (**tls).clone())?,
        None => server.bind(config.listen)?,
    };
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("bound to no address"))?;
    tracing::info!(%addr, https, "web journal listening");
    Ok(Running {
        server: server.run(),
        addr,
    })
}

/// A server running on a thread of its own, beside other work (`recorder run` captures on its
/// main thread and serves the journal this way).
pub struct Background {
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    addr: SocketAddr,
}

impl Background {
    /// Binds and starts serving on a new thread; returns once the socket is bound.
    pub fn start(store: Arc<dyn Store>, config: &WebConfig) -> std::io::Result<Background> {
        let config = config.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("web".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    match serve(store, &config) {
                        Ok(running) => {
                            let _ = ready_tx.send(Ok((running.handle(), running.addr)));
                            running.server.await
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                            Ok(())
                        }
                    }
                })
            })?;
        let (handle, addr) = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the web thread ended before binding"))??;
        Ok(Background {
            handle,
            thread,
            addr,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets open requests finish, and waits for the thread.
    pub fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        match self.thread.join() {
            Ok(Err(err)) => tracing::warn!(%err, "web journal stopped with an error"),
            Err(_) => tracing::warn!("web journal thread panicked"),
            Ok(Ok(())) => {}
        }
    }
}

/// Serves until SIGINT or SIGTERM, on a runtime of its own (for `recorder serve`);
/// `on_listen` is told the address once the socket is bound.
pub fn run_until_stopped(
    store: Arc<dyn Store>,
    config: &WebConfig,
    on_listen: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let running = serve(store, config)?;
        on_listen(running.addr);
        let handle = running.handle();
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stopping the web journal");
            handle.stop(true).await;
        });
        running.server.await
    })
}

async fn wait_for_signal() {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    first_of(term.recv(), int.recv()).await;
}

/// Waits for whichever of two futures finishes first.
async fn first_of<A: std::future::Future, B: std::future::Future>(a: A, b: B) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// Headers on every answer: no framing, no sniffing, scripts and media only from here, no
/// caching unless a handler says otherwise (static assets); over HTTPS, browsers are told to
/// stay on it.
fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'self'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add((
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .add((
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ));
    if https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
    } else {
        headers
    }
}
