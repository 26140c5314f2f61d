//! The `tftp://` store against tftpd-hpa (Debian's `tftpd-hpa`, run here in the
//! foreground on a free loopback port) and against a fake server that loses packets.

#[path = "store_support/fake_tftp.rs"]
mod fake_tftp;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fake_tftp::Faults;
use router_store_client::{
    self, ConfigStore, Expect, FileName, RouterId, StoreError, StoreEvent, StoreOptions,
};

fn open(url: &str, timeout: Duration) -> Box<dyn ConfigStore> {
    let options = StoreOptions {
        timeout,
        ..StoreOptions::default()
    };
    router_store_client::open(url, &options).expect("open tftp store")
}

fn r1() -> RouterId {
    RouterId::new("r1").expect("valid id")
}

/// Bytes that differ from block to block, so a dropped or repeated block shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + u8::try_from(i * 7 % 26).expect("small"))
        .collect()
}

/// tftpd-hpa serving `root`, killed on drop.
struct Tftpd {
    child: Child,
    port: u16,
}

impl Tftpd {
    fn start(root: &Path, extra: &[&str]) -> Tftpd {
        let port = UdpSocket::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new("in.tftpd")
            .args(["--foreground", "--listen", "--secure", "--user", "root"])
            .args(["--address", &format!("127.0.0.1:{port}")])
            .args(extra)
            .arg(root)
            .stdout(Stdio::null())
            .spawn()
            .expect("these tests need in.tftpd (Debian package tftpd-hpa; scripts/setup.sh installs it)");
        // It is ready when it answers (a missing file is an answer).
        let probe = open(&format!("tftp://127.0.0.1:{port}/"), Duration::from_secs(1));
        let deadline = Instant::now() + Duration::from_secs(10);
        let rt = tokio::runtime::Handle::current();
        let server = Tftpd { child, port };
        tokio::task::block_in_place(|| loop {
            match rt.block_on(probe.get(&RouterId::new("probe").expect("id"))) {
                Ok(None) => break,
                other if Instant::now() > deadline => panic!("in.tftpd did not answer: {other:?}"),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        });
        server
    }
}

impl Drop for Tftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_configs_and_files_from_tftpd_hpa() {
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let small = "version = 1\nhostname = \"r1\"\n";
    write(root.path(), "routers/r1/config.toml", small.as_bytes());
    let big = pattern(100_000);
    write(root.path(), "routers/r1/files/big", &big);
    // Whole blocks: the transfer ends with an empty block.
    let whole = pattern(1428 * 3);
    write(root.path(), "routers/r1/files/whole", &whole);

    for extra in [&[][..], &["--refuse", "blksize", "--refuse", "tsize"][..]] {
        let server = Tftpd::start(root.path(), extra);
        let store = open(
            &format!("tftp://127.0.0.1:{}/routers", server.port),
            Duration::from_secs(4),
        );
        let got = store.get(&r1()).await.expect("get").expect("config");
        assert_eq!(got.text, small, "{extra:?}");
        for (name, bytes) in [("big", &big), ("whole", &whole)] {
            let file = FileName::new(name).expect("name");
            let read = store.get_file(&r1(), &file).await.expect("get file");
            assert!(
                read.as_ref() == Some(bytes),
                "{name} with {extra:?}: wrong bytes"
            );
        }
        let missing = FileName::new("missing").expect("name");
        assert_eq!(
            store.get_file(&r1(), &missing).await.expect("missing"),
            None
        );
        assert_eq!(
            store
                .get(&RouterId::new("r2").expect("id"))
                .await
                .expect("r2"),
            None
        );

        let history = store.history(&r1()).await.expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].version, got.version);
        assert_eq!(
            store.get_version(&r1(), &got.version).await.expect("v"),
            small
        );
        assert!(store.read_only());
        assert!(matches!(
            store
                .put(&r1(), "x", &Expect::Version(got.version.clone()), "m")
                .await,
            Err(StoreError::ReadOnly { .. })
        ));
        assert!(matches!(
            store.put_file(&r1(), &missing, b"x").await,
            Err(StoreError::ReadOnly { .. })
        ));
        // Status reports and listings: refused with what to do instead.
        assert!(matches!(
            store.put_status(&r1(), b"{}").await,
            Err(StoreError::ReadOnly { .. })
        ));
        assert_eq!(store.get_status(&r1()).await.expect("no status"), None);
        match store.list_routers().await {
            Err(e @ StoreError::Refused { .. }) => {
                assert!(e.to_string().contains("no directory listing"), "{e}")
            }
            other => panic!("tftp listing gave {other:?}"),
        }
    }

    // A watch polls: an edit on the server shows.
    let server = Tftpd::start(root.path(), &[]);
    let store = open(
        &format!("tftp://127.0.0.1:{}/routers", server.port),
        Duration::from_secs(4),
    );
    let mut watch = store
        .watch(&r1(), None, Duration::from_millis(100))
        .await
        .expect("watch");
    write(
        root.path(),
        "routers/r1/config.toml",
        b"version = 1\n# edited\n",
    );
    let event = tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .expect("an event within 10 s")
        .expect("open")
        .expect("event");
    assert!(matches!(event, StoreEvent::Changed(s) if s.text.contains("edited")));
}

async fn fake(
    faults: Faults,
    timeout: Duration,
) -> (
    Box<dyn ConfigStore>,
    std::sync::Arc<fake_tftp::Stats>,
    Vec<u8>,
) {
    let content = pattern(20_000);
    let files = HashMap::from([("p/r1/files/data".to_owned(), content.clone())]);
    let (addr, stats) = fake_tftp::start(files, faults).await;
    (open(&format!("tftp://{addr}/p"), timeout), stats, content)
}

fn data() -> FileName {
    FileName::new("data").expect("name")
}

#[tokio::test]
async fn lost_packets_both_ways_are_retransmitted() {
    for options in [true, false] {
        let faults = Faults {
            ignore_rrqs: 1,
            lose_every_sent: 3,
            lose_every_ack: 4,
            options,
            ..Faults::default()
        };
        let (store, stats, content) = fake(faults, Duration::from_millis(600)).await;
        let got = store
            .get_file(&r1(), &data())
            .await
            .expect("read despite losses");
        assert!(
            got.as_ref() == Some(&content),
            "options {options}: wrong bytes"
        );
        assert!(
            stats.rrqs.load(Ordering::SeqCst) >= 2,
            "the first RRQ was sent again"
        );
        assert!(stats.lost.load(Ordering::SeqCst) > 0);
        assert!(
            stats.resent.load(Ordering::SeqCst) > 0,
            "losses were recovered by resends"
        );
    }
}

#[tokio::test]
async fn a_silent_server_is_unreachable_within_the_timeout() {
    let faults = Faults {
        silent: true,
        ..Faults::default()
    };
    let (store, stats, _) = fake(faults, Duration::from_secs(1)).await;
    let started = Instant::now();
    let err = store.get(&r1()).await.expect_err("no answer");
    let took = started.elapsed();
    assert!(err.is_transient(), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(stats.rrqs.load(Ordering::SeqCst) >= 4, "RRQ retransmitted");
}

#[tokio::test]
async fn an_oversize_answer_is_refused() {
    let faults = Faults {
        options: true,
        claim_tsize: Some(1 << 30),
        ..Faults::default()
    };
    let (store, _, _) = fake(faults, Duration::from_secs(1)).await;
    let err = store.get_file(&r1(), &data()).await.expect_err("too large");
    assert!(matches!(err, StoreError::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("limit"), "{err}");
}
