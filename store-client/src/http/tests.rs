use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn id() -> RouterId {
    RouterId::new("r1").expect("valid id")
}

#[test]
fn urls_are_checked() {
    let options = StoreOptions::default();
    for bad in [
        "http://",
        "http://user:secret@host/",
        "http://host/?q=1",
        "http://host/#top",
        "ftp://host/",
        "not a url",
    ] {
        let err = HttpStore::open(bad, &options).expect_err(bad);
        assert!(matches!(err, StoreError::BadUrl { .. }), "{bad}: {err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    // No runtime needed to open (the daemon opens its stores before starting one).
    let store = HttpStore::open("https://store.example:8443/prefix/", &options).expect("opens");
    assert_eq!(store.describe(), "https://store.example:8443/prefix");
}

#[test]
fn paths_stay_under_the_prefix() {
    let store = HttpStore::open("http://h:1/store/", &StoreOptions::default()).expect("opens");
    let url = store.client.url(&id(), &["history", "a/../b c"]);
    assert_eq!(
        url.as_str(),
        "http://h:1/store/v1/routers/r1/history/a%2F..%2Fb%20c"
    );
}

#[test]
fn a_missing_ca_file_says_which() {
    let options = StoreOptions {
        ca_cert: Some("/nonexistent/ca.pem".into()),
        ..StoreOptions::default()
    };
    let err = HttpStore::open("https://h/", &options).expect_err("no CA file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    // Bound then dropped: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let store = HttpStore::open(
        &format!("http://127.0.0.1:{port}"),
        &StoreOptions::default(),
    )
    .expect("opens");
    let err = store.get(&id()).await.expect_err("nothing listens");
    assert!(err.is_transient(), "{err}");
}

/// A server that answers every connection with `answer` (or never, if `None`).
async fn fake_server(answer: Option<&'static [u8]>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = tcp.read(&mut request).await;
                match answer {
                    Some(bytes) => {
                        let _ = tcp.write_all(bytes).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_hanging_store_times_out() {
    let url = fake_server(None).await;
    let options = StoreOptions {
        timeout: Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let store = HttpStore::open(&url, &options).expect("opens");
    let started = Instant::now();
    let err = store.get(&id()).await.expect_err("hangs");
    assert!(err.is_transient(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_answers_are_clear_errors() {
    let cases: [(&[u8], &str); 5] = [
        (
            b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 100\r\n\r\nshort",
            "",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
            "without an ETag",
        ),
        (
            b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n\xff\xfe",
            "UTF-8",
        ),
        (
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "not a router-agent store",
        ),
        (
            b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 999999999999\r\nConnection: close\r\n\r\n",
            "larger than",
        ),
    ];
    for (answer, says) in cases {
        let store = HttpStore::open(&fake_server(Some(answer)).await, &StoreOptions::default())
            .expect("opens");
        let err = store.get(&id()).await.expect_err("bad answer");
        assert!(err.to_string().contains(says), "{err}");
    }
    let store = HttpStore::open(
        &fake_server(Some(
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n[{\"x\":",
        ))
        .await,
        &StoreOptions::default(),
    )
    .expect("opens");
    let err = store.history(&id()).await.expect_err("bad JSON");
    assert!(matches!(err, StoreError::Protocol { .. }), "{err}");
}
