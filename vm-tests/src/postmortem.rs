//! What a failed multi-VM test prints: the console of every guest and what the store holds
//! for every router, so a failure seen in one guest can be read against the others.

use std::path::PathBuf;
use std::process::Command;

use crate::{StoreServer, Vm};

/// Prints the report when dropped during a panic; silent when the test passes.
#[derive(Debug)]
pub struct Postmortem {
    consoles: Vec<(String, PathBuf)>,
    store: PathBuf,
}

/// Console lines shown per guest (the whole log stays in the test's scratch directory).
const TAIL: usize = 120;

impl Postmortem {
    pub fn new(store: &StoreServer) -> Postmortem {
        Postmortem {
            consoles: Vec::new(),
            store: store.dir.clone(),
        }
    }

    /// Adds a guest's console (a rebooted guest replaces its earlier boot's).
    pub fn watch(&mut self, vm: &Vm) {
        let name = vm.spec.name.clone();
        self.consoles.retain(|(n, _)| *n != name);
        self.consoles.push((name, vm.console_path().to_owned()));
    }

    fn git(&self, args: &[&str]) -> String {
        Command::new("git")
            .arg("--git-dir")
            .arg(self.store.join("configs.git"))
            .args(args)
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_else(|e| format!("git: {e}\n"))
    }

    /// Every router's history (one line per version) and current config.
    fn store_contents(&self) -> String {
        let mut out = String::new();
        let refs = self.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
        for id in refs.lines() {
            out.push_str(&format!("--- store: {id}, history (newest first) ---\n"));
            out.push_str(&self.git(&["log", "--format=%h %ad %s", "--date=iso", id]));
            out.push_str(&format!("--- store: {id}, current config ---\n"));
            out.push_str(&self.git(&["show", &format!("{id}:config.toml")]));
        }
        out
    }
}

impl Drop for Postmortem {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (name, path) in &self.consoles {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "--- console of {name} (last {TAIL} lines; all of it in {}) ---\n{}",
                path.display(),
                lines[lines.len().saturating_sub(TAIL)..].join("\n")
            );
        }
        eprintln!("{}---", self.store_contents());
    }
}
