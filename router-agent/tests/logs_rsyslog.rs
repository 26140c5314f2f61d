//! The log forwarder against a real rsyslog (Debian's `rsyslog`, run in the foreground
//! with a private config on 127.0.0.1): forwarded lines arrive with the router id as
//! hostname, over TCP (octet counting) and UDP; a dead collector blocks no producer and
//! counts drops.

use std::io::BufRead;
use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use router_agent::logs::{self, journal::Journal, Counters, Limits, Target};

struct Lines(Option<Vec<u8>>);

impl Journal for Lines {
    fn open(&mut self) -> std::io::Result<Box<dyn BufRead + Send>> {
        Ok(Box::new(std::io::Cursor::new(
            self.0.take().unwrap_or_default(),
        )))
    }
}

fn journal(msgs: &[&str]) -> Box<Lines> {
    let text: String = msgs
        .iter()
        .map(|m| format!("{{\"MESSAGE\":\"{m}\",\"SYSLOG_IDENTIFIER\":\"router-agent\",\"PRIORITY\":\"6\"}}\n"))
        .collect();
    Box::new(Lines(Some(text.into_bytes())))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Rsyslog(Child);

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// rsyslogd -n with TCP and UDP inputs on `port`, every message to `out` as
/// "HOSTNAME APPNAME MSG".
fn rsyslog(dir: &std::path::Path, port: u16) -> (Rsyslog, std::path::PathBuf) {
    let out = dir.join("got.log");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imtcp\")\nmodule(load=\"imudp\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\")\n\
             template(name=\"t\" type=\"string\" string=\"%HOSTNAME% %APP-NAME% %msg%\\n\")\n\
             action(type=\"omfile\" file=\"{o}\" template=\"t\")\n",
            d = dir.display(),
            o = out.display()
        ),
    )
    .expect("conf");
    let child = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("pid"))
        .spawn()
        .expect("rsyslogd (Debian's rsyslog, scripts/setup.sh)");
    // Ready when its TCP port answers.
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "rsyslogd never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Rsyslog(child), out)
}

fn until(what: impl Fn() -> bool, why: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    while !what() {
        assert!(Instant::now() < end, "{why}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn counters() -> &'static Counters {
    Box::leak(Box::default())
}

#[test]
fn forwarded_lines_arrive_with_the_router_id_as_hostname() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let (_rsyslog, out) = rsyslog(dir.path(), port);
    for udp in [false, true] {
        let msg = format!("snapshot: 1 change udp={udp}");
        let target = Target {
            host: "127.0.0.1".into(),
            port,
            udp,
        };
        let c = counters();
        let _h = logs::start(
            "edge-7",
            Some(target),
            journal(&[&msg]),
            Box::new(logs::ship::Net),
            Limits::default(),
            c,
        )
        .expect("start");
        let want = format!("edge-7 router-agent {msg}");
        until(
            || {
                std::fs::read_to_string(&out)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.trim() == want)
            },
            &format!("{want:?} never arrived"),
        );
        assert_eq!(c.sent.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn a_dead_collector_blocks_nothing_and_counts_drops() {
    let port = free_port();
    let c = counters();
    let msgs: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
    let h = logs::start(
        "edge-7",
        Some(Target {
            host: "127.0.0.1".into(),
            port,
            udp: false,
        }),
        journal(&refs),
        Box::new(logs::ship::Net),
        Limits {
            messages: 10,
            bytes: 1 << 20,
        },
        c,
    )
    .expect("start");
    // Nothing listens: every line is read anyway, the buffer keeps 10 (one may be in
    // the sender's hands), the rest are counted.
    until(
        || c.dropped.load(Ordering::SeqCst) >= 40,
        "drops never counted",
    );
    assert!(h.queued() <= 10);
    assert_eq!(c.sent.load(Ordering::SeqCst), 0);
    assert!(c.metrics().contains("router_agent_log_dropped_total 4"));
}
