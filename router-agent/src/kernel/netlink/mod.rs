//! A synchronous netlink socket (rtnetlink, or generic netlink for WireGuard) that sends requests in batches and reads dumps strictly.
//!
//! Batching: many requests go into one `sendmsg`. The kernel handles them one after the other
//! inside that call, so when it returns every reply is queued. Only errors are reported per
//! request (no `NLM_F_ACK`), plus one acknowledgement on the last request of each batch that
//! tells us the batch has been read to its end. The batch size bounds the messages in flight
//! so that the replies always fit in the receive buffer.

use std::io;

use netlink_sys::protocols::{NETLINK_GENERIC, NETLINK_ROUTE};
use netlink_sys::{Socket, SocketAddr};

pub const NLMSG_HDRLEN: usize = 16;
pub(super) const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
pub(super) const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;
pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;

mod wire;
pub use wire::{attrs, ip_bytes, parse_ip, put_attr};
pub(crate) use wire::{messages, parse_error, put_header, u16_at};

/// Requests per `sendmsg`; their error replies must fit in [`RCVBUF`].
pub const BATCH: usize = 1024;
/// Bytes per `sendmsg`, so one batch never needs a huge allocation in the kernel.
const BATCH_BYTES: usize = 256 * 1024;
const RCVBUF: usize = 16 * 1024 * 1024;
/// Bytes one `recv` takes: more than a dump's datagram holds.
const RECV_BUF: usize = 1 << 20;
const DUMP_TRIES: usize = 3;

/// A request the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlError {
    pub errno: i32,
    /// The kernel's extended ack message, if it gave one.
    pub message: Option<String>,
}

impl std::fmt::Display for NlError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}", io::Error::from_raw_os_error(self.errno))?;
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Io(io::Error),
    #[error("netlink dump of {what} failed: {error}")]
    Dump { what: &'static str, error: NlError },
    #[error("netlink dump of {what} was interrupted {DUMP_TRIES} times by concurrent changes; try again")]
    Interrupted { what: &'static str },
    #[error("netlink reply is malformed: {0}")]
    Malformed(String),
}

// By hand, not `#[from]`: the cause is in the message, so it is no `source()`.
impl From<io::Error> for NetlinkError {
    fn from(e: io::Error) -> NetlinkError {
        NetlinkError::Io(e)
    }
}

/// One request: message type, flags and the payload after the netlink header.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: u16,
    pub flags: u16,
    pub payload: Vec<u8>,
}

/// Requests encoded back to back into one buffer, ready to send: no allocation per
/// request, which counts when there are a million routes.
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    /// Where each message starts in `buf`.
    starts: Vec<usize>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.starts.clear();
    }

    /// Appends a message of type `kind` whose payload `encode` appends to the buffer it is
    /// given, returning the message's flags. On an error nothing is appended.
    pub fn push_with<E>(
        &mut self,
        kind: u16,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<u16, E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        put_header(&mut self.buf, NLMSG_HDRLEN, kind, 0, 0);
        match encode(&mut self.buf) {
            Ok(flags) => {
                let len = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
                self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
                self.buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
                while self.buf.len() % 4 != 0 {
                    self.buf.push(0);
                }
                self.starts.push(start);
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    pub fn push(&mut self, r: &Request) {
        let appended: Result<(), std::convert::Infallible> = self.push_with(r.kind, |b| {
            b.extend_from_slice(&r.payload);
            Ok(r.flags)
        });
        let Ok(()) = appended;
    }
}

#[derive(Debug)]
pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// An rtnetlink socket.
    pub fn open() -> io::Result<Netlink> {
        Netlink::open_protocol(NETLINK_ROUTE)
    }

    /// A generic netlink socket (WireGuard's family lives there).
    pub fn open_generic() -> io::Result<Netlink> {
        Netlink::open_protocol(NETLINK_GENERIC)
    }

    fn open_protocol(protocol: isize) -> io::Result<Netlink> {
        let mut sock = Socket::new(protocol)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        sock.set_cap_ack(true)?;
        sock.set_ext_ack(true)?;
        sock.set_netlink_get_strict_chk(true)?;
        force_rcvbuf(&sock, RCVBUF);
        Ok(Netlink {
            sock,
            seq: 1,
            buf: vec![0; RECV_BUF],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Sends every request and returns one result per request, in order. Requests are not
    /// transactional: a failure does not stop the ones after it.
    pub fn batch(
        &mut self,
        requests: &[Request],
    ) -> Result<Vec<Result<(), NlError>>, NetlinkError> {
        let mut b = Batch::default();
        requests.iter().for_each(|r| b.push(r));
        self.send_batch(&mut b)
    }

    /// [`Netlink::batch`] for requests encoded in place; empties `b`.
    pub fn send_batch(&mut self, b: &mut Batch) -> Result<Vec<Result<(), NlError>>, NetlinkError> {
        let count = b.len();
        let mut results = vec![Ok(()); count];
        let mut start = 0;
        while start < count {
            let first_seq = self.seq.wrapping_add(1);
            let from = b.starts[start];
            let mut end = start + 1;
            while end < count && end - start < BATCH && b.starts[end] - from < BATCH_BYTES {
                end += 1;
            }
            for i in start..end {
                let at = b.starts[i];
                let seq = self.next_seq();
                let ack = if i + 1 == end { NLM_F_ACK } else { 0 };
                let flags = u16_at(&b.buf, at + 6) | NLM_F_REQUEST | ack;
                b.buf[at + 6..at + 8].copy_from_slice(&flags.to_ne_bytes());
                b.buf[at + 8..at + 12].copy_from_slice(&seq.to_ne_bytes());
            }
            let out = &b.buf[from..b.starts.get(end).copied().unwrap_or(b.buf.len())];
            let sent = self.sock.send(out, 0)?;
            if sent != out.len() {
                return Err(NetlinkError::Malformed(format!(
                    "sent {sent} of {} bytes",
                    out.len()
                )));
            }
            let last_seq = self.seq;
            'recv: loop {
                let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
                for m in messages(&self.buf[..n]) {
                    let (kind, flags, seq, payload) = m?;
                    if kind != NLMSG_ERROR {
                        continue;
                    }
                    let idx = start + seq.wrapping_sub(first_seq) as usize;
                    if let (Some(e), Some(slot)) =
                        (parse_error(flags, payload)?, results.get_mut(idx))
                    {
                        *slot = Err(e);
                    }
                    if seq == last_seq {
                        break 'recv;
                    }
                }
            }
            start = end;
        }
        b.clear();
        Ok(results)
    }

    /// Runs a dump and collects what `decode` makes of each reply's payload. A dump the
    /// kernel marks as interrupted is retried from the start.
    pub fn dump<T>(
        &mut self,
        what: &'static str,
        req: &Request,
        mut decode: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, NetlinkError> {
        let mut out = Vec::new();
        for _ in 0..DUMP_TRIES {
            out.clear();
            let seq = self.send_dump(req)?;
            let mut interrupted = false;
            'recv: loop {
                let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
                if n == 0 {
                    return Err(ended_early(what));
                }
                for m in messages(&self.buf[..n]) {
                    let m = m?;
                    match dump_reply(what, seq, m, &mut interrupted)? {
                        Step::Payload => out.extend(decode(m.3)),
                        Step::Skip => {}
                        Step::Done => break 'recv,
                    }
                }
            }
            if !interrupted {
                return Ok(out);
            }
            tracing::debug!(what, "dump interrupted by a concurrent change; retrying");
        }
        Err(NetlinkError::Interrupted { what })
    }

    /// One run of a dump, each reply's payload handed to `each` while a second thread
    /// receives the next replies: decoding a million routes overlaps the kernel's work of
    /// dumping them. False if the kernel marked the dump interrupted (a concurrent change):
    /// `each` then saw an inconsistent dump, and the caller runs it again.
    pub fn dump_streaming(
        &mut self,
        what: &'static str,
        req: &Request,
        mut each: impl FnMut(&[u8]),
    ) -> Result<bool, NetlinkError> {
        const BUFFERS: usize = 4;
        let seq = self.send_dump(req)?;
        let sock = &self.sock;
        let (full_tx, full_rx) =
            std::sync::mpsc::sync_channel::<io::Result<(Vec<u8>, usize)>>(BUFFERS);
        let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 1..BUFFERS {
            let _ = free_tx.send(vec![0; RECV_BUF]);
        }
        let _ = free_tx.send(std::mem::take(&mut self.buf));
        let mut interrupted = false;
        let outcome = std::thread::scope(|s| {
            s.spawn(move || {
                // Until the datagram that ends the dump, or until the decoder stops taking.
                while let Ok(mut buf) = free_rx.recv() {
                    let got = sock.recv(&mut &mut buf[..], 0);
                    let last = got.as_ref().map_or(true, |n| ends_dump(&buf[..*n], seq));
                    if full_tx.send(got.map(|n| (buf, n))).is_err() || last {
                        break;
                    }
                }
            });
            let outcome = (|| loop {
                let (buf, n) = full_rx.recv().map_err(|_| ended_early(what))??;
                if n == 0 {
                    return Err(ended_early(what));
                }
                let mut done = false;
                for m in messages(&buf[..n]) {
                    let m = m?;
                    match dump_reply(what, seq, m, &mut interrupted)? {
                        Step::Payload => each(m.3),
                        Step::Skip => {}
                        Step::Done => done = true,
                    }
                }
                if done {
                    return Ok(buf);
                }
                let _ = free_tx.send(buf);
            })();
            // Lets the receiver go if the decoder stopped early.
            drop((full_rx, free_tx));
            outcome
        });
        match outcome {
            Ok(buf) => self.buf = buf,
            Err(e) => {
                self.buf = vec![0; RECV_BUF];
                return Err(e);
            }
        }
        Ok(!interrupted)
    }

    /// Sends a dump request; returns its sequence number.
    fn send_dump(&mut self, req: &Request) -> Result<u32, NetlinkError> {
        let seq = self.next_seq();
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + req.payload.len());
        put_header(
            &mut msg,
            NLMSG_HDRLEN + req.payload.len(),
            req.kind,
            req.flags | NLM_F_REQUEST | NLM_F_DUMP,
            seq,
        );
        msg.extend_from_slice(&req.payload);
        self.sock.send(&msg, 0)?;
        Ok(seq)
    }
}

/// What to do with one message of a dump.
enum Step {
    Payload,
    Skip,
    Done,
}

/// Judges one message of the dump with sequence number `seq`. A dump that ends in an
/// error is an error.
fn dump_reply(
    what: &'static str,
    seq: u32,
    (kind, flags, mseq, payload): (u16, u16, u32, &[u8]),
    interrupted: &mut bool,
) -> Result<Step, NetlinkError> {
    if mseq != seq {
        return Ok(Step::Skip);
    }
    *interrupted |= flags & NLM_F_DUMP_INTR != 0;
    Ok(match kind {
        NLMSG_DONE => {
            if payload.len() >= 4 {
                let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                if code < 0 {
                    return Err(NetlinkError::Dump {
                        what,
                        error: NlError {
                            errno: -code,
                            message: None,
                        },
                    });
                }
            }
            Step::Done
        }
        NLMSG_ERROR => match parse_error(flags, payload)? {
            Some(error) => return Err(NetlinkError::Dump { what, error }),
            None => Step::Done,
        },
        _ if flags & NLM_F_MULTI == 0 => {
            return Err(NetlinkError::Malformed(format!(
                "dump of {what}: reply without NLM_F_MULTI"
            )))
        }
        _ => Step::Payload,
    })
}

fn ended_early(what: &str) -> NetlinkError {
    NetlinkError::Malformed(format!("dump of {what} ended without NLMSG_DONE"))
}

/// Whether a datagram holds the end of the dump `seq` (or is not readable).
fn ends_dump(b: &[u8], seq: u32) -> bool {
    b.is_empty()
        || messages(b).any(|m| {
            m.map_or(true, |(kind, _, s, _)| {
                s == seq && (kind == NLMSG_DONE || kind == NLMSG_ERROR)
            })
        })
}

/// Asks for a large receive buffer; as root, past `rmem_max`. A smaller buffer still works
/// for dumps; batches would then be the first to notice (ENOBUFS on the socket).
fn force_rcvbuf(sock: &Socket, size: usize) {
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(sock, size).is_err() {
        let _ = sock.set_rx_buf_sz(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_aligned_messages_and_appends_nothing_on_an_error() {
        let mut b = Batch::default();
        b.push(&Request {
            kind: 24,
            flags: NLM_F_CREATE,
            payload: vec![1, 2, 3],
        });
        let failed: Result<(), &str> = b.push_with(25, |buf| {
            buf.push(9);
            Err("no")
        });
        assert!(failed.is_err());
        b.push_with::<()>(26, |buf| {
            put_attr(buf, 1, &[7; 4]);
            Ok(0)
        })
        .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.starts, [0, 20]);
        let got: Vec<_> = messages(&b.buf).map(Result::unwrap).collect();
        assert_eq!(
            got,
            [
                (24, NLM_F_CREATE, 0, &[1u8, 2, 3][..]),
                (26, 0, 0, &[8, 0, 1, 0, 7, 7, 7, 7][..])
            ]
        );
    }
}
