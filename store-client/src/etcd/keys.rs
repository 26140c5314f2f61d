//! `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` and the keys of one router under the prefix:
//!
//! ```text
//! PREFIX/<id>/config         the current TOML, byte for byte; its mod_revision is its version
//! PREFIX/<id>/head           which history entry holds the current config (JSON)
//! PREFIX/<id>/history/<n>    the TOML of every version ever written
//! PREFIX/<id>/log/<n>        its message and time (JSON), small, for listing
//! PREFIX/<id>/files/<name>   files kept beside the config
//! PREFIX/<id>/status         the router's status record (JSON), replaced in place
//! ```
//!
//! `<n>` is the write's time in microseconds, a process tag and a counter: unique, and
//! sorted by time in `etcdctl get --prefix`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{FileName, RouterId, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EtcdUrl {
    /// `http://HOST:PORT` each.
    pub endpoints: Vec<String>,
    /// Leading `/`, no trailing one; empty for the root.
    pub prefix: String,
}

impl EtcdUrl {
    pub fn parse(url: &str) -> Result<EtcdUrl, StoreError> {
        let bad = |reason: &str| StoreError::BadUrl {
            url: url.to_owned(),
            reason: format!("{reason}; expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX"),
        };
        if url.starts_with("etcds://") {
            return Err(bad("etcd over TLS is not in this build"));
        }
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| bad("not an etcd:// URL"))?;
        let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            let port = host
                .rsplit_once(':')
                .map(|(h, p)| (h, p.parse::<u16>()))
                .filter(|(h, p)| !h.is_empty() && p.is_ok());
            if port.is_none() || host.contains(['@', '?', '#']) {
                return Err(bad(&format!("{host:?} is not HOST:PORT")));
            }
            endpoints.push(format!("http://{host}"));
        }
        let path = path.trim_matches('/');
        if path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
            return Err(bad(&format!("prefix {path:?} has empty, . or .. segments")));
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        };
        Ok(EtcdUrl { endpoints, prefix })
    }

    /// As it may be logged.
    pub fn describe(&self) -> String {
        let hosts: Vec<_> = self
            .endpoints
            .iter()
            .map(|e| e.trim_start_matches("http://"))
            .collect();
        format!("etcd://{}{}", hosts.join(","), self.prefix)
    }

    pub fn router(&self, id: &RouterId) -> RouterKeys {
        RouterKeys {
            base: format!("{}/{}/", self.prefix, id),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct RouterKeys {
    base: String,
}

impl RouterKeys {
    pub fn config(&self) -> String {
        format!("{}config", self.base)
    }

    pub fn head(&self) -> String {
        format!("{}head", self.base)
    }

    pub fn history(&self, n: &str) -> String {
        format!("{}history/{n}", self.base)
    }

    pub fn log_prefix(&self) -> String {
        format!("{}log/", self.base)
    }

    pub fn log(&self, n: &str) -> String {
        format!("{}log/{n}", self.base)
    }

    pub fn file(&self, name: &FileName) -> String {
        format!("{}files/{name}", self.base)
    }

    pub fn status(&self) -> String {
        format!("{}status", self.base)
    }
}

impl EtcdUrl {
    /// The start of every router's keys: `PREFIX/`.
    pub fn routers_prefix(&self) -> String {
        format!("{}/", self.prefix)
    }

    /// The router a key under [`EtcdUrl::routers_prefix`] belongs to, when it is its config
    /// or its status record (other keys, and ids that are not [`RouterId`]s, name none).
    pub fn router_of(&self, key: &str) -> Option<RouterId> {
        let rest = key.strip_prefix(&self.routers_prefix())?;
        let (id, what) = rest.split_once('/')?;
        matches!(what, "config" | "status")
            .then(|| RouterId::new(id).ok())
            .flatten()
    }
}

/// A fresh history entry name.
pub(super) fn entry_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{micros:017}-{:08x}-{n}", std::process::id())
}

pub(super) fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `PREFIX/<id>/log/<n>`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogEntry {
    pub unix_time: u64,
    pub message: String,
    /// The config's revision, for a config recorded after it was written (by `etcdctl`);
    /// absent when the entry was written in the same transaction (its own revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
}

/// `PREFIX/<id>/head`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Head {
    pub entry: String,
    /// As in [`LogEntry::revision`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = EtcdUrl::parse("etcd://127.0.0.1:2379,[::1]:2380/fleet/routers/").expect("ok");
        assert_eq!(
            u.endpoints,
            ["http://127.0.0.1:2379", "http://[::1]:2380"].map(String::from)
        );
        assert_eq!(u.prefix, "/fleet/routers");
        assert_eq!(
            u.router(&RouterId::new("r1").expect("id")).config(),
            "/fleet/routers/r1/config"
        );
        assert_eq!(
            EtcdUrl::parse("etcd://h:1")
                .expect("ok")
                .router(&RouterId::new("r1").expect("id"))
                .config(),
            "/r1/config"
        );
        let u = EtcdUrl::parse("etcd://h:1/fleet").expect("ok");
        assert_eq!(
            u.router_of("/fleet/r1/status").map(|r| r.to_string()),
            Some("r1".into())
        );
        for not in [
            "/fleet/r1/history/1",
            "/fleet/../config",
            "/other/r1/config",
            "/fleet/r1",
        ] {
            assert_eq!(u.router_of(not), None, "{not}");
        }
        for bad in [
            "etcd://",
            "etcd://host/p",
            "etcd://host:99999/p",
            "etcd://:1/p",
            "etcd://a:1,/p",
            "etcd://a:1/x/../y",
            "etcds://a:1/p",
            "http://a:1/p",
        ] {
            assert!(EtcdUrl::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
