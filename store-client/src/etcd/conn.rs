//! The connection to the cluster: to one member at a time. A transport failure moves to the
//! next member, so a dead member costs one failed request. (A balancer over all members
//! keeps sending a share of requests to a dead one.)

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;

use super::gateway::{Endpoint, Failure, Range};
use super::keys::EtcdUrl;
use crate::StoreError;

pub(super) struct Conn {
    pub url: EtcdUrl,
    pub timeout: Duration,
    http: reqwest::Client,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The member to talk to, an index into the URL's endpoints.
    member: usize,
    /// Counts member changes, so a failure seen on an old member does not skip a newer one.
    generation: u64,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub fn new(url: EtcdUrl, timeout: Duration) -> Result<Conn, StoreError> {
        let bad = |e: &dyn std::error::Error| StoreError::BadUrl {
            url: url.describe(),
            reason: format!("cannot set up the HTTP client: {}", crate::error_chain(e)),
        };
        // Plain HTTP (etcds:// is refused by the URL parser); reqwest wants a TLS setup.
        let tls = crate::http::tls::client_config(None, false).map_err(|e| bad(&e))?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            // Notices a member that vanished without closing the connection (a watch
            // otherwise waits on it for ever).
            .tcp_keepalive(Duration::from_secs(2))
            .tcp_keepalive_interval(Duration::from_secs(2))
            .tcp_keepalive_retries(2)
            .http1_only()
            // Nothing to follow: the gateway never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| bad(&e))?;
        Ok(Conn {
            url,
            timeout,
            http,
            state: Mutex::new(State::default()),
        })
    }

    /// Every member once, and one more: how often a request is tried.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.url.endpoints.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
            .max(3)
    }

    async fn endpoint(&self) -> (Endpoint, u64) {
        let state = self.state.lock().await;
        let base = self.url.endpoints[state.member % self.url.endpoints.len()].clone();
        let endpoint = Endpoint {
            http: self.http.clone(),
            base,
        };
        (endpoint, state.generation)
    }

    /// Moves on from the member of `generation` after a transport failure.
    pub async fn reset(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state.generation == generation {
            state.member += 1;
            state.generation += 1;
            tracing::debug!(store = %self.url.describe(), member = state.member % self.url.endpoints.len(), "etcd: next member");
        }
    }

    /// One request, bounded by the store's timeout.
    pub async fn call<T, F, Fut>(&self, what: &str, request: F) -> Result<T, StoreError>
    where
        F: FnOnce(Endpoint) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        self.open(what, request).await.map(|(value, _)| value)
    }

    /// [`Conn::call`], also naming the member, for a stream whose later failure is
    /// reported with [`Conn::reset`].
    pub async fn open<T, F, Fut>(&self, what: &str, request: F) -> Result<(T, u64), StoreError>
    where
        F: FnOnce(Endpoint) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let (endpoint, generation) = self.endpoint().await;
        let result = match tokio::time::timeout(self.timeout, request(endpoint)).await {
            Ok(Ok(value)) => return Ok((value, generation)),
            Ok(Err(e)) => self.error(what, e),
            Err(_) => self.no_answer(what),
        };
        if result.is_transient() {
            self.reset(generation).await;
        }
        Err(result)
    }

    /// A request that is safe to repeat, tried on other members until one answers.
    pub async fn read<T, F, Fut>(&self, what: &str, request: F) -> Result<T, StoreError>
    where
        F: Fn(Endpoint) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut attempt = 1;
        loop {
            match self.call(what, &request).await {
                Err(e) if e.is_transient() && attempt < self.attempts() => {
                    tracing::debug!(error = %e, attempt, "etcd read failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// One key, read with retries.
    pub async fn get(&self, what: &str, key: &str) -> Result<Range, StoreError> {
        self.read(what, |e| async move { e.range(key, false, false).await })
            .await
    }

    pub fn error(&self, what: &str, e: Failure) -> StoreError {
        let store = self.url.describe();
        let detail = format!("{what}: {}", e.detail);
        if e.transient {
            StoreError::Unreachable { store, detail }
        } else {
            StoreError::Protocol { store, detail }
        }
    }

    fn no_answer(&self, what: &str) -> StoreError {
        StoreError::Unreachable {
            store: self.url.describe(),
            detail: format!("{what}: no answer within {:?}", self.timeout),
        }
    }
}

/// 100 ms, 200 ms, 400 ms, ... up to 2 s.
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(5).saturating_sub(1)).min(Duration::from_secs(2))
}
