//! Sending frames: TCP with RFC 6587 octet counting (`LEN SP MSG`), or one UDP datagram
//! each (RFC 5426). A collector that is down or refuses costs a pause that grows to
//! [`Backoff::max`]; the frame being sent is put back first in line.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::queue::Shared;
use super::{Counters, Target};

/// A connection to a collector.
pub trait Transport: Send {
    fn send(&mut self, frame: &[u8]) -> std::io::Result<()>;
}

/// Opens connections.
pub trait Connect: Send {
    fn connect(&mut self, target: &Target) -> std::io::Result<Box<dyn Transport>>;
}

/// A frame as RFC 6587 octet counting sends it over TCP.
pub fn octet_counted(frame: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", frame.len()).into_bytes();
    out.extend_from_slice(frame);
    out
}

/// Connect and write timeout: a collector that stops reading stalls the sender this
/// long, then it reconnects.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Real sockets.
#[derive(Debug, Default)]
pub struct Net;

struct Tcp(TcpStream);
struct Udp(UdpSocket);

impl Transport for Tcp {
    fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.0.write_all(&octet_counted(frame))
    }
}

impl Transport for Udp {
    fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.0.send(frame).map(|_| ())
    }
}

fn resolve(t: &Target) -> std::io::Result<SocketAddr> {
    (t.host.as_str(), t.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{}: no address", t.host)))
}

impl Connect for Net {
    fn connect(&mut self, t: &Target) -> std::io::Result<Box<dyn Transport>> {
        let addr = resolve(t)?;
        if t.udp {
            let local: SocketAddr = if addr.is_ipv4() {
                "0.0.0.0:0".parse().expect("literal")
            } else {
                "[::]:0".parse().expect("literal")
            };
            let s = UdpSocket::bind(local)?;
            s.connect(addr)?;
            return Ok(Box::new(Udp(s)));
        }
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Box::new(Tcp(s)))
    }
}

/// Pauses between failed attempts: `min`, doubling up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// Sends what `shared` holds for the life of the process.
pub fn send_loop(mut connect: Box<dyn Connect>, shared: &Shared, c: &Counters, b: Backoff) {
    let mut conn: Option<(u64, Box<dyn Transport>)> = None;
    let mut delay = b.min;
    let mut up = true;
    loop {
        let (frame, target, generation) = shared.next();
        if conn.as_ref().is_some_and(|(g, _)| *g != generation) {
            conn = None;
            delay = b.min;
        }
        let sent = match &mut conn {
            Some((_, t)) => t.send(&frame),
            None => connect.connect(&target).and_then(|mut t| {
                let r = t.send(&frame);
                conn = Some((generation, t));
                r
            }),
        };
        match sent {
            Ok(()) => {
                c.sent.fetch_add(1, Ordering::Relaxed);
                delay = b.min;
                if !up {
                    tracing::info!("logs: collector {target} reached again");
                    up = true;
                }
            }
            Err(e) => {
                // Said once a failure, not once a retry: this line is forwarded too.
                if up {
                    tracing::warn!("logs: collector {target}: {e}; buffering, retrying");
                    up = false;
                }
                conn = None;
                shared.unpop(frame, c);
                shared.pause(delay, generation);
                delay = (delay * 2).min(b.max);
            }
        }
    }
}
