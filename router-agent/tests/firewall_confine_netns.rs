//! Raw nftables text stays inside its table (issue 15, findings 1 and 2): a `;`, a `}` or
//! text after a kept table never reaches `nft` as commands of its own, `include` never
//! reads a file, and `check` runs nft in a scratch namespace, not against the host's
//! ruleset. Each case in its own namespace, holding another tool's table `ip victim`.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{stderr, stdout, Netns};

fn write(ns: &Netns, tag: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}-{tag}.toml", ns.name));
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

/// A namespace with another tool's table, which no config of the agent's may touch.
fn with_victim(tag: &str) -> Netns {
    let ns = Netns::new(tag);
    ns.nft("add table ip victim");
    ns.nft("add chain ip victim c { type filter hook input priority 10 ; }");
    ns
}

fn rule(raw: &str) -> String {
    format!("version = 1\n\n[firewall]\n\n[[firewall.rule]]\nchain = \"input\"\nraw = '{raw}'\n")
}

/// `router-agent check FILE` run inside the namespace (check takes no `--netns`).
fn check_in(ns: &Netns, file: &str) -> std::process::Output {
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            env!("CARGO_BIN_EXE_router-agent"),
            "check",
            file,
        ])
        .output()
        .expect("run router-agent check")
}

/// `check` and `apply` both refuse `config` with `expect` at a line of the file, and the
/// namespace's tables are as they were: the victim is there, no table `ip evil`.
#[track_caller]
fn refused_and_confined(ns: &Netns, config: &str, expect: &str) {
    let file = write(ns, "cfg", config);
    let before = ns.nft("list tables");
    let check = check_in(ns, &file);
    let apply = ns.agent("apply", Some(&file));
    let after = ns.nft("list tables");
    assert!(
        after.contains("table ip victim"),
        "another tool's table is gone: {after}"
    );
    assert!(
        !after.contains("table ip evil"),
        "a table of the raw text's appeared: {after}"
    );
    assert_eq!(before, after, "the tables changed");
    for (what, out) in [("check", &check), ("apply", &apply)] {
        let err = stderr(out);
        assert!(
            !out.status.success(),
            "{what} passed:\n{}{err}",
            stdout(out)
        );
        assert!(
            err.contains(expect),
            "{what}: expected {expect:?} in:\n{err}"
        );
        assert!(
            err.contains(&format!("{file}:")),
            "{what} names no line: {err}"
        );
    }
}

#[test]
fn a_semicolon_in_a_raw_rule_cannot_add_a_table() {
    let ns = with_victim("fwc-add");
    let raw = "counter; add table ip evil; add chain ip evil c { type filter hook input priority -500; policy drop; }";
    refused_and_confined(&ns, &rule(raw), "firewall.rule[0].raw");
}

#[test]
fn a_semicolon_in_a_raw_rule_cannot_delete_another_table() {
    let ns = with_victim("fwc-del");
    refused_and_confined(
        &ns,
        &rule("counter; delete table ip victim"),
        "`;` ends the rule",
    );
}

#[test]
fn a_semicolon_in_a_raw_rule_cannot_flush_the_ruleset() {
    let ns = with_victim("fwc-flush");
    refused_and_confined(&ns, &rule("counter; flush ruleset"), "`;` ends the rule");
}

#[test]
fn a_brace_in_firewall_raw_cannot_close_the_agents_table() {
    let ns = with_victim("fwc-brace");
    let config = "version = 1\n\n[firewall]\nraw = \"\"\"\n}\ndelete table ip victim\nadd table ip evil\ntable inet router_agent {\n\"\"\"\n";
    refused_and_confined(&ns, config, "close the agent's table");
}

#[test]
fn text_after_a_kept_table_is_not_a_command() {
    let ns = with_victim("fwc-kept");
    let config = "version = 1\n\n[firewall]\n\n[[firewall.table]]\nfamily = \"inet\"\nname = \"keepme\"\nruleset = \"\"\"\ntable inet keepme {\n}\ndelete table ip victim\nadd table ip evil\n\"\"\"\n";
    refused_and_confined(&ns, config, "firewall.table[0].ruleset");
}

/// A file only root may read, that `include` would make nft quote line by line.
fn secret(ns: &Netns) -> (String, &'static str) {
    let word = "SECRETHASH4711";
    let path = std::env::temp_dir().join(format!("{}-shadow", ns.name));
    std::fs::write(&path, format!("root:$6${word}:19000:0:99999:7:::\n")).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (path.to_string_lossy().into_owned(), word)
}

#[test]
fn include_never_reads_a_file() {
    let ns = with_victim("fwc-incl");
    let (path, word) = secret(&ns);
    let configs = [
        format!("version = 1\n\n[firewall]\nraw = '''\ninclude \"{path}\"\n'''\n"),
        format!(
            "version = 1\n\n[firewall]\nraw = '''\nchain c {{\n\tinclude \"{path}\"\n}}\n'''\n"
        ),
        rule(&format!("counter; include \"{path}\"")),
    ];
    for (i, config) in configs.iter().enumerate() {
        let file = write(&ns, &format!("incl{i}"), config);
        for sub in ["check", "apply"] {
            let out = match sub {
                "check" => check_in(&ns, &file),
                _ => ns.agent(sub, Some(&file)),
            };
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!out.status.success(), "{sub} passed case {i}: {all}");
            assert!(!all.contains(word), "{sub} case {i} quoted the file: {all}");
            assert!(
                all.contains("include"),
                "{sub} case {i} says nothing of include: {all}"
            );
        }
    }
    assert!(ns.nft("list tables").contains("table ip victim"));
}

/// An `nft` first on PATH that notes the network namespace it runs in, then runs the real one.
fn spy_nft(ns: &Netns) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("{}-spy", ns.name));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let log = dir.join("netns.log");
    let real = support::run("sh", &["-c", "command -v nft"]);
    let real = stdout(&real).trim().to_owned();
    let script = format!(
        "#!/bin/sh\nreadlink /proc/self/ns/net >> '{}'\nexec '{real}' \"$@\"\n",
        log.display()
    );
    let spy = dir.join("nft");
    std::fs::write(&spy, script).expect("write spy");
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, log)
}

#[test]
fn check_runs_nft_in_a_scratch_namespace() {
    let ns = with_victim("fwc-scratch");
    let (dir, log) = spy_nft(&ns);
    let file = write(&ns, "cfg", &rule("tcp dport 22 counter accept"));
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_router-agent"))
        .args(["check", &file])
        .env("PATH", path)
        .output()
        .expect("run router-agent");
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = std::fs::read_to_string(&log).expect("the spy ran");
    let mine = std::fs::read_link("/proc/self/ns/net").expect("own namespace");
    assert!(!seen.trim().is_empty(), "nft never ran");
    for l in seen.lines() {
        assert_ne!(
            l,
            mine.to_string_lossy(),
            "check ran nft in the caller's namespace"
        );
    }
}

/// Without root, `check` gives nft a user namespace of its own as well (as `unshare -rn`),
/// so nft still checks the text: a typo is found, a good rule passes.
#[test]
fn check_needs_no_root_for_its_scratch_namespace() {
    let ns = Netns::new("fwc-user");
    // A copy nobody can run wherever the build directory is (CI's may be under /root).
    let agent = std::env::temp_dir().join(format!("{}-agent", ns.name));
    std::fs::copy(env!("CARGO_BIN_EXE_router-agent"), &agent).expect("copy the agent");
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let as_nobody = |file: &str| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&agent)
            .args(["check", file])
            .output()
            .expect("run setpriv")
    };
    let good = write(&ns, "good", &rule("tcp dport 22 counter accept"));
    let out = as_nobody(&good);
    assert!(out.status.success(), "{}", stderr(&out));
    let bad = write(&ns, "bad", &rule("tcp dport 22 acept"));
    let out = as_nobody(&bad);
    let err = stderr(&out);
    assert!(!out.status.success(), "a typo passed");
    assert!(
        err.contains("nft rejects this") && err.contains("firewall.rule[0].raw"),
        "{err}"
    );
    let _ = std::fs::remove_file(&agent);
}
