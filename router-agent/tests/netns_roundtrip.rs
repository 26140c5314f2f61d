//! The round trip over many generated states: build a state by hand with `ip` in namespace
//! A, `show` it, `apply` it in namespace B, and compare `ip -j` of both. Then move B to a
//! second generated state, which exercises the planner on arbitrary transitions.

mod support;

use proptest::prelude::*;
use support::{assert_settles, stderr, stdout, Netns};

#[derive(Debug, Clone)]
struct LinkSpec {
    up: bool,
    mtu: Option<u32>,
    alias: bool,
    v6: bool,
    extra_addr: bool,
}

#[derive(Debug, Clone)]
enum RouteSpec {
    Via {
        link: usize,
        dst: u8,
        host: u8,
        table: u8,
        metric: Option<u32>,
    },
    Dev {
        link: usize,
        dst: u8,
        table: u8,
    },
    Special {
        kind: &'static str,
        dst: u8,
        table: u8,
        metric: Option<u32>,
    },
    Multipath {
        dst: u8,
        weights: (u8, u8),
    },
    V6 {
        link: usize,
        dst: u8,
    },
}

#[derive(Debug, Clone)]
struct RuleSpec {
    from: u8,
    table: u8,
    fwmark: Option<u8>,
    action: &'static str,
}

#[derive(Debug, Clone)]
struct Scenario {
    links: Vec<LinkSpec>,
    bridge_ports: Option<Vec<bool>>,
    macvlan: bool,
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
}

fn link_spec() -> impl Strategy<Value = LinkSpec> {
    (
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![1280u32, 1400, 9000])),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(up, mtu, alias, v6, extra_addr)| LinkSpec {
            up,
            mtu,
            alias,
            v6,
            extra_addr,
        })
}

fn table() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![0u8, 100, 200])
}

fn route_spec(nlinks: usize) -> impl Strategy<Value = RouteSpec> {
    prop_oneof![
        (
            0..nlinks,
            0u8..50,
            2u8..250,
            table(),
            prop::option::of(prop::sample::select(vec![10u32, 100]))
        )
            .prop_map(|(link, dst, host, table, metric)| RouteSpec::Via {
                link,
                dst,
                host,
                table,
                metric
            }),
        (0..nlinks, 50u8..100, table()).prop_map(|(link, dst, table)| RouteSpec::Dev {
            link,
            dst,
            table
        }),
        (
            prop::sample::select(vec!["blackhole", "unreachable", "prohibit", "throw"]),
            100u8..150,
            table(),
            prop::option::of(Just(5u32))
        )
            .prop_map(|(kind, dst, table, metric)| RouteSpec::Special {
                kind,
                dst,
                table,
                metric
            }),
        (150u8..200, (1u8..4, 1u8..4))
            .prop_map(|(dst, weights)| RouteSpec::Multipath { dst, weights }),
        (0..nlinks, 0u8..200).prop_map(|(link, dst)| RouteSpec::V6 { link, dst }),
    ]
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        0u8..50,
        prop::sample::select(vec![100u8, 200]),
        prop::option::of(1u8..20),
        prop::sample::select(vec!["lookup", "lookup", "blackhole"]),
    )
        .prop_map(|(from, table, fwmark, action)| RuleSpec {
            from,
            table,
            fwmark,
            action,
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    prop::collection::vec(link_spec(), 1..=3).prop_flat_map(|links| {
        let n = links.len();
        (
            Just(links),
            prop::option::of(prop::collection::vec(any::<bool>(), n)),
            any::<bool>(),
            prop::collection::vec(route_spec(n), 0..8),
            prop::collection::vec(rule_spec(), 0..3),
        )
            .prop_map(|(links, bridge_ports, macvlan, routes, rules)| Scenario {
                links,
                bridge_ports,
                macvlan,
                routes,
                rules,
            })
    })
}

fn table_arg(t: u8) -> String {
    if t == 0 {
        String::new()
    } else {
        format!(" table {t}")
    }
}

/// The `ip` commands that build the scenario. Routes whose destination repeats are skipped
/// (the kernel would refuse the second), as are gateways on links that are down.
fn commands(s: &Scenario) -> Vec<String> {
    let mut c = Vec::new();
    for (i, l) in s.links.iter().enumerate() {
        c.push(format!("link add a{i} type veth peer name b{i}"));
        if let Some(m) = l.mtu {
            c.push(format!("link set a{i} mtu {m}"));
        }
        if l.alias {
            c.push(format!("link set a{i} alias link-{i}"));
        }
        c.push(format!("addr add 10.{i}.0.1/24 dev a{i}"));
        if l.v6 {
            c.push(format!("addr add 2001:db8:{i}::1/64 dev a{i}"));
        }
        if l.extra_addr {
            c.push(format!("addr add 10.{}.0.1/16 dev a{i}", 100 + i));
        }
        if l.up {
            c.push(format!("link set a{i} up"));
            c.push(format!("link set b{i} up"));
        }
    }
    if let Some(ports) = &s.bridge_ports {
        c.push("link add br0 type bridge".into());
        for (i, p) in ports.iter().enumerate() {
            if *p {
                c.push(format!("link set b{i} master br0"));
            }
        }
        c.push("addr add 10.200.0.1/24 dev br0".into());
        c.push("link set br0 up".into());
    }
    if s.macvlan {
        c.push("link add mv0 link a0 type macvlan mode private".into());
        c.push("link set mv0 up".into());
    }
    let mut used = std::collections::HashSet::new();
    let up = |i: usize| s.links[i].up;
    for r in &s.routes {
        let usable = match r {
            RouteSpec::Via { link, .. } | RouteSpec::Dev { link, .. } => up(*link),
            RouteSpec::V6 { link, .. } => up(*link) && s.links[*link].v6,
            RouteSpec::Multipath { .. } => up(0) && up(s.links.len() - 1),
            RouteSpec::Special { .. } => true,
        };
        if !usable {
            continue;
        }
        let (key, line) = match r {
            RouteSpec::Via { link, dst, host, table, metric } => (
                (format!("172.16.{dst}.0/24"), *table, metric.unwrap_or(0)),
                format!(
                    "route add 172.16.{dst}.0/24 via 10.{link}.0.{host}{}{}",
                    table_arg(*table),
                    metric.map_or(String::new(), |m| format!(" metric {m}"))
                ),
            ),
            RouteSpec::Dev { link, dst, table } => (
                (format!("172.16.{dst}.0/24"), *table, 0),
                format!("route add 172.16.{dst}.0/24 dev a{link}{}", table_arg(*table)),
            ),
            RouteSpec::Special { kind, dst, table, metric } => (
                (format!("172.16.{dst}.0/24"), *table, metric.unwrap_or(0)),
                format!(
                    "route add {kind} 172.16.{dst}.0/24{}{}",
                    table_arg(*table),
                    metric.map_or(String::new(), |m| format!(" metric {m}"))
                ),
            ),
            RouteSpec::Multipath { dst, weights } => (
                (format!("172.16.{dst}.0/24"), 0, 0),
                format!(
                    "route add 172.16.{dst}.0/24 nexthop via 10.0.0.2 weight {} nexthop via 10.{}.0.3 weight {}",
                    weights.0,
                    s.links.len() - 1,
                    weights.1
                ),
            ),
            RouteSpec::V6 { link, dst } => (
                (format!("2001:db8:100:{dst}::/64"), 0, 1024),
                format!("route add 2001:db8:100:{dst}::/64 via 2001:db8:{link}::2"),
            ),
        };
        if used.insert(key) {
            c.push(line);
        }
    }
    for (i, r) in s.rules.iter().enumerate() {
        let mut line = format!("rule add from 10.{}.0.0/16 prio {}", r.from, 100 + i);
        if let Some(m) = r.fwmark {
            line.push_str(&format!(" fwmark {m}/0xff"));
        }
        if r.action == "lookup" {
            line.push_str(&format!(" table {}", r.table));
        } else {
            line.push_str(&format!(" {}", r.action));
        }
        c.push(line);
    }
    c
}

fn build(ns: &Netns, s: &Scenario) {
    for line in commands(s) {
        ns.sh(&line);
    }
}

fn show_to_file(ns: &Netns) -> String {
    let out = ns.agent("show", None);
    assert!(out.status.success(), "show: {}", stderr(&out));
    let path = std::env::temp_dir().join(format!("{}.toml", ns.name));
    std::fs::write(&path, stdout(&out)).expect("write the shown config");
    path.to_string_lossy().into_owned()
}

fn apply(ns: &Netns, file: &str) {
    let out = ns.agent("apply", Some(file));
    assert!(
        out.status.success(),
        "apply failed:\n{}\n{}\nconfig:\n{}",
        stderr(&out),
        stdout(&out),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_and_transition(first in scenario(), second in scenario()) {
        let a = Netns::new("pa");
        let b = Netns::new("pb");
        let c = Netns::new("pc");
        build(&a, &first);
        build(&c, &second);

        let file_a = show_to_file(&a);
        apply(&b, &file_a);
        // IPv6 link-local addresses (and their kernel routes) are compared only in the fixed
        // round trip of netns_apply.rs: here bridges without running ports make them depend
        // on the order links were created and brought up in (see without_link_local).
        assert_settles(
            || support::without_link_local(a.snapshot()),
            || support::without_link_local(b.snapshot()),
            "show in A, apply in fresh B",
        );

        let file_c = show_to_file(&c);
        apply(&b, &file_c);
        assert_settles(
            || support::without_link_local(c.snapshot()),
            || support::without_link_local(b.snapshot()),
            "B moved to C's config",
        );
        let again = b.agent("plan", Some(&file_c));
        prop_assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
    }
}
