//! Golden bird.conf renderings: every `tests/bgp_cases/<name>/config.toml` renders to
//! `bird.conf` byte for byte, BIRD itself accepts it (`bird -p`), and the file reads back
//! (`parse_file`) to the same model.
//!
//! `BLESS=1 cargo test --test bgp_golden` rewrites every `bird.conf`; read the diff.

use std::fs;
use std::process::Command;

use router_agent::bgp::{parse_file, render_file, Read};
use router_agent::model;

mod golden_support;

#[test]
fn golden_bird_confs() {
    let dirs = golden_support::case_dirs("bgp_cases");
    assert!(dirs.len() >= 3, "too few cases under tests/bgp_cases");
    let mut failures = Vec::new();
    for dir in &dirs {
        let path = dir.join("config.toml");
        let text = fs::read_to_string(&path).expect("read config.toml");
        let bgp = model::load(&path.display().to_string(), &text)
            .unwrap_or_else(|e| panic!("{e}"))
            .bgp
            .expect("a case has [bgp]");
        let got = render_file(&bgp);
        let out = dir.join("bird.conf");
        golden_support::check(&out, &got, &mut failures);
        let check = Command::new("bird")
            .args(["-p", "-c"])
            .arg(&out)
            .output()
            .expect("bird is installed (scripts/setup.sh installs bird2)");
        assert!(
            check.status.success(),
            "bird -p {}: {}",
            out.display(),
            String::from_utf8_lossy(&check.stderr)
        );
        assert_eq!(
            parse_file("bird.conf", &got).expect("reads back"),
            Read::Agent(Box::new(bgp)),
            "{}: read back",
            dir.display()
        );
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (BLESS=1 to rewrite):\n{}",
        failures.join("\n")
    );
}
