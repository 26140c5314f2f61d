//! The agent's table as nft lists it back to a [`Firewall`]. What the model expresses
//! exactly becomes model; everything else (a hand-added rule in an odd order, a map, a
//! chain with unusual hooks) is kept as nftables text, so nothing is lost either way.

use std::collections::BTreeMap;

use nftables::expr::{Expression, MetaKey, NamedExpression, Payload, SetItem};
use nftables::schema::{
    Chain as NfChain, Rule as NfRule, Set as NfSet, SetFlag, SetType, SetTypeValue,
};
use nftables::stmt::{Counter, NATFamily, Operator, RejectType, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfHook};

use super::listing::Listing;
use super::FirewallError;
use crate::model::firewall::*;
use crate::model::{Family, IfName};

/// Where text of objects that the terse listing leaves out (set elements) comes from.
pub type FetchBlock<'a> = dyn FnMut(&str, &str) -> Result<String, FirewallError> + 'a;

/// `json`: `nft -s -j list table inet router_agent`; `listing`: `nft -s -t -a list table`.
pub fn decompile(
    json: &str,
    listing: &Listing,
    fetch: &mut FetchBlock,
) -> Result<Firewall, FirewallError> {
    let doc: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| FirewallError::read("parsing nft's JSON listing", e.to_string()))?;
    let objects = doc
        .get("nftables")
        .and_then(|v| v.as_array())
        .ok_or_else(|| FirewallError::read("nft's JSON listing", "no \"nftables\" array".into()))?;
    let mut fw = Firewall::default();
    let mut raw: Vec<String> = Vec::new();
    // What the config wrote as raw text stays raw text, even where the model could say it.
    let (raw_names, _) = super::compile::parse_comment(listing.comment.as_deref());
    let written_raw = |name: &str| raw_names.iter().any(|n| n == name);
    let mut rules: BTreeMap<String, Vec<ReadRule>> = BTreeMap::new();
    let mut raw_chains: Vec<String> = Vec::new();
    for obj in objects {
        let Some((kind, body)) = obj.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let name = body
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        match kind.as_str() {
            "metainfo" | "table" => {}
            "set" => match serde_json::from_value::<NfSet>(body.clone())
                .ok()
                .filter(|_| !written_raw(name))
                .and_then(|s| model_set(&s))
            {
                Some(Modelled::Zone(z, ifs)) => {
                    fw.zones.insert(z, ifs);
                }
                Some(Modelled::Set(n, e)) => {
                    fw.sets.insert(n, e);
                }
                None => raw.push(fetch("set", name)?),
            },
            "chain" => match serde_json::from_value::<NfChain>(body.clone())
                .ok()
                .filter(|_| !written_raw(name))
                .and_then(|c| model_chain(&c))
            {
                Some((n, base)) => {
                    fw.chains.insert(
                        n,
                        Chain {
                            base,
                            rules: Vec::new(),
                        },
                    );
                }
                None => {
                    raw_chains.push(name.to_owned());
                    raw.push(block(listing, "chain", name)?);
                }
            },
            "rule" => {
                let chain = body
                    .get("chain")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default();
                if raw_chains.iter().any(|c| c == chain) {
                    continue;
                }
                let handle = body.get("handle").and_then(|h| h.as_u64());
                let read = match serde_json::from_value::<NfRule>(body.clone()) {
                    Ok(r) => ReadRule::Parsed(r),
                    // The crate's schema lacks one of its statements: keep the rule's text.
                    Err(_) => ReadRule::Text(rule_text(listing, handle)?),
                };
                rules.entry(chain.to_owned()).or_default().push(read);
            }
            other => raw.push(fetch(other, name)?),
        }
    }
    if !raw.is_empty() {
        fw.raw = Some(raw.join("\n"));
    }
    let mut placed: Vec<(Name, Vec<Rule>)> = Vec::new();
    let canon = fw.canon();
    for (chain, list) in rules {
        let Ok(name) = chain.parse::<Name>() else {
            continue;
        };
        let mut out = Vec::with_capacity(list.len());
        for read in list {
            let r = match read {
                ReadRule::Text(t) => {
                    out.push(Rule::Raw(t));
                    continue;
                }
                ReadRule::Parsed(r) => r,
            };
            // Model only what the config would make again exactly the same.
            let modelled = model_rule(&fw, &r).filter(|m| canon.rule(&name, m).as_ref() == Some(m));
            out.push(match modelled {
                Some(m) => Rule::Model(Box::new(m)),
                None => Rule::Raw(rule_text(listing, r.handle.map(u64::from))?),
            });
        }
        placed.push((name, out));
    }
    for (name, out) in placed {
        if let Some(c) = fw.chains.get_mut(&name) {
            c.rules = out;
        }
    }
    // An empty NAT chain is not what the config makes; keep it as text.
    for nat in ["prerouting", "postrouting"] {
        let n = Name::from_standard(nat);
        if fw.chains.get(&n).is_some_and(|c| c.rules.is_empty()) {
            fw.chains.remove(&n);
            let text = block(listing, "chain", nat)?;
            fw.raw = Some(match fw.raw.take() {
                Some(r) => format!("{r}\n{text}"),
                None => text,
            });
        }
    }
    Ok(fw)
}

enum ReadRule {
    Parsed(NfRule<'static>),
    Text(String),
}

fn block(listing: &Listing, kind: &str, name: &str) -> Result<String, FirewallError> {
    listing
        .block(kind, name)
        .map(|b| b.text.clone())
        .ok_or_else(|| FirewallError::changed(format!("{kind} {name}")))
}

fn rule_text(listing: &Listing, handle: Option<u64>) -> Result<String, FirewallError> {
    handle
        .and_then(|h| listing.rules.get(&h))
        .cloned()
        .ok_or_else(|| FirewallError::changed(format!("rule with handle {handle:?}")))
}

enum Modelled {
    Zone(Name, Vec<IfName>),
    Set(Name, SetElements),
}

fn model_set(s: &NfSet) -> Option<Modelled> {
    let plain = s.policy.is_none()
        && s.timeout.is_none()
        && s.gc_interval.is_none()
        && s.size.is_none()
        && s.comment.is_none();
    if !plain {
        return None;
    }
    let flags: Vec<SetFlag> = s.flags.iter().flatten().copied().collect();
    let elems: &[Expression] = s.elem.as_deref().unwrap_or(&[]);
    let ty = match &s.set_type {
        SetTypeValue::Single(t) => *t,
        SetTypeValue::Concatenated(_) => return None,
    };
    if let Some(zone) = s.name.strip_prefix(ZONE_SET_PREFIX) {
        if ty != SetType::Ifname || !flags.is_empty() {
            return None;
        }
        let mut ifs: Vec<IfName> = elems
            .iter()
            .map(|e| match e {
                Expression::String(v) => v.parse().ok(),
                _ => None,
            })
            .collect::<Option<_>>()?;
        ifs.sort();
        return Some(Modelled::Zone(zone.parse().ok()?, ifs));
    }
    if flags != [SetFlag::Interval] {
        return None;
    }
    let name: Name = s.name.parse().ok()?;
    let elements = match ty {
        SetType::Ipv4Addr => SetElements::Addr(addr_list(Family::Ipv4, elems)?),
        SetType::Ipv6Addr => SetElements::Addr(addr_list(Family::Ipv6, elems)?),
        SetType::InetService => SetElements::Port(port_list(elems)?),
        _ => return None,
    };
    Some(Modelled::Set(name, elements))
}

fn model_chain(c: &NfChain) -> Option<(Name, Option<BaseChain>)> {
    let name: Name = c.name.parse().ok()?;
    if c.dev.is_some() {
        return None;
    }
    let base = match (c._type, c.hook, c.prio) {
        (None, None, None) => None,
        (Some(t), Some(h), Some(p)) => Some(BaseChain {
            kind: match t {
                NfChainType::Filter => ChainType::Filter,
                NfChainType::NAT => ChainType::Nat,
                NfChainType::Route => ChainType::Route,
            },
            hook: match h {
                NfHook::Prerouting => Hook::Prerouting,
                NfHook::Input => Hook::Input,
                NfHook::Forward => Hook::Forward,
                NfHook::Output => Hook::Output,
                NfHook::Postrouting => Hook::Postrouting,
                _ => return None,
            },
            priority: p,
            policy: match c.policy {
                Some(NfChainPolicy::Drop) => Policy::Drop,
                _ => Policy::Accept,
            },
        }),
        _ => return None,
    };
    match (standard_chain(name.as_str()), base) {
        // A standard chain must be as the config makes it (its policy aside).
        (Some(std), Some(b))
            if std.kind == b.kind && std.hook == b.hook && std.priority == b.priority =>
        {
            let nat = b.kind == ChainType::Nat;
            (!nat || b.policy == Policy::Accept).then_some((name, base))
        }
        (Some(_), _) => None,
        (None, _) => Some((name, base)),
    }
}

/// One address: a string, a prefix or a range.
fn addr_interval(e: &Expression) -> Option<(Family, u128, u128)> {
    match e {
        Expression::String(v) => parse_addr_entry(v).ok(),
        Expression::Named(NamedExpression::Prefix(p)) => match p.addr.as_ref() {
            Expression::String(a) => parse_addr_entry(&format!("{a}/{}", p.len)).ok(),
            _ => None,
        },
        Expression::Range(r) => match (&r.range[0], &r.range[1]) {
            (Expression::String(a), Expression::String(b)) => {
                parse_addr_entry(&format!("{a}-{b}")).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

fn addr_list(f: Family, elems: &[Expression]) -> Option<AddrList> {
    let mut v = Vec::with_capacity(elems.len());
    for e in elems {
        let (g, lo, hi) = addr_interval(e)?;
        if g != f {
            return None;
        }
        v.push((lo, hi));
    }
    Some(AddrList::from_intervals(f, v))
}

fn port_interval(e: &Expression) -> Option<(u16, u16)> {
    let n = |x: &Expression| match x {
        Expression::Number(n) => u16::try_from(*n).ok().filter(|p| *p > 0),
        _ => None,
    };
    match e {
        Expression::Range(r) => Some((n(&r.range[0])?, n(&r.range[1])?)),
        other => n(other).map(|p| (p, p)),
    }
}

fn port_list(elems: &[Expression]) -> Option<PortList> {
    elems
        .iter()
        .map(port_interval)
        .collect::<Option<Vec<_>>>()
        .map(PortList::from_intervals)
}

/// The elements of a match's right side: one value, an anonymous set, or a list.
fn items<'a>(e: &'a Expression<'a>) -> Option<Vec<&'a Expression<'a>>> {
    match e {
        Expression::Named(NamedExpression::Set(items)) => items
            .iter()
            .map(|i| match i {
                SetItem::Element(x) => Some(x),
                _ => None,
            })
            .collect(),
        Expression::List(v) => Some(v.iter().collect()),
        other => Some(vec![other]),
    }
}

fn set_name<'a>(e: &'a Expression) -> Option<&'a str> {
    match e {
        Expression::String(v) => v.strip_prefix('@'),
        _ => None,
    }
}

/// What a match statement tests, as a key the cursor below dispatches on.
enum Left<'a> {
    Meta(MetaKey),
    Payload(&'a str, &'a str),
    CtState,
}

fn left<'a>(e: &'a Expression<'a>) -> Option<Left<'a>> {
    match e {
        Expression::Named(NamedExpression::Meta(m)) => Some(Left::Meta(m.key)),
        Expression::Named(NamedExpression::Payload(Payload::PayloadField(p))) => {
            Some(Left::Payload(&p.protocol, &p.field))
        }
        Expression::Named(NamedExpression::CT(ct))
            if ct.key == "state" && ct.dir.is_none() && ct.family.is_none() =>
        {
            Some(Left::CtState)
        }
        _ => None,
    }
}

/// Rebuilds a model rule from the statements the compiler would have made, in that order.
/// None for anything else; the caller keeps such a rule as text.
fn model_rule(fw: &Firewall, r: &NfRule) -> Option<ModelRule> {
    let mut m = ModelRule {
        comment: r.comment.as_ref().map(|c| c.to_string()),
        ..ModelRule::default()
    };
    let (last, matches) = r.expr.split_last()?;
    // Each field may be set once, in the compiler's order: a later field closes earlier ones.
    let mut stage = 0u8;
    let mut advance = |to: u8| -> Option<()> { (to > stage).then(|| stage = to) };
    for st in matches {
        match st {
            Statement::Match(mt) if matches!(mt.op, Operator::EQ | Operator::IN) => {
                let right = &mt.right;
                match left(&mt.left)? {
                    Left::Meta(MetaKey::Nfproto) => {
                        advance(1)?;
                        m.family = match right {
                            Expression::String(v) if v == "ipv4" => Some(Family::Ipv4),
                            Expression::String(v) if v == "ipv6" => Some(Family::Ipv6),
                            _ => return None,
                        };
                    }
                    Left::Meta(MetaKey::Iifname) => {
                        advance(2)?;
                        m.iif = Some(if_match(fw, right)?);
                    }
                    Left::Meta(MetaKey::Oifname) => {
                        advance(3)?;
                        m.oif = Some(if_match(fw, right)?);
                    }
                    Left::Payload(p @ ("ip" | "ip6"), field @ ("saddr" | "daddr")) => {
                        advance(if field == "saddr" { 4 } else { 5 })?;
                        let f = if p == "ip" {
                            Family::Ipv4
                        } else {
                            Family::Ipv6
                        };
                        let a = addr_match(fw, f, right)?;
                        if field == "saddr" {
                            m.saddr = Some(a);
                        } else {
                            m.daddr = Some(a);
                        }
                    }
                    Left::Meta(MetaKey::L4proto) => {
                        advance(6)?;
                        for x in items(right)? {
                            m.protocols.push(protocol(x)?);
                        }
                        m.protocols.sort();
                    }
                    Left::Payload(p, field @ ("sport" | "dport")) => {
                        advance(if field == "sport" { 7 } else { 8 })?;
                        if p == "th" {
                            if m.protocols.is_empty() {
                                return None;
                            }
                        } else {
                            let proto: Protocol = p.parse().ok()?;
                            if m.protocols.is_empty() {
                                m.protocols.push(proto);
                            } else if m.protocols != [proto] {
                                return None;
                            }
                        }
                        let pm = port_match(fw, right)?;
                        if field == "sport" {
                            m.sport = Some(pm);
                        } else {
                            m.dport = Some(pm);
                        }
                    }
                    Left::Payload(p @ ("icmp" | "icmpv6"), "type") => {
                        advance(9)?;
                        if !m.protocols.is_empty() {
                            return None;
                        }
                        let proto = if p == "icmp" {
                            Protocol::ICMP
                        } else {
                            Protocol::ICMPV6
                        };
                        m.protocols.push(proto);
                        for x in items(right)? {
                            match x {
                                Expression::String(t) => m.icmp_types.push(t.to_string()),
                                _ => return None,
                            }
                        }
                    }
                    Left::CtState => {
                        advance(10)?;
                        for x in items(right)? {
                            match x {
                                Expression::String(s) => m.state.push(CtState::from_word(s)?),
                                _ => return None,
                            }
                        }
                        m.state.sort();
                    }
                    _ => return None,
                }
            }
            Statement::Limit(l) => {
                advance(11)?;
                let unit_ok = l.rate_unit.as_deref().is_none_or(|u| u == "packets")
                    && l.burst_unit.as_deref().is_none_or(|u| u == "packets")
                    && l.inv != Some(true);
                if !unit_ok {
                    return None;
                }
                m.limit = Some(Limit {
                    rate: Rate {
                        count: l.rate,
                        per: RateUnit::from_word(l.per.as_deref().unwrap_or("second"))?,
                    },
                    burst: l.burst.unwrap_or(Limit::DEFAULT_BURST),
                });
            }
            Statement::Counter(Counter::Anonymous(_)) => {
                advance(12)?;
                m.counter = true;
            }
            Statement::Log(log) => {
                advance(13)?;
                m.log = Some(match log {
                    None => Log::Plain,
                    Some(l) => {
                        let extra = l.group.is_some()
                            || l.snaplen.is_some()
                            || l.queue_threshold.is_some()
                            || l.flags.is_some()
                            || l.level.is_some();
                        if extra {
                            return None;
                        }
                        match &l.prefix {
                            Some(p) => Log::Prefix(p.to_string()),
                            None => Log::Plain,
                        }
                    }
                });
            }
            _ => return None,
        }
    }
    m.verdict = verdict(last)?;
    Some(m)
}

fn if_match(fw: &Firewall, right: &Expression) -> Option<IfMatch> {
    if let Some(set) = set_name(right) {
        let zone: Name = set.strip_prefix(ZONE_SET_PREFIX)?.parse().ok()?;
        return fw.zones.contains_key(&zone).then_some(IfMatch::Zone(zone));
    }
    let mut v: Vec<IfName> = Vec::new();
    for x in items(right)? {
        match x {
            Expression::String(s) => v.push(s.parse().ok()?),
            _ => return None,
        }
    }
    v.sort();
    Some(IfMatch::Names(v))
}

fn addr_match(fw: &Firewall, f: Family, right: &Expression) -> Option<AddrMatch> {
    if let Some(set) = set_name(right) {
        let name: Name = set.parse().ok()?;
        return match fw.sets.get(&name) {
            Some(SetElements::Addr(l)) if l.family == f => Some(AddrMatch::Set(name, f)),
            _ => None,
        };
    }
    let list: Vec<Expression> = items(right)?.into_iter().cloned().collect();
    addr_list(f, &list).map(AddrMatch::List)
}

fn port_match(fw: &Firewall, right: &Expression) -> Option<PortMatch> {
    if let Some(set) = set_name(right) {
        let name: Name = set.parse().ok()?;
        return matches!(fw.sets.get(&name), Some(SetElements::Port(_)))
            .then_some(PortMatch::Set(name));
    }
    let list: Vec<Expression> = items(right)?.into_iter().cloned().collect();
    port_list(&list).map(PortMatch::List)
}

fn protocol(e: &Expression) -> Option<Protocol> {
    match e {
        Expression::String(s) => s.parse().ok(),
        Expression::Number(n) => u8::try_from(*n).ok().map(Protocol),
        _ => None,
    }
}

fn nat_target(n: &nftables::stmt::NAT) -> Option<NatTarget> {
    if n.flags.is_some() {
        return None;
    }
    let addr = match &n.addr {
        Some(Expression::String(a)) => Some(a.parse().ok()?),
        None => None,
        _ => return None,
    };
    let port = match &n.port {
        Some(Expression::Number(p)) => Some(u16::try_from(*p).ok()?),
        None => None,
        _ => return None,
    };
    let t = NatTarget { addr, port };
    let fam_ok = match n.family {
        Some(NATFamily::IP) => t.family() == Some(Family::Ipv4),
        Some(NATFamily::IP6) => t.family() == Some(Family::Ipv6),
        None => t.addr.is_none(),
    };
    fam_ok.then_some(t)
}

fn verdict(st: &Statement) -> Option<Verdict> {
    Some(match st {
        Statement::Accept(_) => Verdict::Accept,
        Statement::Drop(_) => Verdict::Drop,
        Statement::Return(_) => Verdict::Return,
        Statement::Jump(t) => Verdict::Jump(t.target.parse().ok()?),
        Statement::Goto(t) => Verdict::Goto(t.target.parse().ok()?),
        Statement::Reject(r) => Verdict::Reject(match r.as_ref().and_then(|r| r._type) {
            None => RejectWith::PortUnreachable,
            Some(RejectType::TCPReset) => RejectWith::TcpReset,
            Some(RejectType::ICMPX) => {
                let code = r.as_ref().and_then(|r| r.expr.as_ref());
                let word = code
                    .map(|c| serde_json::to_value(c).ok())
                    .and_then(|v| v.and_then(|v| v.as_str().map(str::to_owned)))
                    .unwrap_or_else(|| "port-unreachable".into());
                *RejectWith::ALL
                    .iter()
                    .find(|w| w.icmpx() == Some(word.as_str()))?
            }
            Some(_) => return None,
        }),
        Statement::Masquerade(None) => Verdict::Masquerade,
        Statement::SNAT(Some(n)) => Verdict::Snat(nat_target(n).filter(|t| t.addr.is_some())?),
        Statement::DNAT(Some(n)) => Verdict::Dnat(nat_target(n).filter(|t| t.addr.is_some())?),
        Statement::Redirect(Some(n)) => match nat_target(n)? {
            NatTarget {
                addr: None,
                port: Some(p),
            } => Verdict::Redirect(p),
            _ => return None,
        },
        _ => return None,
    })
}
