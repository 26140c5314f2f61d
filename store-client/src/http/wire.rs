//! The store's HTTP API as both sides speak it; docs/store.md describes it for operators.

use serde::{Deserialize, Serialize};

use crate::{HistoryEntry, Version};

/// Query parameter carrying the history message of a write (one line: the server makes
/// it one, and adds the trailers).
pub const MESSAGE: &str = "message";
/// Query parameter carrying the [`crate::WriteKind`] of a write.
pub const KIND: &str = "kind";

/// `GET /v1/routers`: the routers the caller may see.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterList {
    pub routers: Vec<String>,
}

/// One entry of `GET /v1/routers/{id}/history`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryItem {
    pub version: String,
    pub unix_time: Option<u64>,
    pub message: String,
}

impl From<HistoryEntry> for HistoryItem {
    fn from(e: HistoryEntry) -> Self {
        HistoryItem {
            version: e.version.0,
            unix_time: e.unix_time,
            message: e.message,
        }
    }
}

impl From<HistoryItem> for HistoryEntry {
    fn from(i: HistoryItem) -> Self {
        HistoryEntry {
            version: Version(i.version),
            unix_time: i.unix_time,
            message: i.message,
        }
    }
}

/// A version as a strong entity tag.
/// The answer to `POST /v1/enrol`: the router's own token, for the enrolment token sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolled {
    pub router: String,
    pub token: String,
}

pub fn etag(v: &Version) -> String {
    format!("\"{}\"", v.0)
}

/// The version in an entity tag: `"v"` (or weak `W/"v"`, which a proxy may make of it).
pub fn parse_etag(s: &str) -> Option<Version> {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.is_empty() && !inner.contains('"')).then(|| Version(inner.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        let v = Version("0123abcd".into());
        assert_eq!(parse_etag(&etag(&v)), Some(v.clone()));
        assert_eq!(parse_etag("W/\"0123abcd\""), Some(v));
        for bad in ["", "\"\"", "abc", "\"a\"b\"", "\"open"] {
            assert_eq!(parse_etag(bad), None, "{bad:?}");
        }
    }
}
