//! Why the store server could not start.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::boot::BootError;
use super::dashboard::RenderError;
use super::first_start::FirstStartError;
use super::git::GitError;
use super::tokens::TokensError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{what}")]
    Dir {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is in use by another `router-store serve` (one server per directory)", dir.display())]
    Locked {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed")]
    Git {
        what: &'static str,
        #[source]
        source: GitError,
    },
    #[error(transparent)]
    Tokens(#[from] TokensError),
    #[error("first start")]
    FirstStart(#[from] FirstStartError),
    #[error("TLS: {what} {}", path.display())]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: the certificate and key do not make a server config")]
    Tls(#[source] rustls::Error),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("network boot")]
    Boot(#[from] BootError),
    #[error("enrolment")]
    Enrol(#[from] super::enrol::EnrolError),
    #[error("opening the store {url}")]
    Store {
        url: String,
        #[source]
        source: router_store_client::StoreError,
    },
    #[error("no store: --dir DIR, or --store URL for the dashboard alone")]
    NoStore,
    #[error("the dashboard")]
    Dashboard(#[source] RenderError),
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
}
