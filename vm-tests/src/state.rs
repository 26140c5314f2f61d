//! A guest's network state as `ip -j` and `nft -j` report it, reduced to what a config
//! describes: two boots of the same config must give equal states.

use serde_json::Value;

use crate::vm::Vm;

fn json(vm: &mut Vm, cmd: &str) -> Value {
    let out = vm.sh(cmd);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{cmd}: {e}:\n{out}"))
}

fn pick(v: &Value, keys: &[&str]) -> Value {
    let mut m = serde_json::Map::new();
    for k in keys {
        if let Some(x) = v.get(*k) {
            m.insert((*k).to_owned(), x.clone());
        }
    }
    Value::Object(m)
}

fn sorted(mut items: Vec<Value>) -> Value {
    items.sort_by_key(|v| v.to_string());
    Value::Array(items)
}

/// Links, addresses (no IPv6 link-local, nothing leased or autoconfigured), routes of every
/// table but the kernel's own and router advertisements' (qemu's user network sends RAs at
/// its own pace: one snapshot may have them and the next not), rules,
/// and the nftables ruleset without handles.
pub fn snapshot(vm: &mut Vm) -> Value {
    let links = json(vm, "ip -j -d link show");
    let links: Vec<Value> = links
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    let mut p = pick(l, &["ifname", "mtu", "operstate", "link_type", "master"]);
                    if let Some(kind) = l.pointer("/linkinfo/info_kind") {
                        p["kind"] = kind.clone();
                    }
                    p
                })
                .collect()
        })
        .unwrap_or_default();
    let addrs = json(vm, "ip -j addr show");
    let mut addresses = Vec::new();
    for l in addrs.as_array().into_iter().flatten() {
        for a in l
            .get("addr_info")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let local = a.get("local").and_then(Value::as_str).unwrap_or_default();
            // SLAAC and DHCP addresses carry a lifetime ("dynamic"): not config.
            if local.starts_with("fe80:") || a.get("dynamic") == Some(&Value::Bool(true)) {
                continue;
            }
            addresses.push(serde_json::json!({
                "ifname": l.get("ifname"), "local": local, "prefixlen": a.get("prefixlen"),
            }));
        }
    }
    let mut routes = Vec::new();
    for fam in ["-4", "-6"] {
        let r = json(vm, &format!("ip -j {fam} route show table all"));
        for x in r.as_array().into_iter().flatten() {
            let proto = x
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let dst = x.get("dst").and_then(Value::as_str).unwrap_or_default();
            if proto == "kernel"
                || proto == "ra"
                || x.get("table").and_then(Value::as_str) == Some("local")
                || dst.starts_with("fe80:")
                || dst.starts_with("ff00:")
            {
                continue;
            }
            let mut r = pick(
                x,
                &[
                    "dst", "gateway", "dev", "protocol", "table", "metric", "type", "nexthops",
                    "prefsrc",
                ],
            );
            owned_protocol(&mut r);
            routes.push(r);
        }
    }
    let mut rules = Vec::new();
    for fam in ["-4", "-6"] {
        let r = json(vm, &format!("ip -j {fam} rule show"));
        for mut rule in r.as_array().into_iter().flatten().cloned() {
            // `ip rule add` writes protocol 0, which `ip -j` leaves out.
            if let Some(m) = rule.as_object_mut() {
                m.entry("protocol").or_insert_with(|| Value::from("static"));
            }
            owned_protocol(&mut rule);
            rules.push(rule);
        }
    }
    let mut nft = json(vm, "nft -j list ruleset");
    strip(&mut nft);
    let nft = by_object(&nft);
    serde_json::json!({
        "links": sorted(links), "addresses": sorted(addresses), "routes": sorted(routes),
        "rules": sorted(rules), "nft": nft,
    })
}

/// Config routes and rules read back with the protocol they were written with: by hand
/// (`static`, `boot`) or by the agent (196). Either is the same config.
fn owned_protocol(v: &mut Value) {
    if let Some(p) = v.get_mut("protocol") {
        if matches!(p.as_str(), Some("static" | "boot" | "196")) {
            *p = Value::from("config");
        }
    }
}

fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("handle");
            m.values_mut().for_each(strip);
        }
        Value::Array(a) => {
            a.retain(|x| x.get("metainfo").is_none());
            a.iter_mut().for_each(strip);
        }
        _ => {}
    }
}

/// The ruleset as objects by kind, in a stable order: tables, chains, sets and maps sorted;
/// rules in their order within each chain (the order that matters).
fn by_object(nft: &Value) -> Value {
    let mut kinds: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let mut rules: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for item in nft
        .get("nftables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        if kind == "rule" {
            let chain = format!("{} {} {}", body["family"], body["table"], body["chain"]);
            rules.entry(chain).or_default().push(body.clone());
        } else {
            kinds.entry(kind.clone()).or_default().push(body.clone());
        }
    }
    let mut out = serde_json::Map::new();
    for (k, v) in kinds {
        out.insert(k, sorted(v));
    }
    out.insert(
        "rules".into(),
        serde_json::to_value(rules).unwrap_or_default(),
    );
    Value::Object(out)
}

/// Panics with the lines that differ.
pub fn assert_same(a: &Value, b: &Value, what: &str) {
    if a == b {
        return;
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let (pa, pb) = (pretty(a), pretty(b));
    let la: std::collections::BTreeSet<&str> = pa.lines().collect();
    let lb: std::collections::BTreeSet<&str> = pb.lines().collect();
    let only_a: Vec<&&str> = la.difference(&lb).collect();
    let only_b: Vec<&&str> = lb.difference(&la).collect();
    // Same lines in another order: show where the two first part.
    let first = pa
        .lines()
        .zip(pb.lines())
        .position(|(x, y)| x != y)
        .unwrap_or(0);
    let around = |t: &str| {
        t.lines()
            .skip(first.saturating_sub(5))
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    };
    panic!(
        "{what}: states differ\nonly before: {only_a:#?}\nonly after: {only_b:#?}\nbefore, from line {first}:\n{}\nafter:\n{}",
        around(&pa),
        around(&pb)
    );
}
