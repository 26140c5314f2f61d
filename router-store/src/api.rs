//! The HTTP API (docs/store.md): routes, who may call them, and the store's answers as
//! status codes.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, FromRequestParts, Path, Query, RawPathParams, Request, State,
};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::tokens::{Access, Caller, Denied};
use router_store_client::http::{wire, STORE_HEADER};
use router_store_client::note::{self, WriteKind};
use router_store_client::status::{StatusReport, MAX_STATUS};
use router_store_client::{ConfigStore, Expect, FileName, RouterId, StoreError, Version};

/// A request not answered within this is cut short (408).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
struct AppState {
    store: Arc<dyn ConfigStore>,
    access: Arc<Access>,
}

/// The API over `store`, with request bodies up to `max_body` bytes.
pub(super) fn router(store: Arc<dyn ConfigStore>, access: Arc<Access>, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/v1/routers", get(list_routers))
        .route("/v1/routers/{id}/config", get(get_config).put(put_config))
        .route("/v1/routers/{id}/status", get(get_status).put(put_status))
        .route("/v1/routers/{id}/history", get(history))
        .route("/v1/routers/{id}/history/{version}", get(get_version))
        .route("/v1/routers/{id}/archive", post(archive))
        .route("/v1/routers/{id}/files/{name}", get(get_file).put(put_file))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(log_and_bound))
        .with_state(AppState { store, access })
}

pub(super) async fn log_and_bound(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let started = Instant::now();
    let resp = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("not finished within {REQUEST_TIMEOUT:?}"),
        )
        .into_response(),
    };
    tracing::debug!(
        "{method} {path} -> {} in {:.1?}",
        resp.status(),
        started.elapsed()
    );
    resp
}

/// An answer other than success.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    /// The current version, with 412.
    etag: Option<Version>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            etag: None,
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { current, .. } => ApiError {
                status: StatusCode::PRECONDITION_FAILED,
                message:
                    "the config changed meanwhile; nothing written (ETag: the current version)"
                        .into(),
                etag: current,
            },
            StoreError::NoSuchVersion { id, version, .. } => {
                ApiError::not_found(format!("router {id} has no version {version}"))
            }
            StoreError::Refused { detail, .. } => ApiError::bad(detail),
            e => {
                tracing::error!("{e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, format!("{}\n", self.message)).into_response();
        let headers = resp.headers_mut();
        if self.status == StatusCode::NOT_FOUND {
            headers.insert(STORE_HEADER, HeaderValue::from_static("not-found"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"router-agent store\""),
            );
        }
        if let Some(tag) = self.etag.and_then(|v| etag_value(&v)) {
            headers.insert(header::ETAG, tag);
        }
        resp
    }
}

fn etag_value(v: &Version) -> Option<HeaderValue> {
    HeaderValue::from_str(&wire::etag(v)).ok()
}

/// A request from a known caller (401 otherwise), for no router in particular.
#[derive(Debug)]
struct Known {
    caller: Caller,
}

impl FromRequestParts<AppState> for Known {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authorization = parts.headers.get(header::AUTHORIZATION);
        let caller = state
            .access
            .caller(authorization.map(HeaderValue::as_bytes))
            .map_err(|denied: Denied| {
                ApiError::new(StatusCode::UNAUTHORIZED, denied.to_string())
            })?;
        Ok(Known { caller })
    }
}

/// A request for one router, from a caller allowed to touch it: 401 without a known
/// token, 400 for an id that is not a [`RouterId`], 403 for another router's token.
#[derive(Debug)]
struct Allowed {
    id: RouterId,
    caller: Caller,
}

impl FromRequestParts<AppState> for Allowed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Known { caller } = Known::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad(e.body_text()))?;
        let raw = params
            .iter()
            .find_map(|(k, v)| (k == "id").then_some(v))
            .unwrap_or_default();
        let id = RouterId::new(raw).map_err(|e| ApiError::bad(e.to_string()))?;
        if !caller.may(&id) {
            tracing::info!("refused: {caller} asked for router {id}");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("the {caller} may not touch router {id}"),
            ));
        }
        Ok(Allowed { id, caller })
    }
}

/// Runs a store call in a task of its own: a client that hangs up must not cut a write
/// in half (the per-router write lock would be released while git still runs).
async fn detached<T: Send + 'static>(
    call: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(call).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("store call failed: {e}"),
        )),
    }
}

fn utf8(body: Bytes) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad("a config is UTF-8 text"))
}

/// The `?message=&kind=` of a write.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    message: Option<String>,
    kind: Option<WriteKind>,
}

impl Message {
    /// The history message: the client's text made one line (so that it cannot carry
    /// trailers of its own), then its kind and who wrote it as trailers.
    fn with_author(self, caller: &Caller) -> String {
        let text = self.message.unwrap_or_else(|| "written over HTTP".into());
        let caller = caller.to_string();
        note::compose(&text, self.kind, &[(note::AUTHOR_TRAILER, &caller)])
    }
}

/// Whether an `If-None-Match` header names `v` (or is `*`).
fn none_match_hits(headers: &HeaderMap, v: &Version) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .any(|tag| tag.trim() == "*" || wire::parse_etag(tag).as_ref() == Some(v))
}

async fn get_config(
    State(state): State<AppState>,
    allowed: Allowed,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = allowed.id;
    let store = state.store.clone();
    let found = {
        let id = id.clone();
        detached(async move { store.get(&id).await }).await?
    };
    let Some(stored) = found else {
        return Err(ApiError::not_found(format!("no config for router {id}")));
    };
    let tag = etag_value(&stored.version);
    let mut resp = if none_match_hits(&headers, &stored.version) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            stored.text,
        )
            .into_response()
    };
    if let Some(tag) = tag {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    Ok(resp)
}

/// What a write's precondition headers expect: `If-Match: "VERSION"` or
/// `If-None-Match: *`; a write without either is refused (428), so that nothing is
/// overwritten unseen.
fn expectation(headers: &HeaderMap) -> Result<Expect, ApiError> {
    let text = |name: header::HeaderName| {
        headers
            .get(&name)
            .map(|h| {
                h.to_str()
                    .map_err(|_| ApiError::bad(format!("{name}: not text")))
            })
            .transpose()
    };
    match (text(header::IF_MATCH)?, text(header::IF_NONE_MATCH)?) {
        (Some(tag), None) => Ok(Expect::Version(
            // An ETag this store never made matches nothing: 412 with the current one.
            wire::parse_etag(tag).unwrap_or_else(|| Version(tag.to_owned())),
        )),
        (None, Some("*")) => Ok(Expect::Absent),
        (None, None) => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "a write needs If-Match: \"VERSION\" (the ETag of a GET) or If-None-Match: * (to create)",
        )),
        _ => Err(ApiError::bad(
            "expected one of If-Match: \"VERSION\" or If-None-Match: *",
        )),
    }
}

async fn put_config(
    State(state): State<AppState>,
    allowed: Allowed,
    headers: HeaderMap,
    Query(message): Query<Message>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let expect = expectation(&headers)?;
    let text = utf8(body)?;
    let message = message.with_author(&allowed.caller);
    let store = state.store.clone();
    let created = expect == Expect::Absent;
    let id = allowed.id;
    let version = {
        let id = id.clone();
        detached(async move { store.put(&id, &text, &expect, &message).await }).await?
    };
    tracing::info!("router {id}: version {version} by the {}", allowed.caller);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut resp = status.into_response();
    if let Some(tag) = etag_value(&version) {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    Ok(resp)
}

async fn archive(
    State(state): State<AppState>,
    allowed: Allowed,
    Query(message): Query<Message>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let text = utf8(body)?;
    let message = message.with_author(&allowed.caller);
    let store = state.store.clone();
    let id = allowed.id;
    detached(async move { store.archive(&id, &text, &message).await }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn history(
    State(state): State<AppState>,
    allowed: Allowed,
) -> Result<Json<Vec<wire::HistoryItem>>, ApiError> {
    let store = state.store.clone();
    let id = allowed.id;
    let entries = detached(async move { store.history(&id).await }).await?;
    Ok(Json(
        entries.into_iter().map(wire::HistoryItem::from).collect(),
    ))
}

async fn get_version(
    State(state): State<AppState>,
    allowed: Allowed,
    Path((_, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let id = allowed.id;
    let version = Version(version);
    let tag = etag_value(&version);
    let text = detached(async move { store.get_version(&id, &version).await }).await?;
    let mut resp = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    if let Some(tag) = tag {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    Ok(resp)
}

async fn get_file(
    State(state): State<AppState>,
    allowed: Allowed,
    Path((_, name)): Path<(String, FileName)>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let id = allowed.id;
    let shown = format!("router {id} has no file {name}");
    match detached(async move { store.get_file(&id, &name).await }).await? {
        Some(bytes) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        None => Err(ApiError::not_found(shown)),
    }
}

async fn put_file(
    State(state): State<AppState>,
    allowed: Allowed,
    Path((_, name)): Path<(String, FileName)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let id = allowed.id;
    let shown = format!("router {id}: file {name} written by the {}", allowed.caller);
    detached(async move { store.put_file(&id, &name, &body).await }).await?;
    tracing::info!("{shown}");
    Ok(StatusCode::NO_CONTENT)
}

/// The routers the caller may see: all of them for the admin token (or an open store),
/// its own for a router's token.
async fn list_routers(
    State(state): State<AppState>,
    known: Known,
) -> Result<Json<wire::RouterList>, ApiError> {
    let store = state.store.clone();
    let ids = detached(async move { store.list_routers().await }).await?;
    let mut routers: Vec<String> = ids
        .into_iter()
        .filter(|id| known.caller.may(id))
        .map(|id| id.to_string())
        .collect();
    routers.sort();
    Ok(Json(wire::RouterList { routers }))
}

async fn get_status(State(state): State<AppState>, allowed: Allowed) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let id = allowed.id;
    let shown = format!("router {id} has sent no status report");
    match detached(async move { store.get_status(&id).await }).await? {
        Some(bytes) => Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response()),
        None => Err(ApiError::not_found(shown)),
    }
}

/// A status report is checked before it is kept: a router that sends garbage is told so,
/// and the fleet listing never shows it as another router's problem.
async fn put_status(
    State(state): State<AppState>,
    allowed: Allowed,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    if body.len() > MAX_STATUS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a status record is at most {MAX_STATUS} bytes"),
        ));
    }
    StatusReport::parse(&body).map_err(|e| ApiError::bad(e.to_string()))?;
    let store = state.store.clone();
    let id = allowed.id;
    tracing::debug!("router {id}: status report from the {}", allowed.caller);
    detached(async move { store.put_status(&id, &body).await }).await?;
    Ok(StatusCode::NO_CONTENT)
}
