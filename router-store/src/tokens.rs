//! Who may read and write which router: bearer tokens, kept as SHA-256 hashes in a TOML
//! file (format in docs/store.md), each for one router or, with `router = "*"`, for all.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use router_store_client::RouterId;

#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("tokens file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("tokens file {path}: expected [[token]] tables of sha256 and router")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("tokens file {path}: token sha256 {hash_start}... is listed twice")]
    Duplicate { path: String, hash_start: String },
    #[error("tokens file {path}: no [[token]]; nobody could use the store (without --tokens it is open to all)")]
    Empty { path: String },
}

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every router (`router = "*"`).
    Admin,
    Router(RouterId),
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "*" {
            return Ok(Scope::Admin);
        }
        RouterId::new(&s)
            .map(Scope::Router)
            .map_err(|e| serde::de::Error::custom(format!("{e}, or \"*\" for all routers")))
    }
}

/// A SHA-256 digest written as 64 hex digits (what `sha256sum` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Digest256(pub(crate) [u8; 32]);

impl Digest256 {
    pub(crate) fn of(token: &str) -> Self {
        Digest256(Sha256::digest(token.as_bytes()).into())
    }

    pub(crate) fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl<'de> Deserialize<'de> for Digest256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let expected = || {
            serde::de::Error::custom(
                "expected the token's SHA-256 as 64 hex digits (printf %s \"$TOKEN\" | sha256sum)",
            )
        };
        if s.len() != 64 || !s.is_ascii() {
            return Err(expected());
        }
        let mut digest = [0u8; 32];
        for (i, byte) in digest.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| expected())?;
        }
        Ok(Digest256(digest))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    token: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    sha256: Digest256,
    router: Scope,
}

/// The tokens a server accepts: the file's, and those routers got by enrolment
/// (`enrol.rs`), one per router, replaced at each of its enrolments.
#[derive(Clone)]
pub struct Tokens {
    by_digest: Arc<HashMap<Digest256, Scope>>,
    enrolled: EnrolledTokens,
}

/// The tokens minted by enrolment, shared between the access check and the enrolments.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnrolledTokens(Arc<RwLock<HashMap<Digest256, RouterId>>>);

impl EnrolledTokens {
    /// `id`'s token is now `digest`; its previous one (an earlier boot's) stops working.
    pub(crate) fn replace(&self, id: &RouterId, digest: Digest256) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, r| r != id);
        map.insert(digest, id.clone());
    }

    fn get(&self, digest: &Digest256) -> Option<RouterId> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(digest).cloned()
    }

    /// Every router's current token digest, for the file that keeps them.
    pub(crate) fn all(&self) -> Vec<(RouterId, Digest256)> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = map.iter().map(|(d, id)| (id.clone(), *d)).collect();
        all.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        all
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} tokens)", self.by_digest.len())
    }
}

/// Parses a file of `[[token]]` entries (also the enrolled tokens' file).
pub(crate) fn parse_entries(
    path: &str,
    text: &str,
) -> Result<Vec<(Digest256, Scope)>, TokensError> {
    let file: TokensFile = toml::from_str(text).map_err(|source| TokensError::Parse {
        path: path.to_owned(),
        source,
    })?;
    Ok(file
        .token
        .into_iter()
        .map(|e| (e.sha256, e.router))
        .collect())
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Self, TokensError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
            path: shown.clone(),
            source,
        })?;
        Tokens::parse(&shown, &text)
    }

    pub fn parse(path: &str, text: &str) -> Result<Self, TokensError> {
        let entries = parse_entries(path, text)?;
        if entries.is_empty() {
            return Err(TokensError::Empty {
                path: path.to_owned(),
            });
        }
        let mut by_digest = HashMap::new();
        for (sha256, router) in entries {
            if by_digest.insert(sha256, router).is_some() {
                return Err(TokensError::Duplicate {
                    path: path.to_owned(),
                    hash_start: sha256.hex()[..8].to_owned(),
                });
            }
        }
        Ok(Tokens {
            by_digest: Arc::new(by_digest),
            enrolled: EnrolledTokens::default(),
        })
    }

    /// Looked up by the token's digest: the file holds no token, and a lookup's timing
    /// tells nothing about the tokens it holds.
    pub(crate) fn scope(&self, token: &str) -> Option<Scope> {
        let digest = Digest256::of(token);
        if let Some(scope) = self.by_digest.get(&digest) {
            return Some(scope.clone());
        }
        self.enrolled.get(&digest).map(Scope::Router)
    }

    /// The table enrolment adds routers' tokens to.
    pub(crate) fn enrolled(&self) -> EnrolledTokens {
        self.enrolled.clone()
    }
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The server runs without tokens.
    Anyone,
    Admin,
    Router(RouterId),
}

impl Caller {
    pub fn may(&self, id: &RouterId) -> bool {
        match self {
            Caller::Anyone | Caller::Admin => true,
            Caller::Router(own) => own == id,
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Anyone => f.write_str("anyone (open store)"),
            Caller::Admin => f.write_str("admin token"),
            Caller::Router(id) => write!(f, "token of router {id}"),
        }
    }
}

/// How requests are let in.
#[derive(Debug)]
pub enum Access {
    /// No tokens: anyone reaching the port reads and writes everything.
    Open,
    Tokens(Tokens),
}

/// Why a request is not let in (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    NoToken,
    UnknownToken,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Denied::NoToken => "this store needs a bearer token (Authorization: Bearer TOKEN)",
            Denied::UnknownToken => "unknown bearer token",
        })
    }
}

impl Access {
    /// The caller an `Authorization` header value names.
    pub fn caller(&self, authorization: Option<&[u8]>) -> Result<Caller, Denied> {
        let Access::Tokens(tokens) = self else {
            return Ok(Caller::Anyone);
        };
        let token = authorization
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(Denied::NoToken)?;
        match tokens.scope(token) {
            Some(Scope::Admin) => Ok(Caller::Admin),
            Some(Scope::Router(id)) => Ok(Caller::Router(id)),
            None => Err(Denied::UnknownToken),
        }
    }
}
