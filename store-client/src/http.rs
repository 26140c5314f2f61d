//! `http://` and `https://` stores: the API of `router-store serve` (docs/store.md).
//!
//! reqwest over rustls with the ring provider: no OpenSSL in the router image, and ring
//! builds with nothing but a C compiler (aws-lc-rs, rustls' default, also wants cmake).

pub(crate) mod tls;
pub mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::polling::{self, Polled};
use super::{
    ConfigStore, Expect, FileName, HistoryEntry, RouterId, StoreError, StoreOptions, Stored,
    Version, Watch,
};

/// Header the store server puts on every answer, so that a 404 from something else (a
/// wrong URL prefix, a proxy) is not taken for "no config yet".
pub const STORE_HEADER: &str = "x-router-store";

/// Largest answer read (the server's default body limit is 64 MiB).
const MAX_ANSWER: u64 = 128 << 20;
/// Of an error answer, only the start is worth quoting.
const MAX_ERROR_TEXT: usize = 512;

/// A store reached over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpStore {
    client: Arc<Client>,
}

/// What requests need; shared with the watch's polling task.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    base: Url,
    shown: String,
    token: Option<Token>,
}

/// A bearer token; never shown.
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

impl HttpStore {
    /// A store at `http(s)://HOST[:PORT][/PREFIX]`. Builds no connection yet.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let parsed = Url::parse(url);
        // The URL as an error may show it: without a password someone put in it.
        let shown_url = match &parsed {
            Ok(u) if u.password().is_some() => {
                let mut u = u.clone();
                let _ = u.set_password(Some("..."));
                u.to_string()
            }
            _ => url.to_owned(),
        };
        let bad = |reason: &str| StoreError::BadUrl {
            url: shown_url.clone(),
            reason: reason.to_owned(),
        };
        let base = parsed.map_err(|e| bad(&format!("{e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("expected http(s)://HOST[:PORT][/PREFIX]"));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad(
                "credentials in the URL would show in logs and `ps`; give the token with --token-file or router.token=",
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad(
                "expected http(s)://HOST[:PORT][/PREFIX], without ?query or #fragment",
            ));
        }
        let shown = base.as_str().trim_end_matches('/').to_owned();
        let tls = tls::client_config(options.ca_cert.as_deref(), base.scheme() == "https")
            .map_err(|e| StoreError::Io {
                store: shown.clone(),
                what: crate::error_chain(&e),
                source: std::io::Error::other(e),
            })?;
        let builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .user_agent(concat!("router-agent/", env!("CARGO_PKG_VERSION")))
            // The bearer token goes to this store and nowhere it may redirect to.
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls);
        let http = builder.build().map_err(|e| {
            bad(&format!(
                "cannot build an HTTP client: {}",
                crate::error_chain(&e)
            ))
        })?;
        tracing::debug!("store {shown}: HTTP client ready");
        Ok(HttpStore {
            client: Arc::new(Client {
                http,
                base,
                shown,
                token: options.token.clone().map(Token),
            }),
        })
    }
}

#[async_trait]
impl crate::enrol::Enrol for HttpStore {
    /// `POST BASE/v1/enrol` with the enrolment token; the answer names the router.
    async fn exchange(&self, token: &str) -> Result<String, crate::enrol::EnrolError> {
        use crate::enrol::EnrolError;
        let c = &self.client;
        let mut url = c.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["v1", "enrol"]);
        }
        let unreachable = |e: StoreError| EnrolError::Unreachable(crate::error_chain(&e));
        let req = c.http.post(url).body(token.to_owned());
        let resp = c.send(req).await.map_err(unreachable)?;
        let status = resp.status();
        let body = c.body(resp).await.map_err(unreachable)?;
        let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_TEXT)])
            .trim()
            .to_owned();
        match status {
            StatusCode::OK => serde_json::from_slice::<wire::Enrolled>(&body)
                .map(|e| e.token)
                .map_err(|e| {
                    EnrolError::Unreachable(format!("{}: not an enrolment answer: {e}", c.shown))
                }),
            StatusCode::FORBIDDEN => Err(EnrolError::Refused(text)),
            s => Err(EnrolError::Unreachable(format!("{}: {s}: {text}", c.shown))),
        }
    }
}

impl Client {
    /// `BASE/v1/routers/ID/REST...`, each segment percent-encoded.
    fn url(&self, id: &RouterId, rest: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `open` refused URLs that cannot take a path.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["v1", "routers", id.as_str()])
                .extend(rest);
        }
        url
    }

    /// `BASE/v1/routers`.
    fn routers_url(&self) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["v1", "routers"]);
        }
        url
    }

    /// `url` with the history message of a write: its summary and kind apart, since the
    /// server writes the trailers itself.
    fn with_message(mut url: Url, message: &str) -> Url {
        let note = crate::Note::parse(message);
        let mut query = url.query_pairs_mut();
        query.append_pair(wire::MESSAGE, &note.summary);
        if let Some(kind) = note.kind {
            query.append_pair(wire::KIND, kind.as_str());
        }
        drop(query);
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let req = self.http.request(method, url);
        match &self.token {
            Some(t) => req.bearer_auth(&t.0),
            None => req,
        }
    }

    async fn send(&self, req: RequestBuilder) -> Result<Response, StoreError> {
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        tracing::trace!("{} {}", resp.status(), resp.url());
        Ok(resp)
    }

    fn transport(&self, e: reqwest::Error) -> StoreError {
        if let Some(tls) = tls_cause(&e) {
            return StoreError::Protocol {
                store: self.shown.clone(),
                detail: format!(
                    "TLS: {tls} (does --ca-cert name the CA that signed the store's certificate?)"
                ),
            };
        }
        StoreError::Unreachable {
            store: self.shown.clone(),
            detail: crate::error_chain(&e),
        }
    }

    /// The whole body, refused past [`MAX_ANSWER`] bytes.
    async fn body(&self, mut resp: Response) -> Result<Vec<u8>, StoreError> {
        let too_big = || StoreError::Protocol {
            store: self.shown.clone(),
            detail: format!("answer larger than {MAX_ANSWER} bytes"),
        };
        if resp.content_length().is_some_and(|n| n > MAX_ANSWER) {
            return Err(too_big());
        }
        let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
            if (body.len() + chunk.len()) as u64 > MAX_ANSWER {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn text(&self, resp: Response) -> Result<String, StoreError> {
        String::from_utf8(self.body(resp).await?).map_err(|_| StoreError::Protocol {
            store: self.shown.clone(),
            detail: "a config that is not UTF-8 text".into(),
        })
    }

    fn version(&self, resp: &Response) -> Result<Version, StoreError> {
        resp.headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(wire::parse_etag)
            .ok_or_else(|| StoreError::Protocol {
                store: self.shown.clone(),
                detail: format!("{} {} without an ETag", resp.status(), resp.url()),
            })
    }

    /// A 404 of the store itself (it says so in [`STORE_HEADER`]), not of whatever else
    /// answers at a wrong URL.
    fn absent(&self, resp: &Response) -> Result<bool, StoreError> {
        if resp.status() != StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if resp.headers().contains_key(STORE_HEADER) {
            return Ok(true);
        }
        Err(StoreError::Protocol {
            store: self.shown.clone(),
            detail: format!(
                "404 for {} from something that is not a router-agent store (check the URL's path prefix)",
                resp.url()
            ),
        })
    }

    /// Any answer the caller did not expect, as the error it means.
    async fn unexpected(&self, id: &RouterId, resp: Response) -> StoreError {
        let status = resp.status();
        let url = resp.url().clone();
        let body = resp.bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_TEXT)]);
        let detail = format!("{status} for {url}: {}", text.trim());
        let store = self.shown.clone();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => StoreError::Unauthorized {
                store,
                id: id.to_string(),
            },
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::BAD_REQUEST => {
                StoreError::Refused { store, detail }
            }
            s if s.is_server_error()
                || s == StatusCode::TOO_MANY_REQUESTS
                || s == StatusCode::REQUEST_TIMEOUT =>
            {
                StoreError::Unreachable { store, detail }
            }
            _ => StoreError::Protocol { store, detail },
        }
    }

    /// The config, or [`Polled::Unchanged`] if it is still `since`.
    async fn poll(&self, id: &RouterId, since: Option<&Version>) -> Result<Polled, StoreError> {
        let mut req = self.request(Method::GET, self.url(id, &["config"]));
        if let Some(v) = since.and_then(etag_header) {
            req = req.header(header::IF_NONE_MATCH, v);
        }
        let resp = self.send(req).await?;
        match resp.status() {
            StatusCode::OK => {
                let version = self.version(&resp)?;
                let text = self.text(resp).await?;
                tracing::debug!("{}: {id} is at version {version}", self.shown);
                Ok(Polled::Now(Some(Stored { text, version })))
            }
            StatusCode::NOT_MODIFIED => Ok(Polled::Unchanged),
            _ if self.absent(&resp)? => Ok(Polled::Now(None)),
            _ => Err(self.unexpected(id, resp).await),
        }
    }

    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        match self.poll(id, None).await? {
            Polled::Now(found) => Ok(found),
            Polled::Unchanged => Err(StoreError::Protocol {
                store: self.shown.clone(),
                detail: "304 Not Modified to an unconditional GET".into(),
            }),
        }
    }
}

/// A version as an `If-Match` value, if it can be one (a store's own always can).
fn etag_header(v: &Version) -> Option<HeaderValue> {
    HeaderValue::from_str(&wire::etag(v)).ok()
}

/// The TLS failure behind a request error, if that is what it was: a certificate not
/// trusted needs an operator, not a retry.
fn tls_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        // io::Error's source() skips the error it wraps (which may be an io::Error again).
        current = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

#[async_trait]
impl ConfigStore for HttpStore {
    fn describe(&self) -> String {
        self.client.shown.clone()
    }

    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        self.client.get(id).await
    }

    async fn put(
        &self,
        id: &RouterId,
        text: &str,
        expect: &Expect,
        message: &str,
    ) -> Result<Version, StoreError> {
        let c = &self.client;
        let url = Client::with_message(c.url(id, &["config"]), message);
        let req = c
            .request(Method::PUT, url)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(text.to_owned());
        let req = match expect {
            Expect::Absent => req.header(header::IF_NONE_MATCH, "*"),
            Expect::Version(v) => match etag_header(v) {
                Some(tag) => req.header(header::IF_MATCH, tag),
                // Not a version any store made: it cannot be current.
                None => {
                    return Err(StoreError::Conflict {
                        store: c.shown.clone(),
                        id: id.to_string(),
                        current: c.get(id).await?.map(|s| s.version),
                    })
                }
            },
        };
        let resp = c.send(req).await?;
        match resp.status() {
            StatusCode::OK | StatusCode::CREATED => {
                let version = c.version(&resp)?;
                tracing::debug!("{}: wrote {id} version {version}", c.shown);
                Ok(version)
            }
            StatusCode::PRECONDITION_FAILED => Err(StoreError::Conflict {
                store: c.shown.clone(),
                id: id.to_string(),
                current: resp
                    .headers()
                    .get(header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .and_then(wire::parse_etag),
            }),
            _ => Err(c.unexpected(id, resp).await),
        }
    }

    async fn archive(&self, id: &RouterId, text: &str, message: &str) -> Result<(), StoreError> {
        let c = &self.client;
        let url = Client::with_message(c.url(id, &["archive"]), message);
        let req = c
            .request(Method::POST, url)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(text.to_owned());
        let resp = c.send(req).await?;
        if resp.status().is_success() {
            tracing::debug!("{}: archived a version of {id}", c.shown);
            return Ok(());
        }
        Err(c.unexpected(id, resp).await)
    }

    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        let c = &self.client;
        let resp = c
            .send(c.request(Method::GET, c.url(id, &["history"])))
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(c.unexpected(id, resp).await);
        }
        let body = c.body(resp).await?;
        let items: Vec<wire::HistoryItem> =
            serde_json::from_slice(&body).map_err(|e| StoreError::Protocol {
                store: c.shown.clone(),
                detail: format!("history of {id}: {e}"),
            })?;
        Ok(items.into_iter().map(HistoryEntry::from).collect())
    }

    async fn get_version(&self, id: &RouterId, version: &Version) -> Result<String, StoreError> {
        let c = &self.client;
        // A dot segment would be resolved away by the URL (`history/..` is the router's
        // directory): no store names a version so.
        if matches!(version.0.as_str(), "" | "." | "..") {
            return Err(StoreError::NoSuchVersion {
                store: c.shown.clone(),
                id: id.to_string(),
                version: version.clone(),
            });
        }
        let resp = c
            .send(c.request(Method::GET, c.url(id, &["history", &version.0])))
            .await?;
        match resp.status() {
            StatusCode::OK => c.text(resp).await,
            _ if c.absent(&resp)? => Err(StoreError::NoSuchVersion {
                store: c.shown.clone(),
                id: id.to_string(),
                version: version.clone(),
            }),
            _ => Err(c.unexpected(id, resp).await),
        }
    }

    async fn get_file(
        &self,
        id: &RouterId,
        name: &FileName,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let c = &self.client;
        let resp = c
            .send(c.request(Method::GET, c.url(id, &["files", name.as_str()])))
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(c.body(resp).await?)),
            _ if c.absent(&resp)? => Ok(None),
            _ => Err(c.unexpected(id, resp).await),
        }
    }

    async fn put_file(
        &self,
        id: &RouterId,
        name: &FileName,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let c = &self.client;
        let req = c
            .request(Method::PUT, c.url(id, &["files", name.as_str()]))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec());
        let resp = c.send(req).await?;
        if resp.status().is_success() {
            tracing::debug!("{}: wrote file {name} of {id}", c.shown);
            return Ok(());
        }
        Err(c.unexpected(id, resp).await)
    }

    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError> {
        let c = &self.client;
        let resp = c.send(c.request(Method::GET, c.routers_url())).await?;
        if resp.status() != StatusCode::OK {
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_TEXT)]);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => StoreError::Unauthorized {
                    store: c.shown.clone(),
                    id: "*".into(),
                },
                _ => StoreError::Protocol {
                    store: c.shown.clone(),
                    detail: format!("{status} listing the routers: {}", text.trim()),
                },
            });
        }
        let body = c.body(resp).await?;
        let list: wire::RouterList =
            serde_json::from_slice(&body).map_err(|e| StoreError::Protocol {
                store: c.shown.clone(),
                detail: format!("router list: {e}"),
            })?;
        // An id the server should never have made is left out, not trusted as a path.
        Ok(list
            .routers
            .iter()
            .filter_map(|r| RouterId::new(r).ok())
            .collect())
    }

    async fn put_status(&self, id: &RouterId, record: &[u8]) -> Result<(), StoreError> {
        let c = &self.client;
        let req = c
            .request(Method::PUT, c.url(id, &["status"]))
            .header(header::CONTENT_TYPE, "application/json")
            .body(record.to_vec());
        let resp = c.send(req).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(c.unexpected(id, resp).await)
    }

    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError> {
        let c = &self.client;
        let resp = c
            .send(c.request(Method::GET, c.url(id, &["status"])))
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(c.body(resp).await?)),
            _ if c.absent(&resp)? => Ok(None),
            _ => Err(c.unexpected(id, resp).await),
        }
    }

    async fn watch(
        &self,
        id: &RouterId,
        since: Option<Version>,
        poll: Duration,
    ) -> Result<Watch, StoreError> {
        let since = polling::start_version(since, || self.client.get(id)).await?;
        let client = self.client.clone();
        let id = id.clone();
        let what = format!("{} {id}", client.shown);
        Ok(polling::spawn(what, since, poll, move |since| {
            let (client, id) = (client.clone(), id.clone());
            async move { client.poll(&id, since.as_ref()).await }
        }))
    }
}

#[cfg(test)]
mod tests;
