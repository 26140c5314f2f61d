//! The journal source: `journalctl -b -f -o json` from the start of the boot (what the
//! kernel and the services said before the agent knew the collector is sent too).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::frame::{frame, Entry};
use super::queue::Shared;
use super::Counters;

/// Lines of `journalctl -o json`, one entry each.
pub trait Journal: Send {
    fn open(&mut self) -> std::io::Result<Box<dyn BufRead + Send>>;
}

/// The system journal through journalctl (in the image already: systemd's).
#[derive(Debug, Default)]
pub struct Journalctl {
    child: Option<std::process::Child>,
}

impl Journal for Journalctl {
    fn open(&mut self) -> std::io::Result<Box<dyn BufRead + Send>> {
        if let Some(mut old) = self.child.take() {
            let _ = old.kill();
            let _ = old.wait();
        }
        let mut child = Command::new("journalctl")
            .args(["--boot", "--follow", "--lines=all", "--output=json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("journalctl: no stdout"))?;
        self.child = Some(child);
        Ok(Box::new(BufReader::new(out)))
    }
}

/// Reads the journal into `shared` for the life of the process, once a collector is
/// named; a journal that ends or fails is opened again after a pause.
pub fn follow(mut source: Box<dyn Journal>, shared: &Shared, hostname: &str, c: &Counters) {
    shared.wait_for_target();
    loop {
        match source.open() {
            Ok(mut lines) => {
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match lines.read_until(b'\n', &mut line) {
                        Ok(0) => break,
                        Ok(_) => {
                            if let Some(e) = Entry::from_json(&line) {
                                shared.push(frame(&e, hostname), c);
                            }
                        }
                        Err(e) => {
                            tracing::warn!("logs: reading the journal: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("logs: journalctl: {e}"),
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}
