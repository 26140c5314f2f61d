//! Enrolment (docs/netboot.md, "Enrolment"): a boot script is readable by anyone on the
//! boot network who claims a MAC, so it carries only a short-lived, single-use enrolment
//! token (`router.enrol=`). The booted router exchanges it once, at first contact, for a
//! token of its own (`POST /v1/enrol`), which replaces the token of its previous boot.
//! The router keeps nothing on disk: every boot enrols anew, and that is the rotation.
//! Tokens are kept only as SHA-256 digests; the minted ones in `DIR/enrolled.toml`, so a
//! restarted server still knows the running routers.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use router_store_client::{atomic, RouterId};
use serde::Serialize;

use super::first_start::random_token;
use super::tokens::{parse_entries, Digest256, EnrolledTokens, Scope, TokensError};

/// How long an enrolment token is good for after its script was served: a slow machine
/// takes minutes from iPXE to the agent's first contact (TCG here: under a minute).
pub const LIFETIME_SECS: u64 = 600;
/// Unused enrolment tokens kept per router (iPXE's retry loop fetches a script each time).
const PENDING_PER_ROUTER: usize = 4;
/// Events kept per router for `GET /v1/routers/ID/enrolments`.
const EVENTS_KEPT: usize = 32;

/// Seconds since the epoch; a fake one in tests.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> u64;
}

#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        router_store_client::status::unix_now()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("drawing a random token")]
    Random(#[source] super::first_start::FirstStartError),
    #[error("writing {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] TokensError),
}

/// Why an exchange gets nothing (all the same to the caller: 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// Never minted here (or so long ago that it is forgotten).
    Unknown,
    /// Already exchanged: a replay, or a second machine with the same script.
    Replayed,
    /// Not exchanged within [`LIFETIME_SECS`].
    Expired,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Unknown => "unknown enrolment token",
            Refused::Replayed => "this enrolment token was already used",
            Refused::Expired => "this enrolment token has expired (boot again for a new one)",
        })
    }
}

/// One thing that happened to a router's enrolment, for its operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub unix_time: u64,
    /// `minted`, `enrolled`, `replayed`, `expired`.
    pub what: &'static str,
    /// The client address of the request, where known.
    pub from: Option<String>,
}

#[derive(Debug)]
struct Pending {
    id: RouterId,
    expires: u64,
    /// Order of minting (expiry times tie within a second).
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    pending: HashMap<Digest256, Pending>,
    /// Used tokens until their expiry, so that a replay is told apart and recorded.
    spent: HashMap<Digest256, (RouterId, u64)>,
    minted: u64,
    events: HashMap<RouterId, VecDeque<Event>>,
}

impl Inner {
    fn prune(&mut self, now: u64) {
        self.spent.retain(|_, (_, expires)| *expires > now);
        let expired: Vec<Digest256> = self
            .pending
            .iter()
            .filter(|(_, p)| p.expires <= now)
            .map(|(d, _)| *d)
            .collect();
        for d in expired {
            if let Some(p) = self.pending.remove(&d) {
                // Still told apart from an unknown token until twice the lifetime.
                self.spent.insert(d, (p.id, p.expires + LIFETIME_SECS));
            }
        }
    }

    fn record(&mut self, id: &RouterId, event: Event) {
        let events = self.events.entry(id.clone()).or_default();
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(event);
    }
}

/// The enrolments of one server.
#[derive(Debug, Clone)]
pub struct Enrolments {
    clock: Arc<dyn Clock>,
    enrolled: EnrolledTokens,
    /// `DIR/enrolled.toml`: the minted tokens' digests (none in tests that want none).
    file: Option<PathBuf>,
    inner: Arc<Mutex<Inner>>,
}

impl Enrolments {
    /// Enrolments adding their tokens to `enrolled`; those kept in `file` are read back.
    pub(crate) fn open(
        clock: Arc<dyn Clock>,
        enrolled: EnrolledTokens,
        file: Option<PathBuf>,
    ) -> Result<Self, EnrolError> {
        if let Some(path) = &file {
            let shown = path.display().to_string();
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    for (digest, scope) in parse_entries(&shown, &text)? {
                        if let Scope::Router(id) = scope {
                            enrolled.replace(&id, digest);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(EnrolError::Read {
                        path: shown,
                        source,
                    })
                }
            }
        }
        Ok(Enrolments {
            clock,
            enrolled,
            file,
            inner: Arc::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new enrolment token for `id`, good once within [`LIFETIME_SECS`].
    pub fn mint(&self, id: &RouterId, from: Option<String>) -> Result<String, EnrolError> {
        let token = random_token().map_err(EnrolError::Random)?;
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.prune(now);
        let mine: Vec<(Digest256, u64)> = inner
            .pending
            .iter()
            .filter(|(_, p)| &p.id == id)
            .map(|(d, p)| (*d, p.seq))
            .collect();
        if mine.len() >= PENDING_PER_ROUTER {
            if let Some((oldest, _)) = mine.iter().min_by_key(|(_, e)| *e) {
                inner.pending.remove(oldest);
            }
        }
        inner.minted += 1;
        let seq = inner.minted;
        inner.pending.insert(
            Digest256::of(&token),
            Pending {
                id: id.clone(),
                expires: now + LIFETIME_SECS,
                seq,
            },
        );
        inner.record(id, event(now, "minted", from));
        Ok(token)
    }

    /// The router's own token for an enrolment token, once; its previous token stops
    /// working. A refusal is recorded against the router the token was minted for.
    pub fn exchange(
        &self,
        token: &str,
        from: Option<String>,
    ) -> Result<Result<(RouterId, String), Refused>, EnrolError> {
        let digest = Digest256::of(token.trim());
        let now = self.clock.now();
        let mut inner = self.lock();
        let expired = inner.pending.get(&digest).is_some_and(|p| p.expires <= now);
        if expired {
            let p = inner.pending.remove(&digest).expect("just seen");
            tracing::warn!("router {}: enrolment refused: token expired", p.id);
            inner.record(&p.id, event(now, "expired", from));
            inner.spent.insert(digest, (p.id, now + LIFETIME_SECS));
            return Ok(Err(Refused::Expired));
        }
        inner.prune(now);
        let Some(pending) = inner.pending.remove(&digest) else {
            return Ok(Err(match inner.spent.get(&digest).cloned() {
                Some((id, _)) => {
                    tracing::warn!(
                        "router {id}: enrolment REFUSED: token used before (a replay, or a spoofed MAC), from {}",
                        from.as_deref().unwrap_or("?")
                    );
                    inner.record(&id, event(now, "replayed", from));
                    Refused::Replayed
                }
                None => {
                    tracing::info!("enrolment refused: unknown token");
                    Refused::Unknown
                }
            }));
        };
        let own = random_token().map_err(EnrolError::Random)?;
        self.enrolled.replace(&pending.id, Digest256::of(&own));
        inner
            .spent
            .insert(digest, (pending.id.clone(), pending.expires));
        tracing::info!(
            "router {}: enrolled from {}; its previous token no longer works",
            pending.id,
            from.as_deref().unwrap_or("?")
        );
        inner.record(&pending.id, event(now, "enrolled", from));
        drop(inner);
        self.save()?;
        Ok(Ok((pending.id, own)))
    }

    /// What happened to `id`'s enrolments, oldest first.
    pub fn events(&self, id: &RouterId) -> Vec<Event> {
        let inner = self.lock();
        inner
            .events
            .get(id)
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The minted tokens' digests, written whole (mode 0600).
    fn save(&self) -> Result<(), EnrolError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let mut text = String::from(
            "# Tokens routers got by enrolment (router-store writes this file; one per router,\n# replaced at each boot). Delete a router's entry to revoke it.\n",
        );
        for (id, digest) in self.enrolled.all() {
            text.push_str(&format!(
                "\n[[token]]\nsha256 = \"{}\"\nrouter = \"{id}\"\n",
                digest.hex()
            ));
        }
        atomic::write_file(path, text.as_bytes(), atomic::PRIVATE).map_err(|source| {
            EnrolError::Write {
                path: path.display().to_string(),
                source,
            }
        })
    }
}

fn event(unix_time: u64, what: &'static str, from: Option<String>) -> Event {
    Event {
        unix_time,
        what,
        from,
    }
}

#[cfg(test)]
#[path = "enrol_tests.rs"]
mod tests;
