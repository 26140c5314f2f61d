//! What once panicked inside an apply, after the nft transaction had committed, now fails
//! its step and puts the firewall and the links back, in a real namespace (issue 15,
//! finding 3). A panic itself (there must be none) is tested with the fake kernel's fault
//! hook: reconcile and router tests.

mod support;

use router_agent::kernel::LinuxKernel;
use router_agent::reconcile::Kernel;
use router_agent::router::apply_both;
use router_agent::{firewall::NftBackend, model};
use support::Netns;

const CONFIG: &str = r#"version = 1

[[interface]]
name = "v0"
kind = "veth"
veth = { peer = "v1" }
addresses = ["10.0.0.1/24"]

[[interface]]
name = "v1"
kind = "veth"
veth = { peer = "v0" }

[[interface]]
name = "br0"
kind = "bridge"
addresses = ["10.6.0.1/24"]

[[route]]
to = "10.1.0.0/16"
via = "10.0.0.2"

[firewall]
input = "drop"
"#;

#[test]
fn an_alias_past_check_fails_its_step_and_puts_the_firewall_and_the_links_back() {
    let ns = Netns::new("panic");
    for line in [
        "link add v0 type veth peer name v1",
        "link set v0 up",
        "link set v1 up",
        "addr add 10.0.0.1/24 dev v0",
    ] {
        ns.sh(line);
    }
    let links_before = ns.snapshot();
    let firewall_before = ns.ruleset();
    let error = ns.inside(|| {
        let config = model::load("panic.toml", CONFIG).expect("valid");
        let mut state = config.state.clone();
        // What check refuses now, put past it: an alias longer than netlink's u16 attribute
        // length made netlink-packet-route panic after the nft transaction had committed
        // (and the panic took the agent down, firewall left at drop). The encoder refuses
        // it now; were there a panic, apply_both would put everything back all the same.
        let br0: model::IfName = "br0".parse().expect("name");
        state.links.get_mut(&br0).expect("br0").description = Some("d".repeat(70_000));
        let mut kernel = LinuxKernel::open(false).expect("netlink");
        let current = kernel.read(&[]).expect("read");
        let mut nft = NftBackend::default();
        let result = apply_both(
            &mut kernel,
            &mut nft,
            &state,
            config.firewall.as_ref(),
            current,
            std::time::Duration::ZERO,
            |_| {},
        );
        let e = result.expect_err("the alias cannot be set");
        router_agent::store::error_chain(&e)
    });
    assert!(error.contains("the firewall was put back"), "{error}");
    assert!(error.contains("at most 255"), "{error}");
    assert!(error.contains("the kernel is as it was before"), "{error}");
    assert_eq!(ns.ruleset(), firewall_before, "the firewall stayed");
    assert_eq!(ns.snapshot(), links_before, "the links were not put back");
}
