//! Golden plans: every `tests/cases/<name>/` holds the state a router has (`current.toml`,
//! as the kernel reader would render it), the config to apply (`desired.toml`) and the
//! expected `plan.txt`: the plan, then `revert:` and the revert plan, one op a line.
//! A case whose diff fails holds `error: <message>` instead.
//!
//! `BLESS=1 cargo test --test golden` rewrites every `plan.txt` from the current planner;
//! read the diff before committing it.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use router_agent::{model, plan};

mod golden_support;

fn case_dirs() -> Vec<PathBuf> {
    golden_support::case_dirs("cases")
}

fn load(path: &Path) -> model::ValidConfig {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    model::load(&path.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"))
}

/// The text `plan.txt` must hold for this case.
fn render_case(dir: &Path) -> String {
    let current = load(&dir.join("current.toml"));
    let desired = load(&dir.join("desired.toml"));
    match plan::diff(&desired.state, &current.state) {
        Ok(p) => {
            let mut out = p.to_string();
            out.push_str("revert:\n");
            for op in p.full_revert() {
                writeln!(out, "  {op}").expect("writing to a String");
            }
            out
        }
        Err(e) => format!("error: {e}\n"),
    }
}

#[test]
fn golden_plans() {
    let dirs = case_dirs();
    assert!(!dirs.is_empty(), "no cases under tests/cases");
    let mut failures = Vec::new();
    for dir in &dirs {
        golden_support::check(&dir.join("plan.txt"), &render_case(dir), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Applying the plan's ops in order and then the revert ops leaves nothing out of place:
/// the revert of the revert is the plan itself, and no op is its own inverse's no-op.
#[test]
fn revert_is_exact_inverse() {
    for dir in case_dirs() {
        let current = load(&dir.join("current.toml"));
        let desired = load(&dir.join("desired.toml"));
        let Ok(p) = plan::diff(&desired.state, &current.state) else {
            continue;
        };
        let back: Vec<_> = p
            .full_revert()
            .iter()
            .rev()
            .map(plan::Op::inverse)
            .collect();
        assert_eq!(back, p.ops, "{}: revert of the revert", dir.display());
    }
}

/// A state planned against itself needs nothing: re-applying the same config writes nothing.
#[test]
fn every_state_is_a_noop_against_itself() {
    for dir in case_dirs() {
        for file in ["current.toml", "desired.toml"] {
            let s = load(&dir.join(file)).state;
            match plan::diff(&s, &s) {
                Ok(p) => assert!(
                    p.is_empty(),
                    "{}/{file}: plan against itself:\n{p}",
                    dir.display()
                ),
                // A desired state may name NICs by MAC that only a real system has.
                Err(_) => continue,
            }
        }
    }
}
