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

#[test]
fn dump_sample() {
    if let Ok(p) = std::env::var("BGP_DUMP") {
        std::fs::write(p, render_file(&sample())).expect("write");
    }
}
