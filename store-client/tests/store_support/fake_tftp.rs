//! An in-process TFTP server that loses packets on purpose, for the client's retransmits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Read requests ignored before one is served.
    pub ignore_rrqs: usize,
    /// Every n-th packet the server sends is lost (0: none).
    pub lose_every_sent: usize,
    /// Every n-th ACK the server receives is lost (0: none).
    pub lose_every_ack: usize,
    /// Never answer at all.
    pub silent: bool,
    /// Answer options with an OACK (else plain RFC 1350, 512-byte blocks).
    pub options: bool,
    /// Claim this size in the OACK instead of the real one.
    pub claim_tsize: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub rrqs: AtomicUsize,
    pub sent: AtomicUsize,
    pub lost: AtomicUsize,
    pub resent: AtomicUsize,
}

pub async fn start(files: HashMap<String, Vec<u8>>, faults: Faults) -> (SocketAddr, Arc<Stats>) {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind fake tftp");
    let addr = socket.local_addr().expect("addr");
    let stats = Arc::new(Stats::default());
    let files = Arc::new(files);
    let st = stats.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        loop {
            let Ok((len, client)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let n = st.rrqs.fetch_add(1, Ordering::SeqCst);
            if faults.silent || n < faults.ignore_rrqs {
                continue;
            }
            let fields: Vec<String> = buf[2..len]
                .split(|&b| b == 0)
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            let file = files.get(&fields[0]).cloned();
            let wants_blksize = fields
                .windows(2)
                .find(|w| w[0] == "blksize")
                .and_then(|w| w[1].parse::<usize>().ok());
            tokio::spawn(transfer(
                client,
                file,
                wants_blksize,
                faults.clone(),
                st.clone(),
            ));
        }
    });
    (addr, stats)
}

async fn transfer(
    client: SocketAddr,
    file: Option<Vec<u8>>,
    wants_blksize: Option<usize>,
    faults: Faults,
    stats: Arc<Stats>,
) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind transfer");
    let send = |packet: Vec<u8>| {
        let n = stats.sent.fetch_add(1, Ordering::SeqCst) + 1;
        let lose = faults.lose_every_sent > 0 && n % faults.lose_every_sent == 0;
        if lose {
            stats.lost.fetch_add(1, Ordering::SeqCst);
        }
        (packet, lose)
    };
    let Some(file) = file else {
        let _ = socket
            .send_to(b"\x00\x05\x00\x01File not found\x00", client)
            .await;
        return;
    };
    let mut blksize = 512;
    // Packet 0 is the OACK (when options are on), then DATA 1, 2, ...
    let mut packets = Vec::new();
    if let (true, Some(want)) = (faults.options, wants_blksize) {
        blksize = want.min(1428);
        let tsize = faults.claim_tsize.unwrap_or(file.len());
        let mut p = b"\x00\x06".to_vec();
        for f in ["blksize", &blksize.to_string(), "tsize", &tsize.to_string()] {
            p.extend_from_slice(f.as_bytes());
            p.push(0);
        }
        packets.push(p);
    } else {
        packets.push(Vec::new());
    }
    for (i, chunk) in file
        .chunks(blksize)
        .chain(
            // A file of whole blocks ends with an empty one.
            (file.len() % blksize == 0).then_some(&[][..]),
        )
        .enumerate()
    {
        let mut p = b"\x00\x03".to_vec();
        p.extend_from_slice(&u16::try_from((i + 1) % 65536).expect("block").to_be_bytes());
        p.extend_from_slice(chunk);
        packets.push(p);
    }
    let mut k = usize::from(packets[0].is_empty());
    let mut acks = 0;
    let mut buf = [0u8; 64];
    while k < packets.len() {
        let (packet, lose) = send(packets[k].clone());
        if !lose {
            let _ = socket.send_to(&packet, client).await;
        }
        // Wait for the ACK of packet k; a repeat of the previous ACK means "send again".
        loop {
            let got =
                tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf)).await;
            let Ok(Ok((len, _))) = got else { return };
            if len < 4 || buf[1] == 5 {
                return;
            }
            acks += 1;
            if faults.lose_every_ack > 0 && acks % faults.lose_every_ack == 0 {
                continue;
            }
            let block = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if block == k % 65536 {
                k += 1;
            } else {
                stats.resent.fetch_add(1, Ordering::SeqCst);
            }
            break;
        }
    }
}
