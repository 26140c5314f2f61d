//! Real etcd members on loopback for tests: own data dirs and free ports, killed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Member {
    pub name: String,
    pub client_url: String,
    child: Option<Child>,
    log: PathBuf,
}

pub struct Cluster {
    pub members: Vec<Member>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

impl Member {
    /// A call to etcd's JSON gateway on this member, as `etcdctl` would make it.
    pub async fn call(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        // reqwest is built without a TLS provider of its own; the store client brings ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let answer = reqwest::Client::new()
            .post(format!("{}/v3/{path}", self.client_url))
            .body(body.to_string())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("{path}: {e}"))?;
        let bytes = answer.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{path}: {e}"))
    }

    /// Writes a key straight into etcd.
    pub async fn put(&self, key: &str, value: &str) -> Result<serde_json::Value, String> {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        self.call(
            "kv/put",
            serde_json::json!({"key": b64(key), "value": b64(value)}),
        )
        .await
    }
}

impl Cluster {
    /// Starts `n` members and waits until the cluster answers.
    pub async fn start(n: usize) -> Cluster {
        let binary = "etcd";
        assert!(
            Command::new(binary).arg("--version").output().is_ok(),
            "these tests need the `etcd` binary (Debian package etcd-server; scripts/setup.sh installs it)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let token = format!("ra-test-{}-{}", std::process::id(), free_port());
        let members = ports
            .iter()
            .enumerate()
            .map(|(i, (client, peer))| {
                let name = format!("m{i}");
                let client_url = format!("http://127.0.0.1:{client}");
                let peer_url = format!("http://127.0.0.1:{peer}");
                let log = dir.path().join(format!("{name}.log"));
                let out = std::fs::File::create(&log).expect("log file");
                let child = Command::new(binary)
                    .args(["--name", &name])
                    .arg("--data-dir")
                    .arg(dir.path().join(&name))
                    .args(["--listen-client-urls", &client_url])
                    .args(["--advertise-client-urls", &client_url])
                    .args(["--listen-peer-urls", &peer_url])
                    .args(["--initial-advertise-peer-urls", &peer_url])
                    .args(["--initial-cluster", &initial.join(",")])
                    .args(["--initial-cluster-state", "new"])
                    .args(["--initial-cluster-token", &token])
                    // Fast elections, so a killed leader is replaced within a second.
                    .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                    .args(["--logger", "zap", "--log-level", "warn"])
                    .stdout(Stdio::null())
                    .stderr(out)
                    .spawn()
                    .expect("start etcd");
                Member {
                    name,
                    client_url,
                    child: Some(child),
                    log,
                }
            })
            .collect();
        let cluster = Cluster { members, _dir: dir };
        cluster.wait_ready().await;
        cluster
    }

    /// `etcd://h:p,h:p/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        let hosts: Vec<&str> = self
            .members
            .iter()
            .map(|m| m.client_url.trim_start_matches("http://"))
            .collect();
        format!("etcd://{}/{prefix}", hosts.join(","))
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for member in &self.members {
            loop {
                let ok = member.put("/ready", "1");
                match tokio::time::timeout(Duration::from_secs(2), ok).await {
                    Ok(Ok(_)) => break,
                    _ if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    other => panic!(
                        "etcd member {} not ready within 30 s ({other:?}); its log:\n{}",
                        member.name,
                        std::fs::read_to_string(&member.log).unwrap_or_default()
                    ),
                }
            }
        }
    }

    /// The index of the member that leads now.
    pub async fn leader(&self) -> usize {
        for (i, member) in self.members.iter().enumerate() {
            let status = member
                .call("maintenance/status", serde_json::json!({}))
                .await
                .expect("member status");
            if status["leader"] == status["header"]["member_id"] {
                return i;
            }
        }
        panic!("no member says it leads");
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            child.kill().expect("kill etcd member");
            child.wait().expect("reap etcd member");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            if let Some(mut child) = self.members[i].child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
