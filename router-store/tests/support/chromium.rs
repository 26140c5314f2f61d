//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: navigate,
//! evaluate JavaScript, click, take screenshots (kept under target/test-artifacts/).
//! Without Chromium the test fails and says how to install it: it never skips.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const CHROMIUM: &str = "/usr/bin/chromium";

#[derive(Debug)]
pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// Where screenshots go: target/test-artifacts/ of the workspace.
pub fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("target/test-artifacts");
    dir
}

impl Browser {
    pub fn launch() -> Browser {
        assert!(
            std::path::Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: the dashboard's browser tests need Debian's chromium \
             (apt-get install chromium; scripts/setup.sh installs it)"
        );
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--window-size=1200,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(ws) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(ws.to_owned());
                }
            }
        });
        let browser_ws = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium printed its DevTools address within 60 s");
        let port = browser_ws
            .trim_start_matches("ws://")
            .split(['/', ':'])
            .nth(1)
            .expect("a port")
            .to_owned();
        let page = page_socket(&port);
        let (ws, _) = tungstenite::connect(page.as_str()).expect("the page's DevTools socket");
        if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
            tcp.set_read_timeout(Some(Duration::from_secs(60)))
                .expect("timeout");
        }
        Browser {
            child,
            ws,
            next_id: 1,
            _profile: profile,
        }
    }

    /// A DevTools command's result (events in between are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let text = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::text(text)).expect("send to chromium");
        loop {
            let message = self.ws.read().expect("an answer from chromium");
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(text.as_str()).expect("JSON");
            if answer["id"] == json!(id) {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    pub fn eval(&mut self, js: &str) -> Value {
        let params = json!({ "expression": js, "returnByValue": true });
        let result = self.call("Runtime.evaluate", params);
        assert!(result.get("exceptionDetails").is_none(), "{js}: {result}");
        result["result"]["value"].clone()
    }

    /// Waits (up to 30 s) until `js` is true in a loaded page.
    pub fn wait_for(&mut self, js: &str) {
        let check = format!("document.readyState === 'complete' && !!({js})");
        let started = Instant::now();
        while self.eval(&check) != json!(true) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "not true within 30 s: {js}\npage: {}",
                self.eval("document.body ? document.body.innerText : ''")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        let js = format!("location.href === {}", json!(url));
        self.wait_for(&js);
    }

    /// A PNG of the page as target/test-artifacts/NAME.png.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("data"))
            .expect("base64");
        let path = artifacts().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot written");
        path
    }
}

/// The DevTools socket of the page Chromium opened.
fn page_socket(port: &str) -> String {
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let list = super::web::get(&url, "/json/list");
        let targets: Value = serde_json::from_str(&list.body).unwrap_or(Value::Null);
        let page = targets.as_array().and_then(|t| {
            t.iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_owned))
        });
        if let Some(page) = page {
            return page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no page target: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
