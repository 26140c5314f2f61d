//! `tftp://HOST[:PORT]/PATH`: read-only configs from a TFTP server, for classic PXE setups.
//!
//! Reads `PATH/<id>/config.toml` and `PATH/<id>/files/<name>`. TFTP has no versions and no
//! listings: a config's version is a hash of its content, the history is just the current
//! config, and a watch polls. Every write is [`StoreError::ReadOnly`].

mod client;
mod packet;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use self::client::{Limits, TftpError};
use super::digest::content_version;
use super::{
    ConfigStore, Expect, FileName, HistoryEntry, RouterId, StoreError, Stored, Version, Watch,
};

/// Configs and host keys are far smaller; a bigger answer is a mistake or an attack.
const MAX_SIZE: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct TftpStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `HOST:PORT`, resolved at each read (DNS may come up after the store is opened).
    authority: String,
    /// No leading or trailing `/`; empty for the server's root.
    path: String,
    limits: Limits,
}

impl TftpStore {
    /// From a `tftp://HOST[:PORT]/PATH` URL. Each read gives up after about `timeout`
    /// without an answer (retransmitting every quarter of it, at most every second).
    pub fn from_url(url: &str, timeout: Duration) -> Result<TftpStore, StoreError> {
        let bad = |reason: &str| StoreError::BadUrl {
            url: url.to_owned(),
            reason: format!("{reason}; expected tftp://HOST[:PORT]/PATH"),
        };
        let rest = url
            .strip_prefix("tftp://")
            .ok_or_else(|| bad("not a tftp:// URL"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() || host.contains(['@', '?', '#', ',']) {
            return Err(bad(&format!("{host:?} is not HOST[:PORT]")));
        }
        let has_port = match host.rsplit_once(':') {
            // An IPv6 literal without a port ends in `]`.
            Some((_, port)) if !port.ends_with(']') => {
                port.parse::<u16>()
                    .map_err(|_| bad(&format!("port {port:?} is not a number")))?;
                true
            }
            _ => false,
        };
        let authority = if has_port {
            host.to_owned()
        } else {
            format!("{host}:69")
        };
        let path = path.trim_matches('/');
        if path.split('/').any(|s| s == "..") {
            return Err(bad("the path has a .. segment"));
        }
        let retransmit = (timeout / 4).min(Duration::from_secs(1));
        let retries = u32::try_from(timeout.as_millis() / retransmit.as_millis().max(1))
            .unwrap_or(u32::MAX)
            .max(1);
        Ok(TftpStore {
            inner: Arc::new(Inner {
                authority,
                path: path.to_owned(),
                limits: Limits {
                    retransmit,
                    retries,
                    max_size: MAX_SIZE,
                },
            }),
        })
    }

    fn file_path(&self, id: &RouterId, rest: &str) -> String {
        if self.inner.path.is_empty() {
            format!("{id}/{rest}")
        } else {
            format!("{}/{id}/{rest}", self.inner.path)
        }
    }

    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let server = self.resolve().await?;
        let got = client::read(server, path, self.inner.limits).await;
        tracing::debug!(%server, path, ok = got.is_ok(), "tftp read");
        got.map_err(|e| {
            let transient = matches!(e, TftpError::Io(_) | TftpError::Timeout { .. });
            let detail = format!("reading {path}: {e}");
            if transient {
                StoreError::Unreachable {
                    store: self.describe(),
                    detail,
                }
            } else {
                StoreError::Protocol {
                    store: self.describe(),
                    detail,
                }
            }
        })
    }

    async fn resolve(&self) -> Result<SocketAddr, StoreError> {
        let unreachable = |detail: String| StoreError::Unreachable {
            store: self.describe(),
            detail,
        };
        let mut addrs = tokio::net::lookup_host(&self.inner.authority)
            .await
            .map_err(|e| unreachable(format!("cannot resolve {}: {e}", self.inner.authority)))?;
        addrs
            .next()
            .ok_or_else(|| unreachable(format!("{} has no address", self.inner.authority)))
    }

    fn read_only(&self) -> StoreError {
        StoreError::ReadOnly {
            store: self.describe(),
        }
    }
}

#[async_trait]
impl ConfigStore for TftpStore {
    fn describe(&self) -> String {
        format!("tftp://{}/{}", self.inner.authority, self.inner.path)
    }

    fn read_only(&self) -> bool {
        true
    }

    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        let path = self.file_path(id, "config.toml");
        let Some(bytes) = self.read(&path).await? else {
            return Ok(None);
        };
        let version = content_version(&bytes);
        let text = String::from_utf8(bytes).map_err(|_| StoreError::Protocol {
            store: self.describe(),
            detail: format!("{path} is not UTF-8 text; a config is TOML"),
        })?;
        Ok(Some(Stored { text, version }))
    }

    async fn put(
        &self,
        _id: &RouterId,
        _text: &str,
        _expect: &Expect,
        _message: &str,
    ) -> Result<Version, StoreError> {
        Err(self.read_only())
    }

    async fn archive(&self, _id: &RouterId, _text: &str, _message: &str) -> Result<(), StoreError> {
        Err(self.read_only())
    }

    /// TFTP cannot list: the history is the current config alone.
    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(self
            .get(id)
            .await?
            .map(|current| HistoryEntry {
                version: current.version,
                unix_time: None,
                message: "the current config (a TFTP store keeps no history)".into(),
            })
            .into_iter()
            .collect())
    }

    async fn get_version(&self, id: &RouterId, version: &Version) -> Result<String, StoreError> {
        match self.get(id).await? {
            Some(current) if &current.version == version => Ok(current.text),
            _ => Err(StoreError::NoSuchVersion {
                store: self.describe(),
                id: id.to_string(),
                version: version.clone(),
            }),
        }
    }

    async fn get_file(
        &self,
        id: &RouterId,
        name: &FileName,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(&self.file_path(id, &format!("files/{name}")))
            .await
    }

    async fn put_file(
        &self,
        _id: &RouterId,
        _name: &FileName,
        _bytes: &[u8],
    ) -> Result<(), StoreError> {
        Err(self.read_only())
    }

    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError> {
        Err(StoreError::Refused {
            store: self.describe(),
            detail: "TFTP has no directory listing; list the routers of the store the TFTP \
                     directory is filled from (file://, http(s)://, etcd://)"
                .into(),
        })
    }

    async fn put_status(&self, _id: &RouterId, _record: &[u8]) -> Result<(), StoreError> {
        Err(self.read_only())
    }

    /// A `status.json` someone put beside the config, if any.
    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(&self.file_path(id, "status.json")).await
    }

    async fn watch(
        &self,
        id: &RouterId,
        since: Option<Version>,
        poll: Duration,
    ) -> Result<Watch, StoreError> {
        super::polling::watch_by_reading(self, id, since, poll).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = |url| TftpStore::from_url(url, Duration::from_secs(8));
        let s = t("tftp://boot.example:6969/routers/").expect("ok");
        assert_eq!(s.inner.authority, "boot.example:6969");
        let id = RouterId::new("r1").expect("id");
        assert_eq!(s.file_path(&id, "config.toml"), "routers/r1/config.toml");
        assert_eq!(s.inner.limits.retransmit, Duration::from_secs(1));
        assert_eq!(s.inner.limits.retries, 8);
        assert_eq!(
            t("tftp://10.0.0.1").expect("ok").inner.authority,
            "10.0.0.1:69"
        );
        assert_eq!(t("tftp://[::1]/x").expect("ok").inner.authority, "[::1]:69");
        assert_eq!(
            t("tftp://[::1]:70/x").expect("ok").inner.authority,
            "[::1]:70"
        );
        for bad in [
            "tftp://",
            "tftp:///x",
            "tftp://h:x/p",
            "tftp://h/../etc",
            "http://h/",
        ] {
            assert!(t(bad).is_err(), "{bad} accepted");
        }
    }
}
