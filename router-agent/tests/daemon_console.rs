//! `daemon --console`: a malformed boot parameter is said on the console (not only in the
//! journal), and the daemon exits with status 2, which systemd does not restart.

use std::process::Command;

#[test]
fn a_malformed_boot_parameter_is_said_on_the_console() {
    let dir = std::env::temp_dir().join(format!("ra-daemon-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cmdline = dir.join("cmdline");
    let console = dir.join("console");
    std::fs::write(&cmdline, "quiet router.id=r1 router.mgmt=10.0.0.300/24\n").expect("write");
    std::fs::write(&console, "").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_router-agent"))
        .arg("daemon")
        .arg("--cmdline")
        .arg(&cmdline)
        .arg("--console")
        .arg(&console)
        .arg("--status-dir")
        .arg(dir.join("status"))
        .output()
        .expect("run router-agent");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = std::fs::read_to_string(&console).expect("read");
    let at = text
        .find(" ERROR ")
        .unwrap_or_else(|| panic!("no error on the console:\n{text}"));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    assert!(text[line_start..at].starts_with('['), "{text}");
    assert!(text[line_start..at].ends_with("] router-agent:"), "{text}");
    assert!(
        text[at..].contains(r#"router.mgmt="10.0.0.300/24""#),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
