use super::*;
use crate::bgp::status::{Counts, Readout, Session};

#[test]
fn the_request_line_picks_the_route() {
    let r = |s: &str| route(s.as_bytes());
    assert_eq!(
        r("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        Route::Metrics { with_body: true }
    );
    assert_eq!(
        r("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
        Route::Metrics { with_body: false }
    );
    assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
    assert_eq!(r("POST /metrics HTTP/1.1\r\n\r\n"), Route::BadMethod);
    assert_eq!(r("GET /metrics\r\n\r\n"), Route::Bad);
    assert_eq!(r("GET /metrics HTTP/1.1\r\n"), Route::Bad, "no end of head");
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(MAX_HEAD)
    );
    assert_eq!(r(&huge), Route::Bad);
}

async fn get(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

async fn exporter(file: PathBuf) -> SocketAddr {
    let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let listener = TcpListener::from_std(listener).expect("tokio listener");
    tokio::spawn(serve(listener, file));
    addr
}

#[tokio::test]
async fn the_textfile_is_served_at_metrics_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("metrics.prom");
    let addr = exporter(file.clone()).await;
    let none = get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(none.starts_with("HTTP/1.1 503 "), "{none}");
    std::fs::write(&file, "router_agent_degraded 0\n").expect("write");
    let ok = get(addr, "GET /metrics HTTP/1.1\r\nHost: r1\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(
        ok.contains("\r\nContent-Type: text/plain; version=0.0.4"),
        "{ok}"
    );
    assert!(ok.contains("\r\n\r\nrouter_agent_degraded 0\n"), "{ok}");
    // The log forwarder's counters follow the file's.
    assert!(ok.contains("\nrouter_agent_log_dropped_total "), "{ok}");
    let other = get(addr, "GET /etc/shadow HTTP/1.1\r\n\r\n").await;
    assert!(other.starts_with("HTTP/1.1 404 "), "{other}");
}

/// A BGP description is the operator's free text: escaped, it stays one label value and
/// cannot add a sample. promtool (Debian's `prometheus`) is the independent parser.
#[tokio::test]
async fn a_hostile_description_stays_inside_its_label() {
    let hostile = "x\"} 1\nrouter_agent_degraded 0\n# \\ end";
    let session = Session {
        name: "p1".into(),
        state: "up".into(),
        info: "Established".into(),
        bgp_state: "Established".into(),
        description: Some(hostile.into()),
        since: String::new(),
        channels: vec![("ipv4".into(), Counts::default())],
    };
    let text = crate::daemon::status::bgp_metrics(Some(&Readout::Sessions(vec![session])));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("metrics.prom");
    std::fs::write(&file, &text).expect("write");
    let reply = get(exporter(file).await, "GET /metrics HTTP/1.1\r\n\r\n").await;
    let body = reply.split_once("\r\n\r\n").expect("a body").1;
    assert!(
        !body.lines().any(|l| l.starts_with("router_agent_degraded")),
        "{body}"
    );
    let check = promtool_check_metrics(body);
    assert!(
        check.status.success(),
        "promtool check metrics: {check:?}\n{body}"
    );
}

fn promtool_check_metrics(body: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/setup.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed promtool");
    child.wait_with_output().expect("promtool")
}
