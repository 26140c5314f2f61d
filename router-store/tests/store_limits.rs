//! A flood of idle connections from one address never starves a legitimate router: the
//! server holds at most its share per client address, and as many in all as its open-file
//! limit allows.

#[path = "support/serve.rs"]
mod serve;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serve::Serve;

/// A plain HTTP GET; the status line's code, or the error.
fn get(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: store\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {answer:?}"))
}

/// Idle connections from 127.0.0.2 (the whole of 127/8 is this machine), never a byte sent.
fn flood(addr: SocketAddr, n: usize) -> Vec<socket2::Socket> {
    let from: SocketAddr = "127.0.0.2:0".parse().expect("addr");
    (0..n)
        .filter_map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
            s.bind(&from.into()).ok()?;
            s.connect_timeout(&addr.into(), Duration::from_secs(2))
                .ok()?;
            Some(s)
        })
        .collect()
}

#[test]
fn a_thousand_idle_connections_from_one_address_leave_room_for_the_routers() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 256 descriptors, as a small systemd limit would give: the old server ran out of them.
    let server = Serve::start_limited(dir.path(), &[], 256);
    let addr: SocketAddr = server
        .url
        .strip_prefix("http://")
        .expect("http")
        .parse()
        .expect("address");
    let held = flood(addr, 1000);
    assert!(
        held.len() >= 900,
        "the flood itself connected ({})",
        held.len()
    );
    std::thread::sleep(Duration::from_millis(500));
    let answers: Vec<_> = (0..45)
        .map(|_| get(addr, "/v1/routers/r1/config"))
        .collect();
    let failed: Vec<_> = answers
        .iter()
        .filter(|a| !matches!(a, Ok(200 | 404)))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 45 legitimate requests failed: {failed:?}\n{}",
        failed.len(),
        server.log()
    );
    assert!(
        server.log().contains("that address holds its maximum"),
        "{}",
        server.log()
    );
    drop(held);
}
