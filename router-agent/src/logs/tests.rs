//! The forwarder with a journal and a collector in memory.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ship::{Backoff, Connect, Transport};
use super::*;

/// A journal of fixed lines (opened again: nothing more).
struct Lines(Option<Vec<u8>>);

impl journal::Journal for Lines {
    fn open(&mut self) -> std::io::Result<Box<dyn BufRead + Send>> {
        Ok(Box::new(std::io::Cursor::new(
            self.0.take().unwrap_or_default(),
        )))
    }
}

fn lines(n: usize) -> Box<Lines> {
    let text: String = (0..n)
        .map(|i| format!("{{\"MESSAGE\":\"line {i}\",\"SYSLOG_IDENTIFIER\":\"t\"}}\n"))
        .collect();
    Box::new(Lines(Some(text.into_bytes())))
}

/// A collector that accepts while `up`, recording what it got and where from.
#[derive(Clone, Default)]
struct Collector {
    up: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<(Target, String)>>>,
}

struct Conn(Collector, Target);

impl Transport for Conn {
    fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        if !self.0.up.load(Ordering::SeqCst) {
            return Err(std::io::ErrorKind::ConnectionReset.into());
        }
        let text = String::from_utf8_lossy(frame).into_owned();
        self.0
            .got
            .lock()
            .expect("lock")
            .push((self.1.clone(), text));
        Ok(())
    }
}

impl Connect for Collector {
    fn connect(&mut self, t: &Target) -> std::io::Result<Box<dyn Transport>> {
        if self.up.load(Ordering::SeqCst) {
            Ok(Box::new(Conn(self.clone(), t.clone())))
        } else {
            Err(std::io::ErrorKind::ConnectionRefused.into())
        }
    }
}

fn target(port: u16) -> Target {
    Target {
        host: "192.0.2.1".into(),
        port,
        udp: false,
    }
}

/// Polls `what` until it holds (a bound on a hang, not a timing).
fn until(what: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !what() {
        assert!(Instant::now() < end, "condition never held");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn start_with(
    boot: Option<Target>,
    n: usize,
    c: &Collector,
    limits: Limits,
    counters: &'static Counters,
) -> Handle {
    let fast = Backoff {
        min: Duration::from_millis(5),
        max: Duration::from_millis(20),
    };
    let shared = Arc::new(queue::Shared::new(limits));
    let s = shared.clone();
    let source = lines(n);
    std::thread::spawn(move || journal::follow(source, &s, "edge-1", counters));
    let (s, conn) = (shared.clone(), Box::new(c.clone()));
    std::thread::spawn(move || ship::send_loop(conn, &s, counters, fast));
    let h = Handle { shared, boot };
    h.configured(None);
    h
}

fn leak() -> &'static Counters {
    Box::leak(Box::default())
}

#[test]
fn entries_reach_the_boot_collector_in_order_with_the_router_id() {
    let c = Collector::default();
    c.up.store(true, Ordering::SeqCst);
    let counters = leak();
    let _h = start_with(Some(target(514)), 3, &c, Limits::default(), counters);
    until(|| c.got.lock().expect("lock").len() == 3);
    let got = c.got.lock().expect("lock").clone();
    assert_eq!(got[0].1, "<30>1 - edge-1 t - - - line 0");
    assert_eq!(got[2].1, "<30>1 - edge-1 t - - - line 2");
    assert_eq!(counters.sent.load(Ordering::SeqCst), 3);
    assert_eq!(counters.dropped.load(Ordering::SeqCst), 0);
}

#[test]
fn nothing_is_read_before_a_collector_is_named_and_the_config_names_one() {
    let c = Collector::default();
    c.up.store(true, Ordering::SeqCst);
    let h = start_with(None, 2, &c, Limits::default(), leak());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(h.queued(), 0);
    let cfg: crate::model::LoggingConfig =
        toml::from_str("collector = \"192.0.2.1:6514\"").expect("logging");
    h.configured(Some(&cfg));
    until(|| c.got.lock().expect("lock").len() == 2);
    assert_eq!(c.got.lock().expect("lock")[0].0, target(6514));
}

#[test]
fn a_dead_collector_costs_a_bounded_buffer_and_counts_drops() {
    let c = Collector::default();
    let counters = leak();
    let limits = Limits {
        messages: 10,
        bytes: 1 << 20,
    };
    let h = start_with(Some(target(514)), 100, &c, limits, counters);
    // The reader never waits on the sender: all 100 are read, 90 dropped, 10 kept.
    until(|| counters.dropped.load(Ordering::SeqCst) == 90);
    assert!(h.queued() <= 10);
    c.up.store(true, Ordering::SeqCst);
    until(|| c.got.lock().expect("lock").len() == 10);
    let got = c.got.lock().expect("lock").clone();
    assert!(
        got[0].1.ends_with("line 90"),
        "the newest are kept: {got:?}"
    );
    assert!(got[9].1.ends_with("line 99"));
    assert!(counters
        .metrics()
        .contains("\nrouter_agent_log_dropped_total 90\n"));
}

#[test]
fn a_config_without_logging_keeps_the_boot_collector() {
    let c = Collector::default();
    let h = start_with(Some(target(514)), 0, &c, Limits::default(), leak());
    assert!(!h.shared.set_target(Some(target(514))));
    h.configured(None);
    assert!(
        !h.shared.set_target(Some(target(514))),
        "still the boot one"
    );
}

#[test]
fn octet_counting_frames() {
    assert_eq!(
        ship::octet_counted(b"<13>1 - h a - - - hi"),
        b"20 <13>1 - h a - - - hi"
    );
}
