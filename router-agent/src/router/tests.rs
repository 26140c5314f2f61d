//! [`apply_both`] against the in-memory kernel and nftables.

use super::*;
use crate::bgp::BgpError;
use crate::firewall::FakeBackend;
use crate::reconcile::FakeKernel;

const BEFORE: &str = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\naddresses = [\"192.0.2.1/24\"]\n";

fn desired() -> ValidConfig {
    let text = format!("{BEFORE}\n[[interface]]\nname = \"br0\"\nkind = \"bridge\"\naddresses = [\"198.51.100.1/24\"]\n\n[[route]]\nto = \"10.0.0.0/8\"\nvia = \"192.0.2.254\"\n\n[firewall]\ninput = \"drop\"\n");
    crate::model::load("desired", &text).expect("valid")
}

#[test]
fn a_panic_in_the_netlink_write_puts_the_firewall_and_the_links_back() {
    let before = crate::model::load("before", BEFORE).expect("valid").state;
    let config = desired();
    let n = crate::plan::diff(&config.state, &before)
        .expect("plans")
        .ops
        .len();
    for at in 0..n {
        let mut k = FakeKernel::new(before.clone());
        k.panic_at = Some(at);
        let mut nft = FakeBackend::default();
        let err = apply_both(
            &mut k,
            &mut nft,
            &config.state,
            config.firewall.as_ref(),
            before.clone(),
            std::time::Duration::ZERO,
            |_| {},
        )
        .expect_err("panicked");
        assert!(err.to_string().contains("firewall was put back"), "{err}");
        let chain = std::error::Error::source(&err).map(|e| e.to_string());
        assert!(
            chain
                .as_deref()
                .is_some_and(|c| c.contains("injected panic")
                    && c.contains("the kernel is as it was before")),
            "{chain:?}"
        );
        assert_eq!(k.state, before, "a panic at op {at} left the links changed");
        assert_eq!(nft.current, Default::default(), "the firewall stayed");
        assert_eq!(nft.runs, 2, "applied, then put back");
    }
}

fn io() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (os error 2)")
}

/// The one line the CLI, the console and the daemon's status show for an error.
#[test]
fn an_error_chain_says_each_cause_once() {
    let errors = [
        RouterError::Bgp(BgpError::Spawn {
            program: "bird".into(),
            error: io(),
        }),
        RouterError::Bgp(BgpError::Io {
            path: "/etc/bird/bird.conf".into(),
            error: io(),
        }),
        RouterError::Firewall(FirewallError::Spawn(io())),
    ];
    for e in errors {
        let text = crate::store::error_chain(&e);
        assert_eq!(text.matches("no such file").count(), 1, "{text}");
        assert_eq!(text.matches(&e.to_string()).count(), 1, "{text}");
    }
}
