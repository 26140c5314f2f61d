//! The file store on a hostile stick: links, FIFOs, devices, huge files, a held lock, a full
//! or read-only disk, a version number at its maximum. Every case ends in an error that
//! names the problem, soon, with nothing read from outside the store and nothing lost.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use router_store_client::file::FileStore;
use router_store_client::{ConfigStore, Expect, RouterId, StoreError, Version};

/// The error and its causes, as the agent prints them.
fn chain(err: &StoreError) -> String {
    router_store_client::error_chain(err)
}

fn r1() -> RouterId {
    "r1".parse().expect("valid id")
}

fn store(dir: &Path) -> FileStore {
    FileStore::new(dir)
        .expect("store")
        .with_lock_wait(Duration::from_millis(300))
}

/// A store with one written version; returns the router's directory.
async fn with_one_version(dir: &Path) -> std::path::PathBuf {
    store(dir)
        .put(&r1(), "version = 1\n", &Expect::Absent, "first")
        .await
        .expect("first write");
    dir.join("r1")
}

/// Reading must not take long: a FIFO or a held lock must not hang the router.
async fn get_soon(store: &FileStore) -> Result<(), StoreError> {
    let started = Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(20), store.get(&r1()))
        .await
        .expect("the read returned instead of hanging");
    assert!(started.elapsed() < Duration::from_secs(15));
    got.map(|_| ())
}

#[tokio::test]
async fn a_config_that_links_outside_is_refused_and_never_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = with_one_version(dir.path()).await;
    let secret = dir.path().join("outside-secret");
    std::fs::write(&secret, "root:$6$hash:19000:0:99999:7:::\n").expect("secret");
    std::fs::remove_file(router.join("config.toml")).expect("rm");
    symlink(&secret, router.join("config.toml")).expect("link");
    let s = store(dir.path());
    let err = get_soon(&s).await.expect_err("a link is refused");
    assert!(chain(&err).contains("symbolic link"), "{}", chain(&err));
    // The secret was not taken into the history as a hand edit.
    let history = s.history(&r1()).await.expect("history");
    assert_eq!(history.len(), 1, "{history:?}");
    for entry in std::fs::read_dir(router.join("history")).expect("ls") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        assert!(
            !text.contains("$6$"),
            "the secret reached the history: {text}"
        );
    }
}

#[tokio::test]
async fn a_router_directory_that_is_a_link_is_refused_for_reads_and_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    std::fs::write(elsewhere.path().join("config.toml"), "version = 1\n").expect("write");
    symlink(elsewhere.path(), dir.path().join("r1")).expect("link");
    let s = store(dir.path());
    let err = get_soon(&s).await.expect_err("refused");
    assert!(chain(&err).contains("symbolic link"), "{}", chain(&err));
    let err = s
        .put(&r1(), "version = 1\n", &Expect::Absent, "m")
        .await
        .expect_err("no write through the link");
    assert!(chain(&err).contains("symbolic link"), "{}", chain(&err));
    assert!(!elsewhere.path().join("history").exists());
}

#[tokio::test]
async fn a_history_directory_that_is_a_link_takes_no_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = with_one_version(dir.path()).await;
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    std::fs::rename(router.join("history"), elsewhere.path().join("h")).expect("mv");
    symlink(elsewhere.path().join("h"), router.join("history")).expect("link");
    let s = store(dir.path());
    let current = std::fs::read_to_string(router.join("version")).expect("version");
    let err = s
        .put(&r1(), "version = 1\n# two\n", &Expect::Absent, "m")
        .await
        .expect_err("refused");
    assert!(
        chain(&err).contains("symbolic link") || chain(&err).contains("not a directory"),
        "{}",
        chain(&err)
    );
    assert_eq!(
        std::fs::read_dir(elsewhere.path().join("h"))
            .expect("ls")
            .count(),
        2
    );
    assert_eq!(
        std::fs::read_to_string(router.join("version")).expect("v"),
        current
    );
}

#[tokio::test]
async fn a_fifo_or_a_device_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = with_one_version(dir.path()).await;
    std::fs::remove_file(router.join("config.toml")).expect("rm");
    let made = Command::new("mkfifo")
        .arg(router.join("config.toml"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let err = get_soon(&store(dir.path())).await.expect_err("a FIFO");
    assert!(
        chain(&err).contains("not a regular file"),
        "{}",
        chain(&err)
    );
    // /dev/zero through a link is a link; as a device node (mknod, root) it is a device.
    std::fs::remove_file(router.join("config.toml")).expect("rm");
    let made = Command::new("mknod")
        .arg(router.join("config.toml"))
        .args(["c", "1", "5"])
        .status()
        .expect("mknod (the tests run as root)");
    assert!(made.success(), "mknod needs root");
    let err = get_soon(&store(dir.path())).await.expect_err("a device");
    assert!(
        chain(&err).contains("not a regular file"),
        "{}",
        chain(&err)
    );
}

#[tokio::test]
async fn a_huge_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = with_one_version(dir.path()).await;
    // Sparse: 4 GiB that cost nothing, which a read-it-all store would try to hold.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(router.join("config.toml"))
        .expect("open");
    f.set_len(4 << 30).expect("grow");
    let err = get_soon(&store(dir.path())).await.expect_err("too big");
    assert!(chain(&err).contains("larger than"), "{}", chain(&err));
}

#[tokio::test]
async fn a_held_lock_is_an_error_after_the_wait_not_a_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = with_one_version(dir.path()).await;
    let holder = std::fs::File::open(router.join(".lock")).expect("lock file");
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).expect("hold");
    let s = store(dir.path());
    let err = get_soon(&s).await.expect_err("locked");
    assert!(
        chain(&err).contains("locked by another process"),
        "{}",
        chain(&err)
    );
    drop(holder);
    get_soon(&s).await.expect("free again");
}

#[tokio::test]
async fn a_version_at_its_maximum_is_an_error_not_a_wrap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = with_one_version(dir.path()).await;
    let s = store(dir.path());
    std::fs::write(router.join("version"), format!("{}\n", u64::MAX)).expect("write");
    std::fs::copy(
        router.join("history/000001.toml"),
        router.join(format!("history/{}.toml", u64::MAX)),
    )
    .expect("copy");
    let err = s
        .put(
            &r1(),
            "version = 1\n# next\n",
            &Expect::Version(Version(u64::MAX.to_string())),
            "m",
        )
        .await
        .expect_err("no wrap");
    assert!(chain(&err).contains("maximum"), "{}", chain(&err));
    assert!(!router.join("history/000000.toml").exists());
}

/// A small tmpfs: full after a few writes, or read-only.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(options: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount (the tests run as root)");
        assert!(ok.success(), "mount -t tmpfs needs root");
        Tmpfs(dir)
    }

    fn remount(&self, options: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.0.path())
            .status()
            .expect("remount");
        assert!(ok.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_and_a_read_only_disk_are_named_in_the_error() {
    let fs = Tmpfs::new("size=64k");
    let s = store(fs.0.path());
    let big = format!("version = 1\n# {}\n", "x".repeat(100 << 10));
    let err = s
        .put(&r1(), &big, &Expect::Absent, "m")
        .await
        .expect_err("full");
    assert!(matches!(err, StoreError::NoSpace { .. }), "{err:?}");
    assert!(chain(&err).contains("ENOSPC"), "{}", chain(&err));
    assert!(err.is_transient());
    fs.remount("ro");
    let err = s
        .put(&r1(), "version = 1\n", &Expect::Absent, "m")
        .await
        .expect_err("read-only");
    assert!(matches!(err, StoreError::ReadOnlyDisk { .. }), "{err:?}");
    assert!(chain(&err).contains("EROFS"), "{}", chain(&err));
}
