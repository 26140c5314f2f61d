use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tokens::Caller;
use super::*;
use router_store_client::{
    contract, Expect, HttpStore, MemoryStore, RouterId, StoreError, StoreOptions,
};

fn id(s: &str) -> RouterId {
    RouterId::new(s).expect("valid id")
}

async fn start(store: Arc<dyn ConfigStore>, access: Access, max_body: usize) -> Server {
    Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        store,
        access,
        tls: None,
        max_body,
        boot: None,
        limits: crate::ConnLimits::default(),
    })
    .await
    .expect("server starts")
}

fn client(server: &Server, token: Option<&str>) -> HttpStore {
    let options = StoreOptions {
        token: token.map(str::to_owned),
        ..StoreOptions::default()
    };
    HttpStore::open(&server.url(), &options).expect("client")
}

/// The status of a request sent byte for byte (no client library tidying the path).
async fn raw_status(server: &Server, request: &str) -> u16 {
    let mut tcp = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
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

fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tokens() -> Access {
    let text = format!(
        "[[token]]\nsha256 = \"{}\"\nrouter = \"r1\"\n\n[[token]]\nsha256 = \"{}\"\nrouter = \"*\"\n",
        sha256_hex("r1-secret"),
        sha256_hex("admin-secret")
    );
    Access::Tokens(Tokens::parse("test", &text).expect("tokens parse"))
}

#[tokio::test]
async fn git_store_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = GitStore::open(dir.path()).await.expect("open");
    contract::check_contract(&store).await;
}

#[tokio::test]
async fn http_over_memory_keeps_the_contract() {
    let server = start(Arc::new(MemoryStore::default()), Access::Open, 1 << 20).await;
    contract::check_contract(&client(&server, None)).await;
    server.stop().await;
}

#[tokio::test]
async fn http_over_git_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = GitStore::open(dir.path()).await.expect("open");
    let server = start(Arc::new(store), tokens(), 1 << 20).await;
    contract::check_contract(&client(&server, Some("admin-secret"))).await;
    server.stop().await;
}

/// The tip of a branch is read from its loose ref file when there is one; after `git gc`
/// (or `pack-refs`) moved it into packed-refs, git reads it: both give the same versions.
#[tokio::test]
async fn packed_refs_read_like_loose_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = GitStore::open(dir.path()).await.expect("open");
    let r1 = id("r1");
    let v1 = store
        .put(&r1, "a = 1\n", &Expect::Absent, "m")
        .await
        .expect("v1");
    let v2 = store
        .put(&r1, "a = 2\n", &Expect::Version(v1.clone()), "m")
        .await
        .expect("v2");
    let repo = dir.path().join("configs.git");
    assert!(
        repo.join("refs/heads/r1").is_file(),
        "update-ref wrote no loose ref"
    );
    let packed = std::process::Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["pack-refs", "--all"])
        .status()
        .expect("git pack-refs");
    assert!(packed.success());
    assert!(
        !repo.join("refs/heads/r1").exists(),
        "the ref was not packed"
    );
    let got = store.get(&r1).await.expect("get").expect("present");
    assert_eq!((got.text.as_str(), &got.version), ("a = 2\n", &v2));
    assert!(matches!(
        store.put(&r1, "x", &Expect::Version(v1), "m").await,
        Err(StoreError::Conflict { current: Some(c), .. }) if c == v2
    ));
    let v3 = store
        .put(&r1, "a = 3\n", &Expect::Version(v2), "m")
        .await
        .expect("v3 over a packed ref");
    assert_eq!(
        store.get(&r1).await.expect("get").expect("present").version,
        v3
    );
}

/// `git` run by hand on the store's bare repository (as an operator's push would write).
fn git_by_hand(repo: &std::path::Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .env("GIT_DIR", repo)
        .env("GIT_AUTHOR_NAME", "op")
        .env("GIT_AUTHOR_EMAIL", "op@example.net")
        .env("GIT_COMMITTER_NAME", "op")
        .env("GIT_COMMITTER_EMAIL", "op@example.net")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("git runs");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_write_from_outside_the_server_is_seen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = GitStore::open(dir.path()).await.expect("open");
    let r1 = id("r1");
    let v1 = store
        .put(&r1, "a = 1\n", &Expect::Absent, "m")
        .await
        .expect("v1");
    // Read once so that the server holds this config and history.
    assert_eq!(
        store.get(&r1).await.expect("get").expect("present").version,
        v1
    );
    assert_eq!(store.history(&r1).await.expect("history").len(), 1);
    let repo = dir.path().join("configs.git");
    let blob = git_by_hand(&repo, &["hash-object", "-w", "--stdin"], "a = 2\n");
    let tree = git_by_hand(
        &repo,
        &["mktree"],
        &format!("100644 blob {blob}\tconfig.toml\n"),
    );
    let commit = git_by_hand(&repo, &["commit-tree", &tree, "-p", &v1.0], "by hand\n");
    git_by_hand(&repo, &["update-ref", "refs/heads/r1", &commit, &v1.0], "");
    let got = store.get(&r1).await.expect("get").expect("present");
    assert_eq!(
        (got.text.as_str(), got.version.0.as_str()),
        ("a = 2\n", commit.as_str())
    );
    let history = store.history(&r1).await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].message, "by hand");
}

#[tokio::test]
async fn one_server_per_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = GitStore::open(dir.path()).await.expect("open");
    match GitStore::open(dir.path()).await {
        Err(ServeError::Locked { .. }) => {}
        other => panic!("second open gave {other:?}"),
    }
}

#[tokio::test]
async fn ids_git_cannot_take_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = GitStore::open(dir.path()).await.expect("open");
    for bad in ["a..b", "r1.lock", "r1."] {
        match store.put(&id(bad), "x", &Expect::Absent, "m").await {
            Err(StoreError::Refused { .. }) => {}
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn messages_are_fit_for_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = GitStore::open(dir.path()).await.expect("open");
    let long = format!("a\0b{}", "é".repeat(5000));
    store
        .put(&id("r1"), "version = 1\n", &Expect::Absent, &long)
        .await
        .expect("put");
    let history = store.history(&id("r1")).await.expect("history");
    assert!(history[0].message.starts_with("abé"), "{:?}", history[0]);
    assert!(history[0].message.len() <= 4096);
}

#[tokio::test]
async fn tokens_decide_who_touches_what() {
    let store = Arc::new(MemoryStore::default());
    let server = start(store.clone(), tokens(), 1 << 20).await;
    let r1 = id("r1");
    let r2 = id("r2");

    for client in [client(&server, None), client(&server, Some("wrong"))] {
        match client.get(&r1).await {
            Err(StoreError::Unauthorized { .. }) => {}
            other => panic!("without a valid token: {other:?}"),
        }
    }
    let own = client(&server, Some("r1-secret"));
    own.put(&r1, "version = 1\n", &Expect::Absent, "own")
        .await
        .expect("own config");
    match own
        .put(&r2, "version = 1\n", &Expect::Absent, "other")
        .await
    {
        Err(StoreError::Unauthorized { .. }) => {}
        other => panic!("another router's config: {other:?}"),
    }
    assert_eq!(store.get(&r2).await.expect("get"), None, "nothing written");

    let put = |auth: &str| {
        format!(
            "PUT /v1/routers/r2/config HTTP/1.1\r\nHost: x\r\n{auth}If-None-Match: *\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
        )
    };
    assert_eq!(raw_status(&server, &put("")).await, 401);
    assert_eq!(
        raw_status(&server, &put("Authorization: Bearer wrong\r\n")).await,
        401
    );
    assert_eq!(
        raw_status(&server, &put("Authorization: Bearer r1-secret\r\n")).await,
        403
    );
    assert_eq!(
        raw_status(&server, &put("Authorization: Bearer admin-secret\r\n")).await,
        201
    );
    assert_eq!(
        raw_status(
            &server,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let server = start(Arc::new(MemoryStore::default()), Access::Open, 1000).await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    for path in [
        "/v1/routers/../config",
        "/v1/routers/..%2Fetc/config",
        "/v1/routers/%2e%2e/config",
        "/v1/routers/.hidden/config",
        "/v1/routers/r1/files/..%2Fr2%2Fkey",
        "/v1/routers/r1/files/.key",
        "/v1/routers/r1/files/%2Fetc%2Fpasswd",
    ] {
        let status = raw_status(&server, &get(path)).await;
        assert!(status == 400 || status == 404, "{path}: {status}");
    }

    let put = |headers: &str, len: usize| {
        format!(
            "PUT /v1/routers/r1/config HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len}\r\nConnection: close\r\n\r\n{}",
            "x".repeat(len)
        )
    };
    assert_eq!(
        raw_status(&server, &put("If-None-Match: *\r\n", 1001)).await,
        413
    );
    assert_eq!(raw_status(&server, &put("", 10)).await, 428);
    assert_eq!(
        raw_status(&server, &put("If-Match: \"nope\"\r\n", 10)).await,
        412
    );
    assert_eq!(
        raw_status(&server, &put("If-None-Match: *\r\n", 10)).await,
        201
    );

    let client = client(&server, None);
    match client
        .put(&id("r1"), &"y".repeat(2000), &Expect::Absent, "big")
        .await
    {
        Err(StoreError::Refused { .. }) => {}
        other => panic!("oversize config: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_404_from_elsewhere_is_not_an_empty_store() {
    let server = start(Arc::new(MemoryStore::default()), Access::Open, 1000).await;
    let wrong_prefix = HttpStore::open(
        &format!("{}/no/such/prefix", server.url()),
        &StoreOptions::default(),
    )
    .expect("client");
    match wrong_prefix.get(&id("r1")).await {
        Err(StoreError::Protocol { .. }) => {}
        other => panic!("404 of an unknown route: {other:?}"),
    }
    server.stop().await;
}

#[test]
fn tokens_files_are_checked() {
    let good = sha256_hex("t");
    for (text, expect) in [
        ("", "no [[token]]"),
        ("[[token]]\nsha256 = \"abc\"\nrouter = \"r1\"\n", "64 hex digits"),
        (
            &format!("[[token]]\nsha256 = \"{good}\"\nrouter = \"../r1\"\n"),
            "router id",
        ),
        (
            &format!("[[token]]\nsha256 = \"{good}\"\nrouter = \"r1\"\nnote = 1\n"),
            "unknown field",
        ),
        (
            &format!("[[token]]\nsha256 = \"{good}\"\nrouter = \"r1\"\n[[token]]\nsha256 = \"{good}\"\nrouter = \"r2\"\n"),
            "listed twice",
        ),
    ] {
        let err = Tokens::parse("tokens.toml", text).expect_err(text);
        let all = match std::error::Error::source(&err) {
            Some(cause) => format!("{err}: {cause}"),
            None => err.to_string(),
        };
        assert!(all.contains(expect), "{text:?}: {all}");
    }
}

#[test]
fn the_documented_tokens_file_parses() {
    let doc = include_str!("../../docs/store.md");
    let section = doc
        .split("### Tokens file")
        .nth(1)
        .expect("docs/store.md has a tokens section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a toml block");
    let access = Access::Tokens(Tokens::parse("docs", example).expect("parses"));
    assert_eq!(
        access.caller(Some(b"Bearer edge-01-secret")),
        Ok(Caller::Router(id("edge-01")))
    );
    assert_eq!(
        access.caller(Some(b"Bearer admin-secret")),
        Ok(Caller::Admin)
    );
}
