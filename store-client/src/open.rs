//! A store from its URL.

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigStore, HttpStore, StoreError};

/// How to reach a store, beyond its URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Bearer token for HTTP(S) stores.
    pub token: Option<String>,
    /// Extra CA certificate (PEM) to trust for HTTPS and etcd over TLS.
    pub ca_cert: Option<PathBuf>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            token: None,
            ca_cert: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Opens the store a URL names: `file://DIR`, `http(s)://HOST[:PORT][/PATH]`,
/// `tftp://HOST[:PORT][/PATH]`, `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`.
pub fn open(url: &str, options: &StoreOptions) -> Result<Box<dyn ConfigStore>, StoreError> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "file" => Ok(Box::new(super::file::FileStore::from_url(url)?)),
        "etcd" | "etcds" => Ok(Box::new(super::etcd::EtcdStore::from_url(
            url,
            options.timeout,
        )?)),
        "tftp" => Ok(Box::new(super::tftp::TftpStore::from_url(
            url,
            options.timeout,
        )?)),
        "http" | "https" => Ok(Box::new(HttpStore::open(url, options)?)),
        _ => Err(StoreError::BadUrl {
            url: url.to_owned(),
            reason: "expected file://, http://, https://, tftp:// or etcd://".into(),
        }),
    }
}
