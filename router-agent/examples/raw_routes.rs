//! Baseline for the route benchmark: the fastest this machine installs routes over netlink.
//! Pre-encodes N route messages (no config, no model, no plan) and sends them through the
//! same batched socket the agent uses. Run inside the benchmark's namespace:
//! `ip netns exec NS raw_routes COUNT GATEWAY DEV [NHID]`. With NHID, the routes point at
//! that nexthop object (made beforehand with `ip nexthop add id NHID ...`) instead of
//! carrying their gateway: the comparison that decides whether nexthop objects pay.

use std::time::Instant;

use router_agent::kernel::netlink::Netlink;
use router_agent::kernel::route_codec;
use router_agent::model::{IfName, Route, RouteKey, RouteType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let count: u32 = args
        .get(1)
        .ok_or("usage: raw_routes COUNT GATEWAY DEV")?
        .parse()?;
    let via = args.get(2).ok_or("missing GATEWAY")?.parse()?;
    let dev: IfName = args.get(3).ok_or("missing DEV")?.parse()?;
    let nhid: Option<u32> = args.get(4).map(|n| n.parse()).transpose()?;
    let index = std::fs::read_to_string(format!("/sys/class/net/{dev}/ifindex"))?
        .trim()
        .parse::<u32>()?;
    let base = u32::from(std::net::Ipv4Addr::new(100, 64, 0, 0));
    let requests: Vec<_> = (0..count)
        .map(|i| {
            let dst = ipnet::IpNet::new(std::net::Ipv4Addr::from(base + i).into(), 32)?;
            let r = Route {
                key: RouteKey {
                    table: 254,
                    dst,
                    metric: 0,
                },
                kind: RouteType::Unicast,
                via: Some(via),
                dev: Some(dev.clone()),
                onlink: false,
                src: None,
                nexthops: Vec::new(),
            };
            Ok(route_codec::new_route(&r, false, &|_| Some(index), nhid)?)
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let mut nl = Netlink::open()?;
    let t = Instant::now();
    let results = nl.batch(&requests)?;
    let secs = t.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        return Err(format!("{failed} routes failed").into());
    }
    println!("{secs:.3}");
    Ok(())
}
