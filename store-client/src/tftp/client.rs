//! A TFTP read (RFC 1350 over UDP, one transfer per socket), with retransmits and a bound
//! on size and time.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::packet::{self, Packet};

/// Fits a 1500-byte MTU with room for a tunnel header.
const WANT_BLKSIZE: u16 = 1428;
/// Without options the block size is 512 (RFC 1350).
const CLASSIC_BLKSIZE: usize = 512;

#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// How long to wait for the next packet before sending the last one again.
    pub retransmit: Duration,
    /// How often in a row; then the server counts as gone.
    pub retries: u32,
    /// Bigger files are refused (a config or a host key is far smaller).
    pub max_size: usize,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum TftpError {
    #[error("socket: {0}")]
    Io(std::io::Error),
    #[error("no answer after {tries} tries {every:?} apart")]
    Timeout { tries: u32, every: Duration },
    #[error("the server refused: error {code}: {message}")]
    Server { code: u16, message: String },
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("larger than the {max}-byte limit")]
    TooLarge { max: usize },
}

// By hand, not `#[from]`: the cause is in the message, so it is no `source()`.
impl From<std::io::Error> for TftpError {
    fn from(e: std::io::Error) -> TftpError {
        TftpError::Io(e)
    }
}

/// Reads `path` from `server`; `None` if the server says there is no such file.
pub(super) async fn read(
    server: SocketAddr,
    path: &str,
    limits: Limits,
) -> Result<Option<Vec<u8>>, TftpError> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    let mut transfer = Transfer {
        socket,
        server,
        limits,
        peer: None,
        blksize: CLASSIC_BLKSIZE,
        next_block: 1,
        data: Vec::new(),
        last_sent: packet::rrq(path, WANT_BLKSIZE),
    };
    transfer.run(path).await
}

struct Transfer {
    socket: UdpSocket,
    server: SocketAddr,
    limits: Limits,
    /// The server's transfer port, fixed by its first answer.
    peer: Option<SocketAddr>,
    blksize: usize,
    next_block: u16,
    data: Vec<u8>,
    last_sent: Vec<u8>,
}

impl Transfer {
    async fn run(&mut self, path: &str) -> Result<Option<Vec<u8>>, TftpError> {
        self.socket.send_to(&self.last_sent, self.server).await?;
        tracing::trace!(server = %self.server, path, "RRQ sent");
        let mut buf = vec![0u8; usize::from(WANT_BLKSIZE) + 4];
        let mut misses = 0;
        loop {
            let received =
                tokio::time::timeout(self.limits.retransmit, self.socket.recv_from(&mut buf)).await;
            let (len, from) = match received {
                Ok(got) => got?,
                Err(_) => {
                    misses += 1;
                    if misses > self.limits.retries {
                        return Err(TftpError::Timeout {
                            tries: misses,
                            every: self.limits.retransmit,
                        });
                    }
                    tracing::trace!(server = %self.server, misses, "no answer; sending again");
                    let to = self.peer.unwrap_or(self.server);
                    self.socket.send_to(&self.last_sent, to).await?;
                    continue;
                }
            };
            if from.ip() != self.server.ip() {
                tracing::trace!(%from, "packet from a stranger ignored");
                continue;
            }
            if let Some(peer) = self.peer {
                if from != peer {
                    // RFC 1350: another transfer's packet; tell it, carry on with ours.
                    let reply = packet::error(packet::UNKNOWN_TID, "unknown transfer ID");
                    self.socket.send_to(&reply, from).await?;
                    continue;
                }
            }
            let step = packet::parse(&buf[..len])
                .map_err(TftpError::Malformed)
                .and_then(|parsed| self.step(parsed, from));
            let step = match step {
                Ok(step) => step,
                Err(e) => {
                    // Ends the server's side too, so it stops sending.
                    if !matches!(e, TftpError::Server { .. }) {
                        let reply = packet::error(packet::BAD_OPTIONS, &e.to_string());
                        self.socket.send_to(&reply, from).await?;
                    }
                    return Err(e);
                }
            };
            match step {
                Step::Done => return Ok(Some(std::mem::take(&mut self.data))),
                Step::NotFound => return Ok(None),
                Step::Progress => misses = 0,
                Step::Stale => {}
            }
            if self.peer.is_some() {
                self.socket.send_to(&self.last_sent, from).await?;
            }
        }
    }

    /// Acts on one packet of the server's; `last_sent` is then (re)sent to it.
    fn step(&mut self, packet: Packet<'_>, from: SocketAddr) -> Result<Step, TftpError> {
        match packet {
            Packet::Error { code, .. } if code == packet::FILE_NOT_FOUND => Ok(Step::NotFound),
            Packet::Error { code, message } => Err(TftpError::Server { code, message }),
            Packet::Oack(options) if self.peer.is_none() => {
                self.peer = Some(from);
                self.accept_options(&options)?;
                self.last_sent = packet::ack(0);
                Ok(Step::Progress)
            }
            // Our ACK of the options was lost: `last_sent` still is it.
            Packet::Oack(_) => Ok(Step::Stale),
            Packet::Data { block, payload } => {
                self.peer.get_or_insert(from);
                if block != self.next_block {
                    // A repeat of what we have: our ACK was lost, the resend repeats it.
                    return Ok(Step::Stale);
                }
                if payload.len() > self.blksize {
                    return Err(TftpError::Malformed(format!(
                        "block {block} has {} bytes, more than the block size {}",
                        payload.len(),
                        self.blksize
                    )));
                }
                if self.data.len() + payload.len() > self.limits.max_size {
                    return Err(TftpError::TooLarge {
                        max: self.limits.max_size,
                    });
                }
                self.data.extend_from_slice(payload);
                self.last_sent = packet::ack(block);
                // Block numbers wrap around on files over 65535 blocks.
                self.next_block = block.wrapping_add(1);
                if payload.len() < self.blksize {
                    Ok(Step::Done)
                } else {
                    Ok(Step::Progress)
                }
            }
            Packet::Other(op) => Err(TftpError::Malformed(format!(
                "opcode {op} is not an answer to a read"
            ))),
        }
    }

    fn accept_options(&mut self, options: &[(String, String)]) -> Result<(), TftpError> {
        for (name, value) in options {
            let number: Option<usize> = value.parse().ok();
            match (name.as_str(), number) {
                ("blksize", Some(n)) if (8..=usize::from(WANT_BLKSIZE)).contains(&n) => {
                    self.blksize = n
                }
                ("tsize", Some(n)) if n > self.limits.max_size => {
                    return Err(TftpError::TooLarge {
                        max: self.limits.max_size,
                    })
                }
                ("tsize", Some(n)) => self.data.reserve(n),
                _ => {
                    return Err(TftpError::Malformed(format!(
                        "option {name}={value} was not asked for or is out of range"
                    )))
                }
            }
        }
        Ok(())
    }
}

enum Step {
    Done,
    NotFound,
    Progress,
    Stale,
}
