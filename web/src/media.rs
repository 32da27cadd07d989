//! Recordings over HTTP: `GET /api/v1/recordings/{id}/audio` (inline, `audio/ogg`) and
//! `GET /api/v1/recordings/{id}/download` (an attachment), both answering HTTP Range
//! requests with 206 and `Content-Range` (RFC 9110 section 14), so players can seek.
//!
//! The file is found only through the numeric id, looked up in the journal: nothing else in
//! the URL becomes part of a path. A recording is visible to whoever may see its call;
//! others get 404.
//!
//! Auditing: a download is one audit row. A player fetches a recording in several ranged
//! requests (and again on seeking); a play is audited once, on the request that starts at
//! the first byte (no Range header, or a range starting at 0).

use actix_files::NamedFile;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue,
};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Viewer;
use crate::error::WebError;
use crate::pages::visible_call;
use crate::store::{AuditAction, Recording};
use crate::{AppState, blocking};

/// Registers the recording endpoints (inside the `/api/v1` scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/recordings/{id}/audio", web::get().to(audio))
        .route("/recordings/{id}/download", web::get().to(download));
}

async fn audio(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    recording(&state, &req, &viewer, &id, AuditAction::Play).await
}

async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    recording(&state, &req, &viewer, &id, AuditAction::Download).await
}

/// A recording the viewer may hear, or 404.
async fn visible_recording(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<Recording, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let store = state.store.clone();
    let recording = blocking(move || store.recording(id))
        .await?
        .ok_or(WebError::NotFound)?;
    // The call decides who may hear it.
    visible_call(state, viewer, recording.call).await?;
    Ok(recording)
}

/// Whether a request asks for the start of the file (a new play, not a seek or a resume).
fn starts_at_first_byte(req: &HttpRequest) -> bool {
    match req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(range) => {
            let spec = range.trim().strip_prefix("bytes=").unwrap_or("");
            spec.split(',')
                .next()
                .is_some_and(|r| r.trim().starts_with("0-"))
        }
    }
}

async fn recording(
    state: &AppState,
    req: &HttpRequest,
    viewer: &Viewer,
    id: &str,
    action: AuditAction,
) -> Result<HttpResponse, WebError> {
    let recording = visible_recording(state, viewer, id).await?;
    let file = NamedFile::open_async(&recording.path)
        .await
        .map_err(|err| {
            tracing::warn!(recording = recording.id, path = %recording.path.display(), %err,
            "recording file missing");
            WebError::NotFound
        })?;

    if action == AuditAction::Download || starts_at_first_byte(req) {
        state
            .audit(
                &viewer.session.user,
                &viewer.address,
                action,
                (Some(recording.call), Some(recording.id)),
                None,
            )
            .await?;
        tracing::info!(user = %viewer.session.user, recording = recording.id,
            action = action.as_str(), "recording served");
    }

    let name = format!("call-{}-recording-{}.opus", recording.call, recording.id);
    let disposition = ContentDisposition {
        disposition: if action == AuditAction::Download {
            DispositionType::Attachment
        } else {
            DispositionType::Inline
        },
        parameters: vec![DispositionParam::Filename(name)],
    };
    let mut response = file
        .set_content_type(
            "audio/ogg"
                .parse()
                .map_err(|_| WebError::Internal("mime".into()))?,
        )
        .set_content_disposition(disposition)
        .use_last_modified(true)
        .into_response(req);
    // actix-files answers a range covering the whole file (`bytes=0-`, what players send
    // first) with 200 and a Content-Range; a range request is answered 206 here, always.
    if response.status() == StatusCode::OK
        && response.headers().contains_key(header::CONTENT_RANGE)
        && req.headers().contains_key(header::RANGE)
    {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    if let Some(digest) = &recording.sha256
        && let Ok(value) = HeaderValue::from_str(digest)
    {
        // Lets a client check what it got against the journal without a second request.
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-sha256"), value);
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_requests_from_the_first_byte_count_as_plays() {
        let plain = TestRequest::default().to_http_request();
        assert!(starts_at_first_byte(&plain));
        for (range, first) in [
            ("bytes=0-", true),
            ("bytes=0-99", true),
            ("bytes=100-", false),
            ("bytes=-500", false),
            ("items=0-1", false),
        ] {
            let req = TestRequest::default()
                .insert_header((header::RANGE, range))
                .to_http_request();
            assert_eq!(starts_at_first_byte(&req), first, "{range}");
        }
    }
}
