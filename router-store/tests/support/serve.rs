//! A `router-store serve` process for the integration tests, killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

#[derive(Debug)]
pub struct Serve {
    pub child: Child,
    /// The base URL it printed (`http://...` or `https://...`).
    pub url: String,
    stderr: Receiver<String>,
}

impl Serve {
    /// `router-store serve --listen 127.0.0.1:0 --dir DIR EXTRA...`, once it has printed
    /// the address it listens on.
    #[allow(dead_code)] // not store_limits.rs
    pub fn start(dir: &Path, extra: &[&str]) -> Serve {
        Serve::start_with(Command::new(env!("CARGO_BIN_EXE_router-store")), dir, extra)
    }

    /// [`Serve::start`] with an open-file limit, as systemd gives a service (1024 there).
    #[allow(dead_code)] // only store_limits.rs
    pub fn start_limited(dir: &Path, extra: &[&str], nofile: u32) -> Serve {
        let mut prlimit = Command::new("prlimit");
        prlimit
            .arg(format!("--nofile={nofile}:{nofile}"))
            .arg(env!("CARGO_BIN_EXE_router-store"));
        Serve::start_with(prlimit, dir, extra)
    }

    /// `router-store serve --listen 127.0.0.1:0 --store URL EXTRA...`: the dashboard alone.
    #[allow(dead_code)] // only dashboard_etcd.rs
    pub fn start_over(store: &str, extra: &[&str]) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_router-store"));
        command.args(["serve", "--listen", "127.0.0.1:0", "--store", store]);
        Serve::spawn(command, extra)
    }

    fn start_with(mut command: Command, dir: &Path, extra: &[&str]) -> Serve {
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir);
        Serve::spawn(command, extra)
    }

    fn spawn(mut command: Command, extra: &[&str]) -> Serve {
        let mut child = command
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("router-store serve starts");
        let stderr = lines(child.stderr.take().expect("stderr piped"), Some);
        let urls = lines(child.stdout.take().expect("stdout piped"), |l| {
            l.strip_prefix("store: listening on ").map(str::to_owned)
        });
        let url = urls
            .recv_timeout(Duration::from_secs(30))
            .expect("store serve printed its address within 30 s");
        Serve { child, url, stderr }
    }

    /// What it logged so far.
    #[allow(dead_code)] // store_http.rs lets the log go
    pub fn log(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    #[allow(dead_code)] // store_boot.rs never kills its server
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `from` that `keep` maps to something, read on a thread of their own.
fn lines(
    from: impl std::io::Read + Send + 'static,
    keep: impl Fn(String) -> Option<String> + Send + 'static,
) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if let Some(kept) = keep(line) {
                let _ = tx.send(kept);
            }
        }
    });
    rx
}
