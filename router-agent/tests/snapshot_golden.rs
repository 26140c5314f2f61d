//! Golden snapshots: every `tests/snapshot_cases/<name>/` holds the config text saved before
//! (`previous.toml`, with the operator's comments and layout), the running state
//! (`running.toml`, loaded and read back as the kernel reader would: without table names)
//! and the expected `snapshot.toml`, what the daemon saves: `model::render_snapshot`. An
//! optional `baseline.toml` is the kernel's state before the agent started (read back the
//! same way): what the previous text does not name and is still as it was stays out.
//!
//! `BLESS=1 cargo test --test snapshot_golden` rewrites every `snapshot.toml`; read the diff
//! before committing it.

use std::fs;
use std::path::Path;

use router_agent::model;

mod golden_support;

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The running config of a case as the daemon gets it from the kernel.
fn running(dir: &Path) -> model::Config {
    read_back(&dir.join("running.toml"))
}

fn read_back(path: &Path) -> model::Config {
    let mut state = model::load(&path.display().to_string(), &read(path))
        .unwrap_or_else(|e| panic!("{e}"))
        .state;
    state.table_names.clear();
    model::to_config(&state)
}

#[test]
fn golden_snapshots() {
    let dirs = golden_support::case_dirs("snapshot_cases");
    assert!(dirs.len() >= 2, "too few cases under tests/snapshot_cases");
    let mut failures = Vec::new();
    for dir in &dirs {
        let previous = read(&dir.join("previous.toml"));
        let running = running(dir);
        let base = dir.join("baseline.toml");
        let baseline = base.exists().then(|| read_back(&base));
        let got = model::render_snapshot(Some(&previous), &running, baseline.as_ref(), None);
        let prev: model::Config = toml::from_str(&previous).unwrap();
        // Whatever the layout, the snapshot means exactly the running config.
        let strict = model::try_render_over(
            &previous,
            &model::shape_like(
                model::with_table_names(running.clone(), &prev.tables),
                &prev,
                baseline.as_ref(),
            ),
        );
        assert!(
            strict.is_ok(),
            "{}: fell back to the canonical render: {:?}",
            dir.display(),
            strict.err()
        );
        golden_support::check(&dir.join("snapshot.toml"), &got, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
