//! `apply --confirm`: undone at the deadline unless `router-agent confirm` ran.

mod support;

use std::time::{Duration, Instant};

use support::{agent, stderr, Netns};

fn config(addr: &str) -> String {
    format!(
        "version = 1\n\n[[interface]]\nname = \"v0\"\nkind = \"veth\"\nveth = {{ peer = \"v1\" }}\naddresses = [\"{addr}\"]\n\n[[interface]]\nname = \"v1\"\nkind = \"veth\"\nveth = {{ peer = \"v0\" }}\n"
    )
}

fn has(ns: &Netns, addr: &str) -> bool {
    ns.json(&["addr", "show", "dev", "v0"])
        .to_string()
        .contains(addr)
}

#[test]
fn an_unconfirmed_apply_is_undone_and_a_confirmed_one_stays() {
    let ns = Netns::new("confirm");
    let dir = std::env::temp_dir().join(format!("ra-confirm-netns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
    std::fs::write(&a, config("192.0.2.1/24")).expect("a");
    std::fs::write(&b, config("198.51.100.1/24")).expect("b");
    let status = dir.join("status");
    let status_s = status.to_str().expect("utf-8 path");
    let apply = |file: &std::path::Path, confirm: Option<&str>| {
        let mut args = vec!["apply", "--netns", &ns.name, "--status-dir", status_s];
        if let Some(c) = confirm {
            args.extend(["--confirm", c]);
        }
        args.push(file.to_str().expect("utf-8 path"));
        let out = agent(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };

    apply(&a, None);
    let out = apply(&b, Some("2"));
    assert!(
        stderr(&out).contains("router-agent confirm"),
        "{}",
        stderr(&out)
    );
    assert!(has(&ns, "198.51.100.1"));
    let t = Instant::now();
    while !has(&ns, "192.0.2.1") {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "not rolled back within 15 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!has(&ns, "198.51.100.1"));
    // The waiter writes its result once everything (BIRD too) is back: a moment later.
    let t = Instant::now();
    let result = loop {
        match std::fs::read_to_string(status.join("confirm-result")) {
            Ok(r) => break r,
            Err(e) if t.elapsed() > Duration::from_secs(10) => panic!("no confirm-result: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(result.contains("not confirmed in time"), "{result}");
    assert!(!status.join("confirm-pending").exists());

    apply(&b, Some("3"));
    let out = agent(&["confirm", "--status-dir", status_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_secs(5));
    assert!(has(&ns, "198.51.100.1"), "a confirmed apply stays");
    let out = agent(&["confirm", "--status-dir", status_s]);
    assert!(!out.status.success() && stderr(&out).contains("nothing to confirm"));
    let _ = std::fs::remove_dir_all(&dir);
}
