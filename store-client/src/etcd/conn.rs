//! The connection to the cluster: to one member at a time, dialled on first use. A
//! transport failure drops it and the next call dials the next member, so a dead member
//! costs one failed request. (etcd-client's gRPC balancer over all members keeps sending a
//! share of requests to a dead one.)

use std::future::Future;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, GetResponse};
use tokio::sync::Mutex;

use super::keys::EtcdUrl;
use crate::StoreError;

/// gRPC status codes that mean "try again, maybe elsewhere".
const CANCELLED: i32 = 1;
const UNKNOWN: i32 = 2;
const DEADLINE_EXCEEDED: i32 = 4;
const UNAVAILABLE: i32 = 14;

pub(super) struct Conn {
    pub url: EtcdUrl,
    pub timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The member to dial next, an index into the URL's endpoints.
    member: usize,
    client: Option<Client>,
    /// Counts connections, so a failure on an old one does not drop a newer one.
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
    pub fn new(url: EtcdUrl, timeout: Duration) -> Conn {
        Conn {
            url,
            timeout,
            state: Mutex::new(State::default()),
        }
    }

    /// Every member once, and one more: how often a request is tried.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.url.endpoints.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
            .max(3)
    }

    pub async fn client(&self) -> Result<(Client, u64), StoreError> {
        let mut state = self.state.lock().await;
        if let Some(client) = state.client.as_ref() {
            return Ok((client.clone(), state.generation));
        }
        let endpoint = &self.url.endpoints[state.member % self.url.endpoints.len()];
        let options = ConnectOptions::new()
            .with_connect_timeout(self.timeout)
            // Notices a member that vanished without closing the connection.
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
            // A member cut off from the leader refuses (and ends watches) instead of
            // serving stale data.
            .with_require_leader(true);
        let connect = Client::connect([endpoint], Some(options));
        let client = match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                state.member += 1;
                return Err(self.error("connecting", e));
            }
            Err(_) => {
                state.member += 1;
                return Err(self.no_answer("connecting"));
            }
        };
        tracing::debug!(store = %self.url.describe(), endpoint, "connected");
        state.client = Some(client.clone());
        state.generation += 1;
        Ok((client, state.generation))
    }

    /// Forgets connection `generation` after a transport failure; the next call dials the
    /// next member.
    pub async fn reset(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state.generation == generation && state.client.take().is_some() {
            state.member += 1;
        }
    }

    /// One request, bounded by the store's timeout.
    pub async fn call<T, F, Fut>(&self, what: &str, request: F) -> Result<T, StoreError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.open(what, request).await.map(|(value, _)| value)
    }

    /// [`Conn::call`], also naming the connection, for a stream whose later failure is
    /// reported with [`Conn::reset`].
    pub async fn open<T, F, Fut>(&self, what: &str, request: F) -> Result<(T, u64), StoreError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let (client, generation) = self.client().await?;
        let result = match tokio::time::timeout(self.timeout, request(client)).await {
            Ok(Ok(value)) => return Ok((value, generation)),
            Ok(Err(e)) => self.error(what, e),
            Err(_) => self.no_answer(what),
        };
        if result.is_transient() {
            self.reset(generation).await;
        }
        Err(result)
    }

    /// A request that is safe to repeat, tried on fresh connections until a member answers.
    pub async fn read<T, F, Fut>(&self, what: &str, request: F) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
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
    pub async fn get(&self, what: &str, key: &str) -> Result<GetResponse, StoreError> {
        self.read(what, |mut c| async move { c.get(key, None).await })
            .await
    }

    pub fn error(&self, what: &str, e: etcd_client::Error) -> StoreError {
        use etcd_client::Error as E;
        let transient = match &e {
            E::TransportError(_) | E::IoError(_) | E::WatchError(_) => true,
            E::GRpcStatus(status) => matches!(
                i32::from(status.code()),
                CANCELLED | UNKNOWN | DEADLINE_EXCEEDED | UNAVAILABLE
            ),
            _ => false,
        };
        let store = self.url.describe();
        if transient {
            StoreError::Unreachable {
                store,
                detail: format!("{what}: {e}"),
            }
        } else {
            StoreError::Protocol {
                store,
                detail: format!("{what}: {e}"),
            }
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
