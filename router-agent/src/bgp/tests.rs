use super::*;
use crate::model;

pub(crate) fn sample() -> Bgp {
    let text = r#"
version = 1
[bgp]
asn = 64500
router_id = "192.0.2.1"
route_server = true
[bgp.blackhole]
next_hop_v4 = "192.0.2.66"
[bgp.rpki]
roa = [{ prefix = "185.1.0.0/16", max_length = 24, asn = 10001 }]
[bgp.policy.strict]
rpki = "reject-invalid"
blackhole = true
max_as_path = 16
[[bgp.peer]]
name = "a"
address = "192.0.2.10"
asn = 10001
policy = "strict"
max_prefix_v4 = 100
allowed_prefixes = "185.1.0.0/16{16,24} 185.2.0.0/24"
allowed_origins = [10001, 10011]
[[bgp.peer]]
name = "b"
address = "2001:db8::20"
asn = 4200000001
description = "member B"
families = ["ipv4", "ipv6"]
[[bgp.announce]]
prefix = "185.9.0.0/24"
communities = ["64500:1"]
"#;
    model::load("sample.toml", text)
        .expect("the sample is valid")
        .bgp
        .expect("the sample has [bgp]")
}

fn errors(text: &str) -> String {
    match model::load("t.toml", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "version = 1\n[bgp]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n";

#[test]
fn bad_input_points_at_the_line() {
    let e = errors(&format!(
        "{HEAD}[[bgp.peer]]\nname = \"a\"\naddress = \"192.0.2.10\"\nasn = 23456\n"
    ));
    assert!(
        e.starts_with("t.toml:8:7:") && e.contains("AS_TRANS"),
        "{e}"
    );
    let e = errors(&format!(
        "{HEAD}[[bgp.peer]]\nname = \"a\"\naddress = \"192.0.2.300\"\nasn = 1\n"
    ));
    assert!(e.starts_with("t.toml:7:11:"), "{e}");
    let e = errors(&format!(
        "{HEAD}[[bgp.peer]]\nname = \"a\"\naddress = \"192.0.2.10\"\nasn = 10\npolicy = \"strict\"\n"
    ));
    assert!(
        e.contains("t.toml:9:10: bgp.peer[0].policy: unknown policy strict"),
        "{e}"
    );
    let e = errors(&format!(
        "{HEAD}[bgp.policy.x]\nrpki = \"reject-invalid\"\n"
    ));
    assert!(e.contains("neither roa entries nor rtr"), "{e}");
    let e = errors(&format!(
        "{HEAD}[[bgp.peer]]\nname = \"a\"\naddress = \"192.0.2.10\"\nasn = 10\nmultihop = 2\nttl_security = true\n"
    ));
    assert!(e.contains("bgp.peer[0].ttl_security"), "{e}");
    let e = errors(&format!("{HEAD}route_server = true\n[[bgp.peer]]\nname = \"a\"\naddress = \"192.0.2.10\"\nasn = 64500\n"));
    assert!(e.contains("route-server client must be another AS"), "{e}");
    let e = errors(&format!("{HEAD}colour = \"blue\"\n"));
    assert!(e.contains("unknown field `colour`"), "{e}");
}

#[test]
fn community_aliases_and_blackhole_lengths_are_checked() {
    let peer = |n: &str, i: u8, asn: &str, more: &str| {
        format!("[[bgp.peer]]\nname = \"{n}\"\naddress = \"192.0.2.{i}\"\nasn = {asn}\n{more}")
    };
    let e = errors(&format!(
        "{HEAD}{}",
        peer("a", 10, "10", "community_alias = 64601\n")
    ));
    assert!(
        e.contains("t.toml:9:19: bgp.peer[0].community_alias") && e.contains("fits standard"),
        "{e}"
    );
    let e = errors(&format!(
        "{HEAD}{}",
        peer("a", 10, "4200000001", "community_alias = 4200000001\n")
    ));
    assert!(e.contains("must fit 16 bits"), "{e}");
    let e = errors(&format!(
        "{HEAD}{}{}",
        peer("a", 10, "64601", ""),
        peer("b", 11, "4200000001", "community_alias = 64601\n")
    ));
    assert!(
        e.contains("bgp.peer[1].community_alias") && e.contains("already names AS64601"),
        "{e}"
    );
    // The same member's two sessions share its alias.
    let ok = format!(
        "{HEAD}{}{}",
        peer("a", 10, "4200000001", "community_alias = 64601\n"),
        peer("b", 11, "4200000001", "community_alias = 64601\n")
    );
    assert!(model::load("t.toml", &ok).is_ok());
    let e = errors(&format!(
        "{HEAD}{}{}",
        peer("a", 10, "4200000001", "community_alias = 64601\n"),
        peer("b", 11, "4200000001", "")
    ));
    assert!(
        e.contains("bgp.peer[1].community_alias") && e.contains("the same"),
        "{e}"
    );
    let e = errors(&format!(
        "{HEAD}[bgp.blackhole]\nnext_hop_v4 = \"192.0.2.66\"\n[bgp.policy.default]\nblackhole = true\nblackhole_min_length_v4 = 0\n"
    ));
    assert!(
        e.contains("t.toml:9:27: bgp.policy.default.blackhole_min_length_v4")
            && e.contains("default route"),
        "{e}"
    );
}

#[test]
fn apply_checks_writes_and_reconfigures() {
    let bgp = sample();
    let mut bird = FakeBird::running_with("old");
    let plan = BgpPlan::new(&mut bird, &bgp).expect("plan");
    assert!(plan.to_string().contains("+protocol bgp p_a {"));
    let r = apply(&mut bird, &plan, None).expect("apply");
    assert!(r.changed && r.reconfigured);
    assert_eq!(bird.loaded.as_deref(), Some(plan.after.as_str()));
    // The same config again: nothing written, BIRD not reconfigured.
    let again = BgpPlan::new(&mut bird, &bgp).expect("plan");
    assert!(again.is_empty() && again.to_string().is_empty());
    apply(&mut bird, &again, None).expect("apply");
    assert_eq!(bird.configures, 1);
}

#[test]
fn rejected_config_leaves_bird_untouched() {
    let mut bgp = sample();
    bgp.raw = Some("nonsense".into());
    let mut bird = FakeBird::running_with("old");
    bird.reject_containing = Some("nonsense".into());
    let plan = BgpPlan::new(&mut bird, &bgp).expect("plan");
    assert!(matches!(
        apply(&mut bird, &plan, None),
        Err(BgpError::Rejected { .. })
    ));
    assert_eq!(bird.conf.as_deref(), Some("old"));
    assert_eq!(bird.loaded.as_deref(), Some("old"));
}

#[test]
fn failed_reconfigure_puts_the_file_back() {
    let mut bird = FakeBird::running_with("old");
    bird.configure_fails = Some("boom".into());
    let plan = BgpPlan::new(&mut bird, &sample()).expect("plan");
    assert!(apply(&mut bird, &plan, None).is_err());
    assert_eq!(bird.conf.as_deref(), Some("old"));
    assert_eq!(bird.loaded.as_deref(), Some("old"));
}

/// BIRD's own undo of an unconfirmed [`apply`], and the file put back.
fn undo(bird: &mut dyn Bird, plan: &BgpPlan) -> Result<(), BgpError> {
    bird.undo()?;
    bird.write_conf(plan.before.as_deref())
}

#[test]
fn commit_confirm_undo_goes_back() {
    let mut bird = FakeBird::running_with("old");
    let plan = BgpPlan::new(&mut bird, &sample()).expect("plan");
    apply(&mut bird, &plan, Some(30)).expect("apply");
    undo(&mut bird, &plan).expect("undo");
    assert_eq!(bird.loaded.as_deref(), Some("old"));
    assert_eq!(bird.conf.as_deref(), Some("old"));
    apply(&mut bird, &plan, Some(30)).expect("apply");
    confirm(&mut bird).expect("confirm");
    assert!(bird.pending_undo.is_none());
}

#[test]
fn graceful_shutdown_is_announced_then_the_file_kept() {
    let bgp = sample();
    let text = render_file(&bgp);
    let mut bird = FakeBird::running_with(&text);
    assert!(announce_shutdown(&mut bird, &bgp).expect("announce"));
    assert!(bird
        .loaded
        .as_deref()
        .is_some_and(|l| l.contains("bgp_community.add((65535,0));")));
    assert_eq!(bird.conf.as_deref(), Some(text.as_str()));
}

#[test]
fn hand_edits_read_back() {
    let bgp = sample();
    let text = render_file(&bgp);
    let appended = format!("{text}protocol static mine {{ ipv4; }}\n");
    let Read::Agent(back) = parse_file("bird.conf", &appended).expect("reads") else {
        panic!("not the agent's");
    };
    assert_eq!(back.raw.as_deref(), Some("protocol static mine { ipv4; }"));
    let edited = text.replace("import limit 100", "import limit 200");
    let e = parse_file("bird.conf", &edited).expect_err("edit inside the body");
    assert!(e.to_string().contains("edited by hand"), "{e}");
    assert_eq!(
        parse_file("bird.conf", "router id 1.2.3.4;\n").expect("reads"),
        Read::Foreign
    );
}

/// Loads `text` with list files given by name (Err: why it could not be read).
fn load_with(text: &str, files: &[(&str, Result<&str, &str>)]) -> Result<Bgp, String> {
    let mut config = model::parse("t.toml", text).map_err(|e| e.to_string())?;
    for (name, body) in files {
        let body = body.map(str::to_owned).map_err(str::to_owned);
        config.set_file(name.parse().expect("file name"), body);
    }
    model::validate_text(config, "t.toml", text)
        .map(|v| v.bgp.expect("[bgp]"))
        .map_err(|e| e.to_string())
}

const FILES: &str = "version = 1
[bgp]
asn = 64500
router_id = \"192.0.2.1\"
route_server = true
[[bgp.peer]]
name = \"a\"
address = \"192.0.2.10\"
asn = 10001
allowed_prefixes_file = \"as10001.prefixes\"
allowed_origins_file = \"as10001.origins\"
";

#[test]
fn list_files_are_read_rendered_and_kept_as_references() {
    let bgp = load_with(
        FILES,
        &[
            (
                "as10001.prefixes",
                Ok("185.1.0.0/16 le 24\n185.2.0.0/24 # one\n"),
            ),
            ("as10001.origins", Ok("AS10001\n10011\n")),
        ],
    )
    .expect("valid");
    let body = conf::render(&bgp);
    assert!(
        body.contains("define allowed4_a = [ 185.1.0.0/16{16,24}, 185.2.0.0/24 ];"),
        "{body}"
    );
    assert!(body.contains("bgp_path.last ~ [ 10001, 10011 ]"), "{body}");
    // show / the snapshot: the references, not the lists.
    let shown = toml::to_string(&bgp.to_config()).expect("render");
    assert!(
        shown.contains("allowed_prefixes_file = \"as10001.prefixes\""),
        "{shown}"
    );
    assert!(!shown.contains("185.1.0.0"), "{shown}");
    // bird.conf carries the files, so reading it back gives the same model.
    let Read::Agent(back) = parse_file("bird.conf", &render_file(&bgp)).expect("reads") else {
        panic!("not the agent's");
    };
    assert_eq!(*back, bgp);
}

#[test]
fn list_file_errors_point_at_the_config_line_and_the_file_line() {
    let e = load_with(
        FILES,
        &[
            ("as10001.prefixes", Ok("185.1.0.0/16\n185.1.0.0/33\n")),
            (
                "as10001.origins",
                Err("cannot read /etc/x/as10001.origins: No such file"),
            ),
        ],
    )
    .expect_err("invalid");
    assert!(
        e.contains("t.toml:10:25: bgp.peer[0].allowed_prefixes_file: as10001.prefixes:2: \"185.1.0.0/33\" is not a prefix"),
        "{e}"
    );
    assert!(
        e.contains(
            "t.toml:11:24: bgp.peer[0].allowed_origins_file: cannot read /etc/x/as10001.origins"
        ),
        "{e}"
    );
    let e = load_with(FILES, &[]).expect_err("files not read");
    assert!(e.contains("as10001.prefixes was not read"), "{e}");
    let both = FILES.replace(
        "allowed_origins_file",
        "allowed_prefixes = \"185.1.0.0/16\"\nallowed_origins_file",
    );
    let e = load_with(
        &both,
        &[("as10001.prefixes", Ok("")), ("as10001.origins", Ok(""))],
    )
    .expect_err("both");
    assert!(e.contains("in the config or in a file, not both"), "{e}");
    let e = errors(&FILES.replace("as10001.prefixes", "../as10001.prefixes"));
    assert!(
        e.contains("t.toml:10:25") && e.contains("not a list file name"),
        "{e}"
    );
}
