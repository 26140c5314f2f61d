//! The http(s):// client against a real `router-store serve` process: the store
//! contract, tokens, limits, TLS, and `kill -9` in the middle of many writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use router_store_client::{
    contract, ConfigStore, Expect, FileName, HttpStore, RouterId, StoreError, StoreOptions, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/serve.rs"]
mod serve;
use serve::Serve;

/// A client of `serve`.
trait Client {
    fn client(&self, token: Option<&str>, ca: Option<&Path>) -> HttpStore;
}

impl Client for Serve {
    fn client(&self, token: Option<&str>, ca: Option<&Path>) -> HttpStore {
        let options = StoreOptions {
            token: token.map(str::to_owned),
            ca_cert: ca.map(Path::to_owned),
            timeout: Duration::from_secs(10),
        };
        HttpStore::open(&self.url, &options).expect("client opens")
    }
}

fn id(s: &str) -> RouterId {
    RouterId::new(s).expect("valid id")
}

fn sha256_hex(token: &str) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(token.as_bytes())?;
            c.wait_with_output()
        })
        .expect("sha256sum (coreutils) runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("--git-dir")
        .arg(dir.join("configs.git"))
        .args(args)
        .output()
        .expect("git runs (scripts/setup.sh installs it)")
}

/// The status line of a request sent byte for byte.
async fn raw_status(url: &str, request: &str) -> u16 {
    let addr = url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn client_keeps_the_contract_against_store_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &[]);
    contract::check_contract(&serve.client(None, None)).await;

    // Operators read the history with plain git.
    let log = git(dir.path(), &["log", "-p", "r1"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("+hostname = \"c\""), "{log}");
    assert!(log.contains("third"), "{log}");
    let archived = git(dir.path(), &["show", "archive/r1:config.toml"]);
    assert!(String::from_utf8_lossy(&archived.stdout).contains("lost"));
    let fsck = git(dir.path(), &["fsck", "--strict", "--no-dangling"]);
    assert!(fsck.status.success(), "{fsck:?}");

    // Files are secrets.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.path().join("files/r1/ssh_host_ed25519_key");
    let mode = std::fs::metadata(&key)
        .expect("file kept")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}", key.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn each_router_touches_only_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nsha256 = \"{}\"\nrouter = \"r1\"\n\n[[token]]\nsha256 = \"{}\"\nrouter = \"*\"\n",
            sha256_hex("r1-token"),
            sha256_hex("admin-token")
        ),
    )
    .expect("tokens file");
    let store_dir = dir.path().join("store");
    let serve = Serve::start(
        &store_dir,
        &["--tokens", tokens.to_str().expect("utf-8 path")],
    );
    let (r1, r2) = (id("r1"), id("r2"));
    let own = serve.client(Some("r1-token"), None);
    let admin = serve.client(Some("admin-token"), None);

    own.put(&r1, "version = 1\n", &Expect::Absent, "own")
        .await
        .expect("a router writes its own config");
    for (who, client) in [
        ("no token", serve.client(None, None)),
        ("wrong token", serve.client(Some("guess"), None)),
        ("r1's token", serve.client(Some("r1-token"), None)),
    ] {
        match client.put(&r2, "version = 1\n", &Expect::Absent, "x").await {
            Err(StoreError::Unauthorized { .. }) => {}
            other => panic!("{who} writing r2: {other:?}"),
        }
        let name = FileName::new("key").expect("name");
        assert!(client.put_file(&r2, &name, b"k").await.is_err(), "{who}");
        match client.put_status(&r2, &contract::status_record(1)).await {
            Err(StoreError::Unauthorized { .. }) => {}
            other => panic!("{who} writing r2's status: {other:?}"),
        }
        assert!(
            client.archive(&r2, "version = 1\n", "x").await.is_err(),
            "{who}"
        );
    }
    for (who, client) in [
        ("no token", serve.client(None, None)),
        ("wrong token", serve.client(Some("guess"), None)),
    ] {
        match client.list_routers().await {
            Err(StoreError::Unauthorized { .. }) => {}
            other => panic!("{who} listing: {other:?}"),
        }
        assert!(
            client
                .put_status(&r1, &contract::status_record(1))
                .await
                .is_err(),
            "{who}"
        );
    }
    own.put_status(&r1, &contract::status_record(1))
        .await
        .expect("a router reports its own status");
    assert!(
        !store_dir.join("status/r2.json").exists(),
        "nothing written for r2"
    );
    assert_eq!(admin.get(&r2).await.expect("admin reads r2"), None);
    assert!(admin.history(&r2).await.expect("history").is_empty());
    assert!(
        !store_dir.join("files/r2").exists(),
        "nothing written for r2"
    );
    assert!(admin.get(&r1).await.expect("admin reads r1").is_some());

    let get = |auth: &str| {
        format!("GET /v1/routers/r1/config HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")
    };
    assert_eq!(raw_status(&serve.url, &get("")).await, 401);
    assert_eq!(
        raw_status(&serve.url, &get("Authorization: Bearer guess\r\n")).await,
        401
    );
    let r2_get = "GET /v1/routers/r2/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer r1-token\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(&serve.url, r2_get).await, 403);

    // Versions are commit ids of one repository: r2's is not r1's to read.
    let v2 = admin
        .put(
            &r2,
            "version = 1\nhostname = \"r2\"\n",
            &Expect::Absent,
            "r2",
        )
        .await
        .expect("admin writes r2");
    match own.get_version(&r1, &v2).await {
        Err(StoreError::NoSuchVersion { .. }) => {}
        other => panic!("r2's version through r1: {other:?}"),
    }
    // A router's token lists only its own router; the admin's, all.
    assert_eq!(
        own.list_routers().await.expect("own list"),
        vec![r1.clone()]
    );
    assert_eq!(
        admin.list_routers().await.expect("admin list"),
        vec![r1.clone(), r2.clone()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn trailers_and_status_records_are_the_servers_word() {
    use router_store_client::note::{message, AUTHOR_TRAILER};
    use router_store_client::WriteKind;
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nsha256 = \"{}\"\nrouter = \"r1\"\n",
            sha256_hex("r1-token")
        ),
    )
    .expect("tokens file");
    let store_dir = dir.path().join("store");
    let serve = Serve::start(
        &store_dir,
        &["--tokens", tokens.to_str().expect("utf-8 path")],
    );
    let own = serve.client(Some("r1-token"), None);
    let r1 = id("r1");
    // The summary tries to pass for a rollback by the admin.
    let forged = "snapshot\n\nWrite-kind: rollback\nWritten-by: admin token";
    let v = own
        .put(
            &r1,
            "version = 1\n",
            &Expect::Absent,
            &message(WriteKind::Snapshot, forged),
        )
        .await
        .expect("write");
    let history = own.history(&r1).await.expect("history");
    let note = history[0].note();
    assert_eq!(
        note.kind,
        Some(WriteKind::Snapshot),
        "{:?}",
        history[0].message
    );
    assert_eq!(note.trailer(AUTHOR_TRAILER), Some("token of router r1"));
    assert_eq!(note.trailers.len(), 2, "{:?}", history[0].message);
    // The same trailers, as git shows them.
    let body = git(&store_dir, &["log", "-1", "--format=%B", &v.0]);
    let body = String::from_utf8_lossy(&body.stdout);
    assert!(
        body.trim_end()
            .ends_with("Write-kind: snapshot\nWritten-by: token of router r1"),
        "{body}"
    );
    let trailers = git(
        &store_dir,
        &["log", "-1", "--format=%(trailers:only)", &v.0],
    );
    assert_eq!(
        String::from_utf8_lossy(&trailers.stdout).trim(),
        "Write-kind: snapshot\nWritten-by: token of router r1"
    );
    // A kind the server does not know, and a status record that is not one: 400.
    let put = |path: &str, body: &str| {
        format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer r1-token\r\nIf-Match: \"{}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            v.0,
            body.len()
        )
    };
    assert_eq!(
        raw_status(
            &serve.url,
            &put(
                "/v1/routers/r1/config?message=x&kind=admin",
                "version = 1\n"
            )
        )
        .await,
        400
    );
    assert_eq!(
        raw_status(&serve.url, &put("/v1/routers/r1/status", "{\"garbled\"")).await,
        400
    );
    assert_eq!(own.get_status(&r1).await.expect("status"), None);
    // Dot segments and encoded slashes in ids and versions go nowhere.
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer r1-token\r\nConnection: close\r\n\r\n")
    };
    for path in [
        "/v1/routers/r1/history/..%2F..%2Fconfig",
        "/v1/routers/r1/history/%2e%2e",
        "/v1/routers/..%2Fr1/config",
        "/v1/routers/%2e%2e/status",
    ] {
        let status = raw_status(&serve.url, &get(path)).await;
        assert!(matches!(status, 400 | 404), "{path}: {status}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_and_names_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &["--max-body", "4096"]);
    let client = serve.client(None, None);
    match client
        .put(&id("r1"), &"#".repeat(5000), &Expect::Absent, "big")
        .await
    {
        Err(StoreError::Refused { detail, .. }) => assert!(detail.contains("413"), "{detail}"),
        other => panic!("oversize: {other:?}"),
    }
    assert_eq!(client.get(&id("r1")).await.expect("get"), None);
    for path in [
        "/v1/routers/../config",
        "/v1/routers/..%2F..%2Fetc/config",
        "/v1/routers/r1/files/..%2F..%2Fconfigs.git%2FHEAD",
        "/v1/routers/r1/files/.%2E",
        "/v1/routers/r1/history/..%2F..%2F..%2Fetc%2Fpasswd",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let status = raw_status(&serve.url, &request).await;
        assert!([400, 404].contains(&status), "{path}: {status}");
    }
}

/// A CA and a certificate for 127.0.0.1 it signed, as PEM files in `dir`.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).expect("write");
    std::fs::write(&paths.1, cert.pem()).expect("write");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&paths.2, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    paths
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_the_store_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = certificates(dir.path());
    let serve = Serve::start(
        &dir.path().join("store"),
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ],
    );
    assert!(serve.url.starts_with("https://"), "{}", serve.url);
    contract::check_contract(&serve.client(None, Some(&ca))).await;

    match serve.client(None, None).get(&id("r1")).await {
        Err(StoreError::Protocol { detail, .. }) => {
            assert!(detail.contains("TLS"), "{detail}")
        }
        other => panic!("a certificate nobody vouched for: {other:?}"),
    }
    let plain = HttpStore::open(
        &serve.url.replace("https://", "http://"),
        &StoreOptions::default(),
    )
    .expect("client");
    assert!(plain.get(&id("r1")).await.is_err(), "plain HTTP to TLS");
}

/// Many writers on few routers (so compare-and-swap conflicts are common), the server
/// killed with SIGKILL mid-stream, then restarted: every config is whole and parses, and
/// every write that was acknowledged is in the history.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_writes_loses_nothing() {
    const ROUTERS: usize = 4;
    const WRITERS_PER_ROUTER: usize = 4;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut serve = Serve::start(dir.path(), &[]);
    let acked: Arc<Mutex<Vec<(RouterId, Version, String)>>> = Arc::default();
    let mut writers = Vec::new();
    let started = Instant::now();
    for r in 0..ROUTERS {
        for w in 0..WRITERS_PER_ROUTER {
            let client = serve.client(None, None);
            let acked = acked.clone();
            let rid = id(&format!("r{r}"));
            let key = FileName::new("ssh_host_ed25519_key").expect("name");
            writers.push(tokio::spawn(async move {
                let mut conflicts = 0u32;
                for n in 0.. {
                    // Big enough that a torn write would show.
                    let text = format!(
                        "version = 1\nhostname = \"w{w}-n{n}\"\n{}",
                        "# padding padding padding padding padding padding\n".repeat(400)
                    );
                    let expect = match client.get(&rid).await {
                        Ok(Some(s)) => Expect::Version(s.version),
                        Ok(None) => Expect::Absent,
                        Err(_) => break,
                    };
                    // Files too: each one whole, all the same byte.
                    let byte = b'a' + ((w * 7 + n) % 26) as u8;
                    if client.put_file(&rid, &key, &[byte; 8192]).await.is_err() {
                        break;
                    }
                    match client
                        .put(&rid, &text, &expect, &format!("w{w} n{n}"))
                        .await
                    {
                        Ok(v) => acked.lock().expect("lock").push((rid.clone(), v, text)),
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(_) => break,
                    }
                }
                conflicts
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    serve.kill_9();
    let elapsed = started.elapsed();
    let mut conflicts = 0;
    for w in writers {
        conflicts += w.await.expect("writer task");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    println!(
        "{} writes acknowledged, {conflicts} conflicts, in {elapsed:.2?} ({:.0} writes/s) by {} writers on {ROUTERS} routers before kill -9",
        acked.len(),
        acked.len() as f64 / elapsed.as_secs_f64(),
        ROUTERS * WRITERS_PER_ROUTER,
    );
    assert!(acked.len() >= ROUTERS, "writers made progress");

    let serve = Serve::start(dir.path(), &[]);
    let client = serve.client(None, None);
    for r in 0..ROUTERS {
        let rid = id(&format!("r{r}"));
        let current = client
            .get(&rid)
            .await
            .expect("get after restart")
            .expect("config present");
        current
            .text
            .parse::<toml::Table>()
            .unwrap_or_else(|e| panic!("r{r}: current config does not parse: {e}"));
        let history: Vec<Version> = client
            .history(&rid)
            .await
            .expect("history")
            .into_iter()
            .map(|h| h.version)
            .collect();
        for (_, v, text) in acked.iter().filter(|(i, _, _)| *i == rid) {
            assert!(history.contains(v), "r{r}: acknowledged {v} not in history");
            assert_eq!(
                &client.get_version(&rid, v).await.expect("version"),
                text,
                "r{r}: {v}"
            );
        }
        let key = FileName::new("ssh_host_ed25519_key").expect("name");
        let file = client
            .get_file(&rid, &key)
            .await
            .expect("get file")
            .expect("file present");
        assert_eq!(file.len(), 8192, "r{r}: file torn");
        assert!(file.iter().all(|&b| b == file[0]), "r{r}: file mixed");
        // And writing goes on (no stale lock left behind).
        client
            .put(
                &rid,
                "version = 1\n",
                &Expect::Version(current.version),
                "after",
            )
            .await
            .expect("write after restart");
    }
    let fsck = git(dir.path(), &["fsck", "--strict", "--no-dangling"]);
    assert!(fsck.status.success(), "{fsck:?}");
}

/// An operator's push is a store-side edit the router's watch sees; a push that would drop
/// history (forced, or deleting the branch) is refused.
#[tokio::test(flavor = "multi_thread")]
async fn operators_edit_with_git() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let serve = Serve::start(&store_dir, &[]);
    let client = serve.client(None, None);
    let r1 = id("r1");
    let v1 = client
        .put(&r1, "version = 1\n", &Expect::Absent, "first")
        .await
        .expect("create");
    let mut watch = client
        .watch(&r1, Some(v1), Duration::from_millis(100))
        .await
        .expect("watch");

    let clone = dir.path().join("clone");
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir.path())
            .env("GIT_AUTHOR_NAME", "op")
            .env("GIT_AUTHOR_EMAIL", "op@example")
            .env("GIT_COMMITTER_NAME", "op")
            .env("GIT_COMMITTER_EMAIL", "op@example")
            .output()
            .expect("sh runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = sh(&format!(
        "git clone -q {} clone 2>/dev/null; cd clone && git checkout -q r1 && \
         echo 'hostname = \"by-hand\"' >> config.toml && git commit -qam 'hand edit' && \
         git push -q origin r1",
        store_dir.join("configs.git").display()
    ));
    assert!(ok, "push: {err}");
    let event = tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .expect("the watch sees the push within 10 s")
        .expect("watch open")
        .expect("event");
    match event {
        router_store_client::StoreEvent::Changed(s) => assert!(s.text.contains("by-hand")),
        other => panic!("{other:?}"),
    }

    let (ok, _) = sh("cd clone && git reset -q --hard HEAD~1 && git commit -q --allow-empty -m x && git push -q -f origin r1");
    assert!(!ok, "a forced push was taken");
    let (ok, _) = sh("cd clone && git push -q origin :r1");
    assert!(!ok, "deleting the branch was taken");
    assert!(clone.exists());
    let history = client.history(&r1).await.expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
}
