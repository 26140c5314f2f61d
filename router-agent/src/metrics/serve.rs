//! `GET /metrics`: the textfile the daemon keeps (`metrics.prom` in its status directory)
//! served over HTTP for Prometheus. A plain tokio listener on a thread of its own: the
//! daemon writes the file on every change already, so the exporter shares nothing with it
//! but that file, and hyper's server would add size to the image for three routes' worth
//! of HTTP. It binds only the address configured (`--metrics-listen`, `router.metrics=`),
//! with IP_FREEBIND: the management address a boot brings up later is bound now.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Scrapes served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 8;
/// A request head larger than this is refused (a scrape's is ~200 bytes).
const MAX_HEAD: usize = 8 * 1024;
/// A client that neither sends its request nor reads the answer in this time is dropped.
const CONN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics exporter: cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics exporter: entering the network namespace")]
    Netns(#[source] crate::kernel::netns::NetnsError),
    #[error("metrics exporter: starting its thread")]
    Thread(#[source] std::io::Error),
    #[error("metrics exporter: starting its async runtime")]
    Runtime(#[source] std::io::Error),
}

/// Serves `file` at `http://addr/metrics` from a thread of its own (inside `netns` when
/// given) for the life of the process. Returns once the socket is bound.
pub fn start(addr: SocketAddr, netns: Option<String>, file: PathBuf) -> Result<(), MetricsError> {
    let (bound, result) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let listener = netns
                .as_deref()
                .map_or(Ok(()), crate::kernel::netns::enter)
                .map_err(MetricsError::Netns)
                .and_then(|()| bind(addr));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(MetricsError::Runtime);
            match listener.and_then(|l| Ok((l, runtime?))) {
                Ok((listener, runtime)) => {
                    let _ = bound.send(Ok(()));
                    runtime.block_on(async move {
                        match TcpListener::from_std(listener) {
                            Ok(l) => serve(l, file).await,
                            Err(e) => tracing::error!("metrics exporter on {addr}: {e}"),
                        }
                    });
                }
                Err(e) => {
                    let _ = bound.send(Err(e));
                }
            }
        })
        .map_err(MetricsError::Thread)?;
    result
        .recv()
        .map_err(|_| MetricsError::Thread(std::io::Error::other("the thread ended")))??;
    tracing::info!("metrics: serving http://{addr}/metrics");
    Ok(())
}

/// A listening socket on `addr`, bound even before the address exists on an interface.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, MetricsError> {
    use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};
    let err = |e: rustix::io::Errno| MetricsError::Listen {
        addr,
        source: e.into(),
    };
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd: OwnedFd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(err)?;
    sockopt::set_socket_reuseaddr(&fd, true).map_err(err)?;
    if addr.is_ipv4() {
        sockopt::set_ip_freebind(&fd, true).map_err(err)?;
    } else {
        sockopt::set_ipv6_freebind(&fd, true).map_err(err)?;
        sockopt::set_ipv6_v6only(&fd, true).map_err(err)?;
    }
    rustix::net::bind(&fd, &addr).map_err(err)?;
    rustix::net::listen(&fd, 64).map_err(err)?;
    Ok(std::net::TcpListener::from(fd))
}

async fn serve(listener: TcpListener, file: PathBuf) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let file = Arc::new(file);
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors or a reset before accept: the next one may work.
                tracing::warn!("metrics: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let file = file.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(CONN_TIMEOUT, answer(stream, &file)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!("metrics: {peer}: {e}"),
                Err(_) => tracing::debug!("metrics: {peer}: timed out"),
            }
        });
    }
}

async fn answer(mut stream: TcpStream, file: &std::path::Path) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            break;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let reply = match route(&head) {
        Route::Metrics { with_body } => match tokio::fs::read(file).await {
            Ok(mut body) => {
                // The log forwarder's counters live in this process, not in the file.
                body.extend_from_slice(crate::logs::COUNTERS.metrics().as_bytes());
                response(200, "OK", CONTENT_TYPE, &body, with_body)
            }
            Err(e) => {
                let text = format!("no metrics yet ({}: {e})\n", file.display());
                response(
                    503,
                    "Service Unavailable",
                    "text/plain",
                    text.as_bytes(),
                    true,
                )
            }
        },
        Route::NotFound => response(404, "Not Found", "text/plain", b"try /metrics\n", true),
        Route::BadMethod => response(
            405,
            "Method Not Allowed",
            "text/plain",
            b"GET /metrics\n",
            true,
        ),
        Route::Bad => response(400, "Bad Request", "text/plain", b"bad request\n", true),
    };
    stream.write_all(&reply).await?;
    stream.shutdown().await
}

/// Prometheus' text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { with_body: bool },
    NotFound,
    BadMethod,
    Bad,
}

/// What a request head asks for: its request line alone matters.
fn route(head: &[u8]) -> Route {
    if head.len() > MAX_HEAD || !head.windows(4).any(|w| w == b"\r\n\r\n") {
        return Route::Bad;
    }
    let Some(line) = head.split(|&b| b == b'\n').next() else {
        return Route::Bad;
    };
    let line = String::from_utf8_lossy(line);
    let mut words = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Route::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::Bad;
    }
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => Route::Metrics {
            with_body: method == "GET",
        },
        ("GET" | "HEAD", _) => Route::NotFound,
        _ => Route::BadMethod,
    }
}

fn response(code: u16, reason: &str, kind: &str, body: &[u8], with_body: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests;
