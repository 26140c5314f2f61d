//! Boot: the store's config applied, fallbacks, list files and persisted files.

use super::*;

#[tokio::test(start_paused = true)]
async fn boot_applies_the_store_config_and_writes_nothing_back() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    assert_eq!(h.router.state().config, parsed(&config("a")));
    h.events
        .send(Event::Changed("own apply"))
        .await
        .expect("alive");
    let store = h.store.clone();
    let d = h.stop().await;
    assert_eq!(d.router().state().applied.len(), 1);
    let history = store.history(&id()).await.expect("history");
    assert_eq!(
        history.len(),
        1,
        "an unchanged config is not written: {history:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn first_boot_saves_the_running_state() {
    let router = FakeRouter::default();
    router.state().config = parsed(&config("fresh"));
    let mut h = Harness::start(Arc::new(MemoryStore::default()), router);
    h.until("saved", |s| s.counters.snapshots == 1).await;
    assert_eq!(
        h.current().await.expect("saved").text,
        render_config(&parsed(&config("fresh")))
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_newest_config_falls_back_to_history_and_says_so() {
    let store = seeded("good").await;
    let v1 = current_version(&store).await;
    push(&store, "bad", &v1, "bad push").await;
    let router = FakeRouter::default();
    router.state().refuse_hostnames.insert("bad".into());
    let mut h = Harness::start(store, router);
    let s = h
        .until("degraded", |s| matches!(s.phase, Phase::Degraded(_)))
        .await;
    assert_eq!(s.running_version, Some(v1));
    assert!(
        s.line().contains("DEGRADED: newest version"),
        "{}",
        s.line()
    );
    assert!(s.metrics().contains("router_agent_degraded 1"));
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("good"));
    // A change on the router is saved over the refused version, which stays in history.
    h.hand_edit("good2").await;
    h.until("saved", |s| {
        s.counters.snapshots == 1 && s.phase == Phase::Running
    })
    .await;
    let texts = h.history_texts().await;
    assert_eq!(texts.len(), 3);
    assert!(texts[1].contains("bad"));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_fallback_tries_a_bounded_number_of_older_versions() {
    let store = seeded("good").await;
    let mut last = store.get(&id()).await.expect("up").expect("seeded").version;
    let router = FakeRouter::default();
    for n in 0..25 {
        let bad = format!("bad{n}");
        router.state().refuse_hostnames.insert(bad.clone());
        last = push(&store, &bad, &last, "bad push").await;
    }
    let mut h = Harness::start(store, router);
    let s = h
        .until("failed", |s| matches!(s.phase, Phase::Failed(_)))
        .await;
    assert!(
        s.line().contains("no older version applies"),
        "{}",
        s.line()
    );
    // Never reached the good one 25 versions down: 20 tried, after the newest.
    assert_eq!(h.router.state().config.hostname, None);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn store_down_at_boot_waits_then_comes_up() {
    let store = seeded("a").await;
    store.set_down(true);
    let mut h = Harness::start(store.clone(), FakeRouter::default());
    let s = h
        .until("waiting", |s| matches!(s.phase, Phase::WaitingForStore(_)))
        .await;
    assert!(
        s.line()
            .contains("waiting for the store: memory://: unreachable"),
        "{}",
        s.line()
    );
    assert!(h.router.state().applied.is_empty());
    store.set_down(false);
    h.until("running", |s| s.phase == Phase::Running).await;
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("a"));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_while_waiting_for_the_store_returns() {
    let store = seeded("a").await;
    store.set_down(true);
    let h = Harness::start(store, FakeRouter::default());
    h.events.send(Event::Stop).await.expect("alive");
    let r = tokio::time::timeout(Duration::from_secs(5), h.task)
        .await
        .expect("returns");
    assert!(r.expect("no panic").is_err());
}

const WITH_LIST_FILE: &str = "version = 1
hostname = \"rs\"

[bgp]
asn = 64500
router_id = \"192.0.2.1\"
route_server = true

[[bgp.peer]]
name = \"a\"
address = \"192.0.2.10\"
asn = 10001
allowed_prefixes_file = \"as10001.prefixes\"
";

#[tokio::test(start_paused = true)]
async fn list_files_come_from_the_store_and_snapshots_keep_the_reference() {
    let store = Arc::new(MemoryStore::default());
    let text = render_config(&parsed(WITH_LIST_FILE));
    store
        .put(&id(), &text, &Expect::Absent, "seed")
        .await
        .expect("seed");
    let file = FileName::new("as10001.prefixes").expect("name");
    store
        .put_file(&id(), &file, b"185.1.0.0/16 le 24\n")
        .await
        .expect("file");
    let mut h = Harness::start(store, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    let applied = h.router.state().config.clone();
    let bgp = applied.bgp.as_ref().expect("[bgp]");
    assert_eq!(
        bgp.files.0.get(&"as10001.prefixes".parse().expect("name")),
        Some(&Ok("185.1.0.0/16 le 24\n".to_owned())),
        "the file's text came with the config"
    );
    // A snapshot of what runs is the store's text: the reference, no inlined list.
    h.events.send(Event::Changed("test")).await.expect("alive");
    let d = h.stop().await;
    assert_eq!(render_config(&d.router().state().config), text);
    assert_eq!(
        d.status().counters.snapshots,
        0,
        "nothing new to save: {:?}",
        d.status()
    );
}

#[tokio::test(start_paused = true)]
async fn a_list_file_missing_from_the_store_refuses_the_config() {
    let store = Arc::new(MemoryStore::default());
    store
        .put(&id(), WITH_LIST_FILE, &Expect::Absent, "seed")
        .await
        .expect("seed");
    let mut h = Harness::start(store, FakeRouter::default());
    let s = h
        .until("failed", |s| matches!(s.phase, Phase::Failed(_)))
        .await;
    let Phase::Failed(why) = s.phase else {
        unreachable!()
    };
    assert!(
        why.contains("the store has no file as10001.prefixes for r1"),
        "{why}"
    );
    assert!(h.router.state().applied.is_empty());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_file_made_after_boot_is_uploaded() {
    let dir = std::env::temp_dir().join(format!("ra-late-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key: crate::daemon::persist::Persisted = format!("hostkey={}/key", dir.display())
        .parse()
        .expect("valid");
    let store = seeded("a").await;
    let (daemon, mut status) = Daemon::new(
        id(),
        vec![Box::new(Shared(store.clone()))],
        FakeRouter::default(),
        settings(),
    );
    let (events, rx) = mpsc::channel(16);
    let task = tokio::spawn(daemon.with_files(vec![key.clone()]).run(rx));
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.phase == Phase::Running),
    )
    .await
    .expect("running")
    .expect("status");
    let name = FileName::new("hostkey").expect("name");
    assert_eq!(store.get_file(&id(), &name).await.expect("store"), None);
    // What ssh-hostkeys.service does once the agent is ready.
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(&key.path, b"generated").expect("write");
    let mut uploaded = None;
    for _ in 0..100 {
        uploaded = store.get_file(&id(), &name).await.expect("store");
        if uploaded.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(uploaded.as_deref(), Some(&b"generated"[..]));
    events.send(Event::Stop).await.expect("alive");
    task.await.expect("no panic").expect("was running");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
