//! One rule as nft lists it back, rebuilt as the model rule the compiler would have made
//! from it; anything else stays text (the caller's choice).

use nftables::expr::{Expression, MetaKey, NamedExpression, Payload, SetItem};
use nftables::schema::Rule as NfRule;
use nftables::stmt::{Counter, Match, NATFamily, Operator, RejectType, Statement};

use super::{addr_list, port_list};
use crate::model::firewall::*;
use crate::model::{Family, IfName};

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
pub(super) fn model_rule(fw: &Firewall, r: &NfRule) -> Option<ModelRule> {
    let mut m = ModelRule {
        comment: r.comment.as_ref().map(|c| c.to_string()),
        ..ModelRule::default()
    };
    let (last, matches) = r.expr.split_last()?;
    // Each field may be set once, in the compiler's order: a later field closes earlier ones.
    let mut stage = 0u8;
    for st in matches {
        match st {
            Statement::Match(mt) if matches!(mt.op, Operator::EQ | Operator::IN) => {
                read_match(fw, &mut m, &mut stage, mt)?;
            }
            Statement::Limit(l) => {
                advance(&mut stage, 11)?;
                m.limit = Some(limit(l)?);
            }
            Statement::Counter(Counter::Anonymous(_)) => {
                advance(&mut stage, 12)?;
                m.counter = true;
            }
            Statement::Log(l) => {
                advance(&mut stage, 13)?;
                m.log = Some(log(l.as_ref())?);
            }
            _ => return None,
        }
    }
    m.verdict = verdict(last)?;
    Some(m)
}

/// Moves the rule's reading on to field `to`: None when that field was passed already.
fn advance(stage: &mut u8, to: u8) -> Option<()> {
    (to > *stage).then(|| *stage = to)
}

/// One `left == right` match, into the model rule's field for it.
fn read_match(fw: &Firewall, m: &mut ModelRule, stage: &mut u8, mt: &Match) -> Option<()> {
    let right = &mt.right;
    match left(&mt.left)? {
        Left::Meta(MetaKey::Nfproto) => {
            advance(stage, 1)?;
            m.family = match right {
                Expression::String(v) if v == "ipv4" => Some(Family::Ipv4),
                Expression::String(v) if v == "ipv6" => Some(Family::Ipv6),
                _ => return None,
            };
        }
        Left::Meta(MetaKey::Iifname) => {
            advance(stage, 2)?;
            m.iif = Some(if_match(fw, right)?);
        }
        Left::Meta(MetaKey::Oifname) => {
            advance(stage, 3)?;
            m.oif = Some(if_match(fw, right)?);
        }
        Left::Payload(p @ ("ip" | "ip6"), field @ ("saddr" | "daddr")) => {
            advance(stage, if field == "saddr" { 4 } else { 5 })?;
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
            advance(stage, 6)?;
            for x in items(right)? {
                m.protocols.push(protocol(x)?);
            }
            m.protocols.sort();
        }
        Left::Payload(p, field @ ("sport" | "dport")) => {
            advance(stage, if field == "sport" { 7 } else { 8 })?;
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
            advance(stage, 9)?;
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
            advance(stage, 10)?;
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
    Some(())
}

fn limit(l: &nftables::stmt::Limit) -> Option<Limit> {
    let unit_ok = l.rate_unit.as_deref().is_none_or(|u| u == "packets")
        && l.burst_unit.as_deref().is_none_or(|u| u == "packets")
        && l.inv != Some(true);
    if !unit_ok {
        return None;
    }
    Some(Limit {
        rate: Rate {
            count: l.rate,
            per: RateUnit::from_word(l.per.as_deref().unwrap_or("second"))?,
        },
        burst: l.burst.unwrap_or(Limit::DEFAULT_BURST),
    })
}

fn log(l: Option<&nftables::stmt::Log>) -> Option<Log> {
    let Some(l) = l else {
        return Some(Log::Plain);
    };
    let extra = l.group.is_some()
        || l.snaplen.is_some()
        || l.queue_threshold.is_some()
        || l.flags.is_some()
        || l.level.is_some();
    if extra {
        return None;
    }
    Some(match &l.prefix {
        Some(p) => Log::Prefix(p.to_string()),
        None => Log::Plain,
    })
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
