//! The daemon's log lines written straight to the system console (`--console`), beside
//! the journal. Through journald (`StandardOutput=journal+console`) they reach the console
//! only once journald runs, which in a small VM is seconds after the agent has applied its
//! config; and a console that says what the router waits for must not depend on it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::Layer;

/// Lines start like the kernel's: seconds since boot, then who speaks.
struct SinceBoot;

fn stamp() -> String {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    format!("[{:5}.{:06}] router-agent:", t.tv_sec, t.tv_nsec / 1000)
}

impl FormatTime for SinceBoot {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        w.write_str(&stamp())
    }
}

/// The console [`layer`] writes to, for [`fatal`].
static CONSOLE: OnceLock<Mutex<File>> = OnceLock::new();

/// Writes the error a process exits with to the console, if it logs there: it comes
/// after the log, outside of it (main prints it to stderr).
pub fn fatal(message: &str) {
    if let Some(console) = CONSOLE.get() {
        if let Ok(mut f) = console.lock() {
            let _ = writeln!(f, "{} ERROR {message}", stamp());
        }
    }
}

/// Opens `path` (a terminal) for writing. O_NOCTTY: a service has no controlling terminal
/// and must not get this one (its hangup would be the agent's). O_NONBLOCK: a console that
/// cannot take more (a serial line held by flow control) loses lines; the agent never
/// waits for it.
pub fn open(path: &Path) -> std::io::Result<File> {
    let flags = rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::NONBLOCK;
    OpenOptions::new()
        .write(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
}

/// A layer writing info and above to `console`, without colour or target.
pub fn layer<S>(console: File) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if let Ok(copy) = console.try_clone() {
        let _ = CONSOLE.set(Mutex::new(copy));
    }
    tracing_subscriber::fmt::layer()
        .with_writer(Mutex::new(console))
        .with_ansi(false)
        .with_target(false)
        .with_timer(SinceBoot)
        .with_filter(LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn lines_carry_the_time_since_boot_and_the_agents_name() {
        let path = std::env::temp_dir().join(format!("ra-console-{}", std::process::id()));
        let file = File::create(&path).expect("create");
        let subscriber = tracing_subscriber::registry().with(layer(file));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("applied r1@abc");
            tracing::debug!("not on the console");
        });
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::remove_file(&path).expect("cleanup");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let (stamp, rest) = lines[0].split_once("] router-agent: ").expect("prefix");
        assert!(
            stamp.trim_start_matches('[').trim().parse::<f64>().is_ok(),
            "{stamp}"
        );
        assert_eq!(rest.trim_start(), "INFO applied r1@abc");
    }
}
