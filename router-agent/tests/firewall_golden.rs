//! Golden firewall compilations: every `tests/firewall_cases/<name>/` holds the firewall a
//! router has (`current.toml`), the config to apply (`desired.toml`) and `expected.txt`: the
//! plan, the nft transaction that applies it, the one that reverts it, and the `nftables`
//! schema JSON of the desired table.
//!
//! `BLESS=1 cargo test --test firewall_golden` rewrites every `expected.txt`; read the diff.

use std::fs;
use std::path::Path;

use router_agent::firewall::{self, compile::compile, Current};
use router_agent::model;

mod golden_support;

fn load(path: &Path) -> Option<model::firewall::Firewall> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    model::load(&path.display().to_string(), &text)
        .unwrap_or_else(|e| panic!("{e}"))
        .firewall
}

fn render_case(dir: &Path) -> String {
    let current = Current {
        firewall: load(&dir.join("current.toml")),
        tables: Default::default(),
    };
    let desired = load(&dir.join("desired.toml"));
    let plan = match firewall::plan(desired.as_ref(), &current) {
        Ok(p) => p,
        Err(e) => return format!("error: {e}\n"),
    };
    let mut out = plan.to_string();
    let script = |t: &Option<firewall::Transaction>| {
        t.as_ref()
            .map_or_else(String::new, |t| t.script.text.clone())
    };
    out.push_str("--- apply\n");
    out.push_str(&script(&plan.apply));
    out.push_str("--- revert\n");
    out.push_str(&script(&plan.revert));
    out.push_str("--- schema\n");
    if let Some(d) = &desired {
        out.push_str(&compile(d).to_json());
        out.push('\n');
    }
    out
}

#[test]
fn golden_firewalls() {
    let dirs = golden_support::case_dirs("firewall_cases");
    assert!(!dirs.is_empty(), "no cases under tests/firewall_cases");
    let mut failures = Vec::new();
    for dir in &dirs {
        golden_support::check(&dir.join("expected.txt"), &render_case(dir), &mut failures);
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (BLESS=1 to rewrite):\n{}",
        failures.join("\n")
    );
}
