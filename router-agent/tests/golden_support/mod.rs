//! What the golden tests share: their case directories, and each expected file compared
//! with what the code gives now, or rewritten from it with `BLESS=1`.

use std::fs;
use std::path::{Path, PathBuf};

/// The case directories under `tests/<name>`, sorted.
pub fn case_dirs(name: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("listing {}: {e}", root.display()))
        .map(|e| e.expect("listing a case directory").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Compares `got` with the expected `file`, adding a difference to `failures`; with
/// `BLESS=1`, writes `got` to `file` instead.
pub fn check(file: &Path, got: &str, failures: &mut Vec<String>) {
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        fs::write(file, got).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
        return;
    }
    let want = fs::read_to_string(file).unwrap_or_default();
    if got != want {
        failures.push(format!(
            "--- {} differs (BLESS=1 rewrites it)\n--- expected:\n{want}--- got:\n{got}",
            file.display()
        ));
    }
}
