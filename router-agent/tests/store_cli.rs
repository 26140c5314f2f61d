//! `router-agent store ...` as operators run it: the binary against the store server
//! (router-store's own server, in this process: its HTTP API, git history and tokens) and
//! against a `file://` directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use router_store::{Access, GitStore, Server, ServerConfig, Tokens};
use router_store_client::{
    contract, file::FileStore, ConfigStore, Expect, HttpStore, RouterId, StoreOptions,
};

const V1: &str =
    "version = 1\nhostname = \"r1\"\n\n[[interface]]\nname = \"lo\"\nkind = \"loopback\"\n";
const ROUTE: &str = "\n[[route]]\nto = \"10.9.0.0/16\"\ntype = \"blackhole\"\n";

fn id(s: &str) -> RouterId {
    RouterId::new(s).expect("valid id")
}

fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `router-agent ARGS` with `stdin` as input; no terminal, so no colour.
fn agent(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_router-agent"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("router-agent runs");
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("router-agent ends")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Fleet {
    runtime: tokio::runtime::Runtime,
    url: String,
    dir: tempfile::TempDir,
    admin: PathBuf,
    own: PathBuf,
    _server: Server,
}

impl Fleet {
    /// A store server with an admin token and one for r1.
    fn start() -> Fleet {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let tokens = format!(
            "[[token]]\nsha256 = \"{}\"\nrouter = \"*\"\n\n[[token]]\nsha256 = \"{}\"\nrouter = \"r1\"\n",
            sha256_hex("admin-secret"),
            sha256_hex("r1-secret")
        );
        let (admin, own) = (dir.path().join("admin.token"), dir.path().join("r1.token"));
        std::fs::write(&admin, "admin-secret\n").expect("token file");
        std::fs::write(&own, "r1-secret\n").expect("token file");
        let store_dir = dir.path().join("store");
        let server = runtime.block_on(async {
            let store = GitStore::open(&store_dir).await.expect("git store");
            Server::start(ServerConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                store: Arc::new(store),
                access: Access::Tokens(Tokens::parse("test", &tokens).expect("tokens")),
                tls: None,
                max_body: router_store::DEFAULT_MAX_BODY,
                boot: None,
                limits: router_store::ConnLimits::default(),
            })
            .await
            .expect("server starts")
        });
        Fleet {
            url: server.url(),
            runtime,
            dir,
            admin,
            own,
            _server: server,
        }
    }

    fn client(&self) -> HttpStore {
        let options = StoreOptions {
            token: Some("admin-secret".into()),
            ..StoreOptions::default()
        };
        HttpStore::open(&self.url, &options).expect("client")
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path.display().to_string()
    }

    /// `router-agent store VERB URL ARGS... --token-file ADMIN`.
    fn store(&self, verb: &str, args: &[&str]) -> Output {
        self.store_with(verb, args, &self.admin, &[], "")
    }

    fn store_with(
        &self,
        verb: &str,
        args: &[&str],
        token: &Path,
        env: &[(&str, &str)],
        stdin: &str,
    ) -> Output {
        let token = token.display().to_string();
        let mut all = vec!["store", verb, self.url.as_str()];
        all.extend(args);
        all.extend(["--token-file", token.as_str()]);
        agent(&all, env, stdin)
    }
}

#[test]
fn an_operators_day_against_the_store_server() {
    let fleet = Fleet::start();
    let c = fleet.client();
    let v1 = fleet
        .runtime
        .block_on(c.put(&id("r1"), V1, &Expect::Absent, "first boot"))
        .expect("seed");
    fleet
        .runtime
        .block_on(c.put_status(&id("r1"), &contract::status_record(0)))
        .expect("status");

    // push: validated, then compare-and-swap; log and diff say what changed.
    let file = fleet.file("r1.toml", &format!("{V1}{ROUTE}"));
    let pushed = ok(&fleet.store("push", &["r1", &file]));
    assert!(pushed.contains(&format!("(was {v1})")), "{pushed}");
    let log = ok(&fleet.store("log", &["r1"]));
    let first = log.lines().nth(1).expect("newest line");
    assert!(
        first.contains("push") && first.contains("+1 route"),
        "{log}"
    );
    assert!(first.contains("by admin token"), "{log}");
    let diff = ok(&fleet.store("diff", &["r1"]));
    assert!(
        diff.contains("+[[route]]") && diff.contains("+1 route"),
        "{diff}"
    );
    assert!(
        !diff.contains('\x1b'),
        "colour without a terminal: {diff:?}"
    );

    // A file that does not validate: refused with its line and column, nothing written.
    let bad = fleet.file(
        "bad.toml",
        &format!("{V1}\n[[route]]\nto = \"10.0.0.0/33\"\n"),
    );
    let err = failed(&fleet.store("push", &["r1", &bad]));
    assert!(err.contains("bad.toml:9:"), "{err}");
    let history = fleet
        .runtime
        .block_on(c.history(&id("r1")))
        .expect("history");
    assert_eq!(history.len(), 2, "nothing written: {history:?}");

    // A stale base is a conflict naming the newer version.
    let current = history[0].version.clone();
    let err = failed(&fleet.store("push", &["r1", &file, "--base", &v1.0]));
    assert!(err.contains(&format!("now has version {current}")), "{err}");

    // Rollback: the old version becomes current again, the one it replaces stays.
    let rolled = ok(&fleet.store("rollback", &["r1", &v1.0]));
    assert!(rolled.contains("written"), "{rolled}");
    let now = fleet
        .runtime
        .block_on(c.get(&id("r1")))
        .expect("get")
        .expect("current");
    assert_eq!(now.text, V1);
    let log = ok(&fleet.store("log", &["r1"]));
    assert!(
        log.lines().nth(1).expect("newest").contains("rollback"),
        "{log}"
    );
    assert!(log.contains(&current.0[..12]), "old current kept: {log}");

    // Rolling back to a version that does not validate is refused before any write.
    fleet
        .runtime
        .block_on(c.archive(&id("r1"), "version = 2\n", "from a newer agent"))
        .expect("archive");
    let history = fleet
        .runtime
        .block_on(c.history(&id("r1")))
        .expect("history");
    let broken = history
        .iter()
        .find(|h| h.message.starts_with("from a newer agent"))
        .expect("archived");
    let err = failed(&fleet.store("rollback", &["r1", &broken.version.0]));
    assert!(
        err.contains("not rolled back") && err.contains("version 2"),
        "{err}"
    );
    assert_eq!(
        fleet
            .runtime
            .block_on(c.history(&id("r1")))
            .expect("history")
            .len(),
        history.len()
    );

    // show, and versions that try to leave the router's history.
    assert_eq!(ok(&fleet.store("show", &["r1"])), V1);
    for bad in ["..", "../r2", "%2e%2e"] {
        failed(&fleet.store("show", &["r1", bad]));
    }

    // ls: people and scripts.
    let ls = ok(&fleet.store("ls", &[]));
    assert!(ls.starts_with("ID") && ls.contains("\nr1 "), "{ls}");
    let rows: serde_json::Value =
        serde_json::from_slice(&fleet.store("ls", &["--json"]).stdout).expect("ls --json");
    assert_eq!(rows[0]["id"], "r1");
    assert_eq!(rows[0]["last_write"]["kind"], "rollback");
    assert_eq!(
        rows[0]["health"], "stale",
        "a record from 2023 is long stale"
    );
}

#[test]
fn tokens_guard_every_write_and_edit_reopens_until_valid() {
    let fleet = Fleet::start();
    let c = fleet.client();
    fleet
        .runtime
        .block_on(c.put(&id("r2"), V1, &Expect::Absent, "seed"))
        .expect("seed");
    let file = fleet.file("r2.toml", &format!("{V1}{ROUTE}"));
    let wrong = fleet.file("wrong.token", "guess\n");
    let r1_token = fleet.own.clone();
    for token in [Path::new(&wrong), r1_token.as_path()] {
        for (verb, args) in [
            ("push", vec!["r2", file.as_str()]),
            (
                "rollback",
                vec!["r2", "0000000000000000000000000000000000000000"],
            ),
        ] {
            let err = failed(&fleet.store_with(verb, &args, token, &[], ""));
            assert!(err.contains("refused the credentials"), "{verb}: {err}");
        }
    }
    // Without a token file at all.
    let err = failed(&agent(&["store", "push", &fleet.url, "r2", &file], &[], ""));
    assert!(err.contains("refused the credentials"), "{err}");

    // edit: an invalid edit is shown, opened again, and the fixed one written.
    let editor = fleet.file(
        "editor.sh",
        "#!/bin/sh\nn=$(cat \"$0.n\" 2>/dev/null || echo 0); echo $((n+1)) > \"$0.n\"\n\
         if [ \"$n\" = 0 ]; then printf '[[route]]\\nto = \"10.0.0.0/33\"\\ntype = \"blackhole\"\\n' >> \"$1\";\n\
         else sed -i 's#/33#/16#' \"$1\"; fi\n",
    );
    let editor_cmd = format!("sh {editor}");
    let out = fleet.store_with(
        "edit",
        &["r2"],
        &fleet.admin,
        &[("EDITOR", editor_cmd.as_str()), ("VISUAL", "")],
        "y\n",
    );
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("r2@edit:8:6: \"10.0.0.0/33\" is not a prefix")
            && stderr.contains("Edit again?"),
        "{stderr}"
    );
    assert!(stdout.contains("written"), "{stdout}");
    let now = fleet
        .runtime
        .block_on(c.get(&id("r2")))
        .expect("get")
        .expect("current");
    assert!(now.text.contains("10.0.0.0/16"), "{}", now.text);
    let history = fleet
        .runtime
        .block_on(c.history(&id("r2")))
        .expect("history");
    assert_eq!(
        history[0].note().kind,
        Some(router_store_client::WriteKind::Edit)
    );

    // "n" keeps the edit in its file and writes nothing.
    std::fs::write(format!("{editor}.n"), "0").expect("reset");
    let out = fleet.store_with(
        "edit",
        &["r2"],
        &fleet.admin,
        &[("EDITOR", editor_cmd.as_str()), ("VISUAL", "")],
        "n\n",
    );
    let err = failed(&out);
    let kept = err
        .split("the edit is kept in ")
        .nth(1)
        .map(str::trim)
        .unwrap_or_else(|| panic!("no kept file in {err}"));
    assert!(
        std::fs::read_to_string(kept).is_ok_and(|t| t.contains("/33")),
        "{kept}"
    );
    std::fs::remove_file(kept).expect("remove the kept edit");
    assert_eq!(
        fleet
            .runtime
            .block_on(c.history(&id("r2")))
            .expect("history")
            .len(),
        history.len()
    );
}

#[test]
fn a_file_store_lists_broken_and_stale_routers_without_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = FileStore::new(dir.path()).expect("file store");
    runtime.block_on(async {
        store
            .put(&id("r1"), V1, &Expect::Absent, "seed")
            .await
            .expect("r1");
        let fresh = router_store_client::StatusReport::parse(&contract::status_record(0))
            .map(|mut r| {
                r.unix_time = router_store_client::status::unix_now();
                r.to_bytes()
            })
            .expect("record");
        store.put_status(&id("r1"), &fresh).await.expect("status");
        // r2: a config that no longer validates and a garbled status record.
        store
            .put(&id("r2"), "version = 7\n", &Expect::Absent, "x")
            .await
            .expect("r2");
        store
            .put_status(&id("r2"), b"{\"agent_version\":")
            .await
            .expect("garbage");
        // r3: silent for longer than 3 heartbeats.
        store
            .put_status(&id("r3"), &contract::status_record(0))
            .await
            .expect("old record");
    });
    let out = agent(&["store", "ls", &url], &[], "");
    let ls = ok(&out);
    let line = |id: &str| {
        ls.lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no {id} in {ls}"))
            .to_owned()
    };
    assert!(line("r1").contains(" ok "), "{ls}");
    assert!(line("r2").contains("BROKEN"), "{ls}");
    assert!(line("r3").contains("STALE"), "{ls}");
    assert!(
        ls.contains("r2: current config 1 does not validate"),
        "{ls}"
    );
    assert!(ls.contains("r2: status record is not valid"), "{ls}");

    // Local pushes too; a tftp:// store refuses writes up front.
    let file = dir.path().join("r4.toml");
    std::fs::write(&file, V1).expect("file");
    let file = file.display().to_string();
    let pushed = ok(&agent(&["store", "push", &url, "r4", &file], &[], ""));
    assert!(pushed.contains("r4: version 1 written"), "{pushed}");
    let err = failed(&agent(
        &["store", "push", "tftp://127.0.0.1:9/x", "r4", &file],
        &[],
        "",
    ));
    assert!(err.contains("read-only"), "{err}");
}
