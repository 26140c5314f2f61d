//! The `file://` store: the contract, writers in several processes and tasks at once, and
//! what a crash or a hand edit leaves behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use router_store_client::{
    self, contract, ConfigStore, Expect, RouterId, StoreError, StoreOptions,
};

const CHILD_DIR: &str = "STORE_FILE_CHILD_DIR";
const CHILD_NAME: &str = "STORE_FILE_CHILD_NAME";
const WRITES: usize = 25;

fn open(dir: &Path) -> Box<dyn ConfigStore> {
    router_store_client::open(
        &format!("file://{}", dir.display()),
        &StoreOptions::default(),
    )
    .expect("open file store")
}

fn r1() -> RouterId {
    RouterId::new("r1").expect("valid id")
}

#[tokio::test]
async fn file_store_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    contract::check_contract(open(dir.path()).as_ref()).await;
}

/// Appends `WRITES` lines, one compare-and-swap write each, retrying on conflicts.
async fn append_lines(store: &dyn ConfigStore, who: &str) {
    let id = r1();
    for i in 0..WRITES {
        loop {
            let (text, expect) = match store.get(&id).await.expect("get") {
                Some(s) => (s.text, Expect::Version(s.version)),
                None => (String::new(), Expect::Absent),
            };
            let line = format!("# {who} {i}\n");
            match store.put(&id, &(text + &line), &expect, line.trim()).await {
                Ok(_) => break,
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => panic!("{who}: write {i}: {e}"),
            }
        }
    }
}

/// Not a test of its own: the writer process `several_processes_and_tasks_lose_no_write`
/// starts (several copies of this test binary, each running only this).
#[tokio::test]
#[ignore = "child process of several_processes_and_tasks_lose_no_write"]
async fn writer_process() {
    let dir = std::env::var(CHILD_DIR).expect("started by the parent test, with its directory");
    let name = std::env::var(CHILD_NAME).expect("started by the parent test, with a name");
    append_lines(open(Path::new(&dir)).as_ref(), &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_processes_and_tasks_lose_no_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..3)
        .map(|n| {
            Command::new(&exe)
                .args(["--ignored", "--exact", "writer_process", "--test-threads=1"])
                .env(CHILD_DIR, dir.path())
                .env(CHILD_NAME, format!("process-{n}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a writer process")
        })
        .collect();
    let store: Arc<dyn ConfigStore> = Arc::from(open(dir.path()));
    let tasks: Vec<_> = (0..3)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { append_lines(store.as_ref(), &format!("task-{n}")).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("wait for writer process");
        assert!(
            out.status.success(),
            "a writer process failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let text = store.get(&r1()).await.expect("get").expect("config").text;
    for who in [
        "process-0",
        "process-1",
        "process-2",
        "task-0",
        "task-1",
        "task-2",
    ] {
        for i in 0..WRITES {
            assert!(
                text.contains(&format!("# {who} {i}\n")),
                "{who}'s write {i} was lost:\n{text}"
            );
        }
    }
    assert_eq!(text.lines().count(), 6 * WRITES);
    let history = store.history(&r1()).await.expect("history");
    assert_eq!(history.len(), 6 * WRITES, "one history entry per write");
}

#[tokio::test]
async fn temp_files_of_a_crashed_writer_are_ignored_and_cleared() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    let id = r1();
    let v1 = store
        .put(&id, "version = 1\n", &Expect::Absent, "first")
        .await
        .expect("put");
    // What a writer killed between write and rename leaves: torn temp files.
    let router = dir.path().join("r1");
    for torn in [
        router.join(".tmp-99999-config.toml"),
        router.join("history/.tmp-99999-000002.toml"),
        router.join(".tmp-99999-version"),
    ] {
        std::fs::write(&torn, "versi").expect("write torn temp file");
    }

    let got = store.get(&id).await.expect("get").expect("config");
    assert_eq!((got.text.as_str(), &got.version), ("version = 1\n", &v1));
    assert_eq!(store.history(&id).await.expect("history").len(), 1);

    store
        .put(&id, "version = 1\n# 2\n", &Expect::Version(v1), "second")
        .await
        .expect("put");
    let left: Vec<_> = walk(&router)
        .into_iter()
        .filter(|p| p.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[tokio::test]
async fn a_config_edited_by_hand_becomes_a_new_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    let id = r1();
    let v1 = store
        .put(&id, "version = 1\n", &Expect::Absent, "first")
        .await
        .expect("put");
    std::fs::write(
        dir.path().join("r1/config.toml"),
        "version = 1\n# by hand\n",
    )
    .expect("edit by hand");

    let got = store.get(&id).await.expect("get").expect("config");
    assert_eq!(got.text, "version = 1\n# by hand\n");
    assert_ne!(got.version, v1);
    // The router's write against the old version is now a conflict, not an overwrite.
    assert!(matches!(
        store.put(&id, "x", &Expect::Version(v1), "stale").await,
        Err(StoreError::Conflict { current: Some(v), .. }) if v == got.version
    ));
    let history = store.history(&id).await.expect("history");
    assert_eq!(history.len(), 2);
    assert!(
        history[0].message.contains("outside the store"),
        "{history:?}"
    );

    // A config dropped onto a fresh stick is picked up the same way.
    let r2 = RouterId::new("r2").expect("valid id");
    std::fs::create_dir(dir.path().join("r2")).expect("mkdir");
    std::fs::write(dir.path().join("r2/config.toml"), "version = 1\n").expect("write");
    let got = store.get(&r2).await.expect("get").expect("config");
    assert_eq!(got.text, "version = 1\n");
}

#[tokio::test]
async fn files_are_owner_only_and_a_missing_root_is_unreachable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    let key = router_store_client::FileName::new("ssh_host_ed25519_key").expect("valid name");
    store
        .put_file(&r1(), &key, b"secret")
        .await
        .expect("put file");
    let mode = std::fs::metadata(dir.path().join("r1/files/ssh_host_ed25519_key"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let gone = open(&dir.path().join("not-mounted"));
    let err = gone
        .put(&r1(), "version = 1\n", &Expect::Absent, "x")
        .await
        .expect_err("no directory");
    assert!(err.is_transient(), "{err}");
    assert!(!dir.path().join("not-mounted").exists());
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path.display().to_string());
    }
    out
}
