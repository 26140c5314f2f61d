//! List files beside the config (IRR prefix lists) are read only when they are regular
//! files: a symbolic link could make the agent quote any file of the router's in an error
//! (issue 15, finding 2), and a FIFO would hang it.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use router_agent::config_file::load;

const CONFIG: &str = r#"version = 1

[bgp]
asn = 64500
router_id = "192.0.2.254"

[[bgp.peer]]
name = "x1"
address = "198.18.0.1"
asn = 65001
allowed_prefixes_file = "x1.prefixes"
"#;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ra-lists-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join("r.toml"), CONFIG).expect("write config");
    d
}

/// The error loading `d/r.toml` gives, within 10 s.
fn load_error(d: &Path) -> String {
    let file = d.join("r.toml").to_string_lossy().into_owned();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load(&file).map(|_| ()).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Err(e)) => e,
        Ok(Ok(())) => panic!("the config loaded"),
        Err(_) => panic!("loading the config hung"),
    }
}

#[test]
fn a_regular_list_file_loads() {
    let d = dir("ok");
    std::fs::write(d.join("x1.prefixes"), "185.1.0.0/16\n").expect("write");
    load(&d.join("r.toml").to_string_lossy()).expect("a regular list file loads");
}

#[test]
fn a_list_file_that_is_a_symlink_is_refused_unread() {
    let d = dir("link");
    let secret = d.join("shadow");
    std::fs::write(&secret, "root:$6$SECRETHASH4711:19000:0:99999:7:::\n").expect("write");
    std::os::unix::fs::symlink(&secret, d.join("x1.prefixes")).expect("symlink");
    let e = load_error(&d);
    assert!(
        !e.contains("SECRETHASH4711"),
        "the linked file was quoted: {e}"
    );
    assert!(e.contains("r.toml:11:"), "no line of the config: {e}");
    assert!(e.contains("symbolic link"), "{e}");
}

#[test]
fn a_list_file_that_is_a_fifo_is_refused_without_hanging() {
    let d = dir("fifo");
    let fifo = d.join("x1.prefixes");
    let out = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .output()
        .expect("mkfifo");
    assert!(out.status.success());
    let e = load_error(&d);
    assert!(e.contains("not a regular file"), "{e}");
}
