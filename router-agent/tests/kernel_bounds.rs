//! What the kernel would refuse (or take and then not give back) is refused by `check`,
//! at its line and column: attribute sizes, name rules, values with line breaks (issue 15).

use router_agent::model;

#[path = "support/load_errors.rs"]
mod load_errors;
use load_errors::check;

fn interface(name: &str, more: &str) -> String {
    format!("version = 1\n\n[[interface]]\nname = \"{name}\"\nkind = \"bridge\"\n{more}")
}

#[test]
fn description_of_255_bytes_is_taken() {
    let text = interface("br0", &format!("description = \"{}\"\n", "d".repeat(255)));
    model::load("x.toml", &text).expect("255 bytes fit IFALIASZ");
}

#[test]
fn description_over_255_bytes_is_refused() {
    let text = interface("br0", &format!("description = \"{}\"\n", "d".repeat(256)));
    check(&text, "6:15", &["256 bytes", "at most 255"]);
}

#[test]
fn description_over_64k_is_refused() {
    // Once a panic inside netlink-packet-route after the firewall was committed.
    let text = interface(
        "br0",
        &format!("description = \"{}\"\n", "d".repeat(70_000)),
    );
    check(&text, "6:15", &["70000 bytes", "at most 255"]);
}

#[test]
fn description_with_nul_is_refused() {
    let text = interface("br0", "description = \"up\\u0000link\"\n");
    check(&text, "6:15", &["NUL"]);
}

#[test]
fn names_the_kernel_reserves_are_refused() {
    for name in ["all", "default"] {
        check(
            &interface(name, ""),
            "4:8",
            &[&format!("{name:?}"), "reserved"],
        );
    }
}

#[test]
fn long_or_odd_names_are_refused() {
    check(
        &interface("abcdefghijklmnop", ""),
        "4:8",
        &["1 to 15 bytes"],
    );
    check(&interface("a/b", ""), "4:8", &["'/'"]);
    check(&interface("a b", ""), "4:8", &["' '"]);
    check(&interface("..", ""), "4:8", &["not a valid interface name"]);
}

#[test]
fn sysctl_value_with_newline_is_refused() {
    let text = "version = 1\n\n[sysctl.other]\n\"net.ipv4.tcp_syncookies\" = \"1\\n0\"\n";
    check(text, "4:29", &["line break", "net.ipv4.tcp_syncookies"]);
}

#[test]
fn sysctl_value_with_nul_is_refused() {
    let text = "version = 1\n\n[sysctl.other]\n\"net.ipv4.tcp_syncookies\" = \"1\\u0000\"\n";
    check(text, "4:29", &["NUL"]);
}

#[test]
fn octal_looking_address_is_refused() {
    let text =
        "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\naddresses = [\"010.008.000.001/24\"]\n";
    check(text, "6:14", &["leading zero", "octal", "10.8.0.1/24"]);
}

#[test]
fn octal_looking_route_and_prefix_list_are_refused() {
    let text = "version = 1\n\n[[route]]\ntype = \"blackhole\"\nto = \"010.0.0.0/8\"\n";
    check(text, "5:6", &["leading zero", "10.0.0.0/8"]);
    let text = "version = 1\n\n[[route]]\ntype = \"blackhole\"\nprefixes = [\"10.0.0.0/8\", \"192.168.001.0/24\"]\n";
    check(
        text,
        "5:12",
        &["prefix #2", "leading zero", "192.168.1.0/24"],
    );
    let text = "version = 1\n\n[[rule]]\npriority = 10\nfrom = \"10.0.00.0/24\"\ntable = 100\n";
    check(text, "5:8", &["leading zero"]);
}

#[test]
fn a_lone_zero_octet_and_ipv6_leading_zeros_are_fine() {
    let text = "version = 1\n\n[[route]]\ntype = \"blackhole\"\nprefixes = [\"10.0.0.0/8\", \"2001:db8:0:01::/64\", \"0.0.0.0/0\"]\n";
    model::load("x.toml", text).expect("no octal ambiguity");
}

/// `n` IPv4 next hops on one route, each with a gateway.
fn multipath(n: usize, v6: bool) -> String {
    let hops: Vec<String> = (0..n)
        .map(|i| {
            let via = if v6 {
                format!("fe80::{:x}", i + 1)
            } else {
                format!("10.{}.{}.{}", i / 62500, (i / 250) % 250, i % 250 + 1)
            };
            format!("{{ via = \"{via}\", dev = \"eth0\" }}")
        })
        .collect();
    let (addr, to) = if v6 {
        ("2001:db8::1/64", "2001:db8:1::/48")
    } else {
        ("10.0.0.1/8", "192.0.2.0/24")
    };
    format!(
        "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\naddresses = [\"{addr}\"]\n\n[[route]]\nto = \"{to}\"\nnexthops = [{}]\n",
        hops.join(", ")
    )
}

#[test]
fn next_hops_up_to_what_a_route_dump_holds_are_taken() {
    model::load("x.toml", &multipath(1984, false)).expect("1984 IPv4 next hops fit");
    model::load("x.toml", &multipath(1133, true)).expect("1133 IPv6 next hops fit");
}

#[test]
fn more_next_hops_than_a_route_dump_holds_are_refused() {
    // The kernel takes a route of 2,030 IPv4 gateways but leaves it out of every dump (its
    // message outgrows the 32 KiB dump buffer); 4,096 overflow the attribute's u16 length.
    check(
        &multipath(1985, false),
        "10:12",
        &["1985 next hops", "1984"],
    );
    check(&multipath(1134, true), "10:12", &["1134 next hops", "1133"]);
    check(&multipath(4096, false), "10:12", &["4096 next hops"]);
}

#[test]
fn invalid_utf8_in_the_config_file_is_placed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("r.toml");
    std::fs::write(&file, b"version = 1\nhostname = \"r\xff1\"\n").expect("write");
    let file = file.to_str().expect("utf-8 path");
    let e = router_agent::config_file::load(file)
        .expect_err("not UTF-8")
        .to_string();
    assert!(e.starts_with(&format!("{file}:2:14: ")), "{e}");
    assert!(e.contains("UTF-8"), "{e}");
}
