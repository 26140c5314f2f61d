//! Network namespaces for integration tests, and `ip -j` as the independent witness.
#![allow(dead_code)]

pub mod bird;
pub mod rtr;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// Fails loudly rather than skipping: these tests need root for namespaces.
pub fn require_root() {
    assert!(
        rustix::process::getuid().is_root(),
        "namespace tests need root (CI runs them as root); run `sudo cargo test`"
    );
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("ra-{tag}-{}-{n}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    /// `ip -n NAME` with a whole command line.
    pub fn sh(&self, line: &str) {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.ip(&args);
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["-n", &self.name, "-j"];
        full.extend_from_slice(args);
        let out = run("ip", &full);
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            return Value::Array(Vec::new());
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("ip {full:?}: {e}: {text}"))
    }

    /// The namespace's state as `ip -j` reports it, normalised (see [`normalise`]).
    pub fn snapshot(&self) -> Value {
        let mut links = self.json(&["-d", "link", "show"]);
        let mut addrs = self.json(&["addr", "show"]);
        let mut routes = Vec::new();
        for fam in ["-4", "-6"] {
            routes.push(self.json(&[fam, "-d", "route", "show", "table", "all"]));
        }
        let mut rules = Vec::new();
        for fam in ["-4", "-6"] {
            rules.push(self.json(&[fam, "-d", "rule", "show"]));
        }
        normalise_links(&mut links);
        normalise_addrs(&mut addrs);
        let mut routes = Value::Array(routes);
        let mut rules = Value::Array(rules);
        normalise_protocols(&mut routes);
        normalise_protocols(&mut rules);
        strip_routes(&mut routes);
        serde_json::json!({ "links": links, "addresses": addrs, "routes": routes, "rules": rules })
    }

    /// `nft LINE` inside the namespace, which must succeed; its stdout.
    pub fn nft(&self, line: &str) -> String {
        let mut args = vec!["netns", "exec", &self.name, "nft"];
        args.extend(line.split_whitespace());
        stdout(&run("ip", &args))
    }

    /// `nft -s -j list ruleset` without handles: what two namespaces must agree on.
    pub fn ruleset(&self) -> Value {
        fn strip(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    m.remove("handle");
                    m.remove("metainfo");
                    m.values_mut().for_each(strip);
                }
                Value::Array(a) => {
                    a.retain(|x| x.get("metainfo").is_none());
                    a.iter_mut().for_each(strip);
                }
                _ => {}
            }
        }
        let mut v: Value = serde_json::from_str(&self.nft("-s -j list ruleset")).expect("nft JSON");
        strip(&mut v);
        v
    }

    /// Runs `f` on a thread inside the namespace (a thread: entering moves only it).
    pub fn inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let name = self.name.clone();
        std::thread::spawn(move || {
            router_agent::kernel::netns::enter(&name).expect("enter the namespace");
            f()
        })
        .join()
        .expect("thread inside the namespace")
    }

    /// Runs `router-agent ARGS --netns NAME` (the namespace goes last, after the subcommand).
    pub fn agent(&self, sub: &str, file: Option<&str>) -> Output {
        let mut args = vec![sub, "--netns", &self.name];
        args.extend(file);
        agent(&args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

pub fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_router-agent"))
        .args(args)
        .output()
        .expect("run router-agent")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Keeps what the config describes and drops what changes by itself (counters, indices,
/// timers, operational state).
fn normalise_links(v: &mut Value) {
    let keep = [
        "ifname",
        "flags",
        "mtu",
        "address",
        "master",
        "ifalias",
        "linkinfo",
        "link_type",
        "broadcast",
    ];
    let names = ifindex_names(v);
    if let Value::Array(list) = v {
        for l in list.iter_mut() {
            // Where a link is stacked (`link`) is kept by name: indices differ per namespace.
            let parent = l.get("link").cloned().or_else(|| {
                l.get("link_index")
                    .and_then(Value::as_u64)
                    .and_then(|i| names.get(&i).cloned())
                    .map(Value::String)
            });
            if let Value::Object(m) = l {
                m.retain(|k, _| keep.contains(&k.as_str()));
                if let Some(p) = parent {
                    m.insert("link".into(), p);
                }
                if let Some(Value::Array(flags)) = m.get_mut("flags") {
                    // LOWER_UP follows the carrier, which follows the peer: not config.
                    flags.retain(|f| f == "UP" || f == "LOOPBACK" || f == "NOARP");
                }
                if let Some(Value::Object(info)) = m.get_mut("linkinfo") {
                    info.retain(|k, _| {
                        k == "info_kind" || k == "info_data" || k == "info_slave_kind"
                    });
                    if let Some(Value::Object(data)) = info.get_mut("info_data") {
                        let keep_data = [
                            "protocol",
                            "id",
                            "mode",
                            "table",
                            "stp_state",
                            "vlan_filtering",
                            "miimon",
                            "ad_lacp_rate",
                            "xmit_hash_policy",
                        ];
                        data.retain(|k, _| keep_data.contains(&k.as_str()));
                    }
                }
            }
        }
        list.sort_by_key(|l| l["ifname"].as_str().unwrap_or("").to_owned());
    }
}

fn ifindex_names(v: &Value) -> std::collections::HashMap<u64, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| Some((l["ifindex"].as_u64()?, l["ifname"].as_str()?.to_owned())))
        .collect()
}

fn normalise_addrs(v: &mut Value) {
    if let Value::Array(list) = v {
        let mut out = Vec::new();
        for l in list.iter() {
            let name = l["ifname"].clone();
            for a in l["addr_info"].as_array().into_iter().flatten() {
                let mut e = serde_json::Map::new();
                e.insert("ifname".into(), name.clone());
                for k in ["family", "local", "prefixlen", "scope"] {
                    e.insert(k.into(), a[k].clone());
                }
                out.push(Value::Object(e));
            }
        }
        out.sort_by_key(|e| e.to_string());
        *v = Value::Array(out);
    }
}

/// `ip route add` writes proto boot, the agent its own number: both mean "config".
fn normalise_protocols(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(normalise_protocols),
        Value::Object(m) => {
            if let Some(p) = m.get_mut("protocol") {
                if matches!(p.as_str(), Some("boot" | "static" | "196" | "unspec")) {
                    *p = Value::String("config".into());
                }
            }
            m.values_mut().for_each(normalise_protocols);
        }
        _ => {}
    }
}

fn strip_routes(v: &mut Value) {
    match v {
        Value::Array(a) => {
            a.iter_mut().for_each(strip_routes);
            a.sort_by_key(|e| e.to_string());
        }
        Value::Object(m) => {
            for k in ["expires", "cacheinfo", "pref"] {
                m.remove(k);
            }
            if let Some(Value::Array(flags)) = m.get_mut("flags") {
                flags.retain(|f| f != "linkdown");
            }
            m.values_mut().for_each(strip_routes);
        }
        _ => {}
    }
}

/// Watches a namespace with `ip monitor` while `f` runs; returns the events `f` caused.
/// Marker routes of a protocol the agent does not own, added before and after, bracket
/// them without sleeping.
pub fn monitor_during(ns: &Netns, f: impl FnOnce()) -> String {
    use std::io::BufRead;
    let mut child = Command::new("ip")
        .args([
            "-n", &ns.name, "monitor", "link", "address", "route", "rule",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ip monitor");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |marker: &str, seen: &mut Vec<String>| {
        for _ in 0..50 {
            // The monitor may not be listening yet: add the marker afresh until it shows up
            // (replacing an identical route would send no event).
            let _ = Command::new("ip")
                .args(["-n", &ns.name, "route", "del", marker, "table", "250"])
                .output();
            ns.ip(&[
                "route",
                "add",
                "unreachable",
                marker,
                "table",
                "250",
                "proto",
                "99",
            ]);
            while let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
                if line.contains(marker) && !line.starts_with("Deleted") {
                    return;
                }
                if !line.contains("table 250") {
                    seen.push(line);
                }
            }
        }
        panic!("ip monitor never reported marker route {marker}");
    };
    let mut before = Vec::new();
    wait_for("192.0.2.2", &mut before);
    f();
    let mut during = Vec::new();
    wait_for("192.0.2.3", &mut during);
    let _ = child.kill();
    let _ = child.wait();
    ns.ip(&["route", "flush", "table", "250"]);
    during.join("\n")
}

/// Asserts two snapshots are equal, printing only the entries that differ.
pub fn assert_same(a: &Value, b: &Value, what: &str) {
    fn flat(v: &Value, path: String, out: &mut Vec<String>) {
        match v {
            Value::Array(x) => x
                .iter()
                .enumerate()
                .for_each(|(i, e)| flat(e, format!("{path}[{i}]"), out)),
            Value::Object(m)
                if m.contains_key("ifname")
                    || m.contains_key("dst")
                    || m.contains_key("priority") =>
            {
                out.push(format!("{path}: {v}"));
            }
            Value::Object(m) => m
                .iter()
                .for_each(|(k, e)| flat(e, format!("{path}.{k}"), out)),
            _ => out.push(format!("{path}: {v}")),
        }
    }
    if a == b {
        return;
    }
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    flat(a, String::new(), &mut fa);
    flat(b, String::new(), &mut fb);
    let strip = |s: &String| {
        s.split_once(": ")
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default()
    };
    let sa: std::collections::BTreeSet<String> = fa.iter().map(strip).collect();
    let sb: std::collections::BTreeSet<String> = fb.iter().map(strip).collect();
    let only_a: Vec<_> = sa.difference(&sb).collect();
    let only_b: Vec<_> = sb.difference(&sa).collect();
    panic!("{what}: kernel states differ\nonly in the first:\n  {only_a:#?}\nonly in the second:\n  {only_b:#?}");
}

/// A snapshot without IPv6 link-local addresses and the kernel routes that follow them. The
/// kernel derives them from the MAC when a link first gets carrier and keeps them when the
/// MAC changes later; whether a bridge without ports has carrier depends on the order it was
/// created and brought up in. Not config either way.
pub fn without_link_local(mut v: Value) -> Value {
    if let Some(Value::Array(addrs)) = v.get_mut("addresses") {
        addrs.retain(|a| !(a["family"] == "inet6" && a["scope"] == "link"));
    }
    if let Some(Value::Array(fams)) = v.get_mut("routes") {
        for fam in fams {
            if let Value::Array(routes) = fam {
                routes.retain(|r| {
                    let dst = r["dst"].as_str().unwrap_or("");
                    !(r["protocol"] == "kernel" && (dst.starts_with("fe80:") || dst == "ff00::/8"))
                });
            }
        }
    }
    v
}

/// Like [`assert_same`], but gives the kernel up to five seconds to settle first: carrier
/// changes reach IPv6 autoconfiguration through linkwatch, which delays them by up to a
/// second, so link-local addresses and their routes appear after `apply` returns.
pub fn assert_settles(a: impl Fn() -> Value, b: impl Fn() -> Value, what: &str) {
    for _ in 0..50 {
        if a() == b() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_same(&a(), &b(), what);
}
