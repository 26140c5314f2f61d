//! Accepting connections: plain HTTP/1.1, or TLS (rustls) first; bounded header and
//! handshake times; on stop, connections finish the request they are in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::limits::{Full, Slot, Tracker};

/// A client must send its request headers within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long requests in flight may take to finish once the server stops.
const GRACE: Duration = Duration::from_secs(10);

pub(super) async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    tracker: Tracker,
    mut stop: watch::Receiver<bool>,
) {
    let tls = tls.map(TlsAcceptor::from);
    let mut connections = JoinSet::new();
    let mut turned_away = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let slot = match tracker.admit(peer.ip()) {
                        Ok(slot) => slot,
                        Err(full) => {
                            turned_away += 1;
                            refused(peer, full, turned_away);
                            continue; // dropping `tcp` closes it
                        }
                    };
                    tracing::trace!("connection from {peer}");
                    let _ = tcp.set_nodelay(true);
                    let (app, tls, stop) = (app.clone(), tls.clone(), stop.clone());
                    connections.spawn(serve(tcp, peer, app, tls, stop, slot));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: let connections close first.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let open = connections.len();
    if open > 0 {
        tracing::info!("stopping: waiting up to {GRACE:?} for {open} connection(s)");
    }
    let drained = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("stopping: {} connection(s) cut", connections.len());
    }
}

/// Logged at the first refusal and then every thousandth: a flood must not flood the log.
fn refused(peer: SocketAddr, full: Full, count: u64) {
    if count == 1 || count % 1000 == 0 {
        let why = match full {
            Full::Server => "the server holds its maximum of connections (--max-connections)",
            Full::Client => "that address holds its maximum (--max-connections-per-client)",
        };
        tracing::warn!("closed a connection from {peer}: {why}; {count} turned away so far");
    }
}

async fn serve(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    stop: watch::Receiver<bool>,
    _slot: Slot,
) {
    match tls {
        None => http(TokioIo::new(tcp), peer, app, stop).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => http(TokioIo::new(stream), peer, app, stop).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake with {peer}: {e}"),
                Err(_) => tracing::debug!("TLS handshake with {peer}: timed out"),
            }
        }
    }
}

async fn http<I>(io: I, peer: SocketAddr, app: axum::Router, mut stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, TowerToHyperService::new(app));
    tokio::pin!(connection);
    let done = tokio::select! {
        done = connection.as_mut() => done,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = done {
        tracing::debug!("connection from {peer}: {e}");
    }
}
