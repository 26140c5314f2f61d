//! The agent's table as nft lists it back to a [`Firewall`]. What the model expresses
//! exactly becomes model; everything else (a hand-added rule in an odd order, a map, a
//! chain with unusual hooks) is kept as nftables text, so nothing is lost either way.

use std::collections::BTreeMap;

use nftables::expr::{Expression, NamedExpression};
use nftables::schema::{
    Chain as NfChain, Rule as NfRule, Set as NfSet, SetFlag, SetType, SetTypeValue,
};
use nftables::types::{NfChainPolicy, NfChainType, NfHook};

use super::listing::Listing;
use super::FirewallError;
use crate::model::firewall::*;
use crate::model::{Family, IfName};

mod rule;
use rule::model_rule;

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
    // What the config wrote as raw text stays raw text, even where the model could say it.
    let (raw_names, _) = super::compile::parse_comment(listing.comment.as_deref());
    let mut d = Decompiler {
        listing,
        raw_names,
        fw: Firewall::default(),
        raw: Vec::new(),
        rules: BTreeMap::new(),
        raw_chains: Vec::new(),
    };
    for obj in objects {
        d.object(obj, fetch)?;
    }
    if !d.raw.is_empty() {
        d.fw.raw = Some(d.raw.join("\n"));
    }
    d.place_rules()?;
    d.keep_empty_nat()?;
    Ok(d.fw)
}

/// The table being read back: objects first, then the rules into their chains.
struct Decompiler<'l> {
    listing: &'l Listing,
    raw_names: Vec<String>,
    fw: Firewall,
    raw: Vec<String>,
    rules: BTreeMap<String, Vec<ReadRule>>,
    raw_chains: Vec<String>,
}

impl Decompiler<'_> {
    fn written_raw(&self, name: &str) -> bool {
        self.raw_names.iter().any(|n| n == name)
    }

    /// One object of the JSON listing: a set, a chain, a rule, or text.
    fn object(
        &mut self,
        obj: &serde_json::Value,
        fetch: &mut FetchBlock,
    ) -> Result<(), FirewallError> {
        let Some((kind, body)) = obj.as_object().and_then(|o| o.iter().next()) else {
            return Ok(());
        };
        let name = body
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        match kind.as_str() {
            "metainfo" | "table" => {}
            "set" => match serde_json::from_value::<NfSet>(body.clone())
                .ok()
                .filter(|_| !self.written_raw(name))
                .and_then(|s| model_set(&s))
            {
                Some(Modelled::Zone(z, ifs)) => {
                    self.fw.zones.insert(z, ifs);
                }
                Some(Modelled::Set(n, e)) => {
                    self.fw.sets.insert(n, e);
                }
                None => self.raw.push(fetch("set", name)?),
            },
            "chain" => match serde_json::from_value::<NfChain>(body.clone())
                .ok()
                .filter(|_| !self.written_raw(name))
                .and_then(|c| model_chain(&c))
            {
                Some((n, base)) => {
                    self.fw.chains.insert(
                        n,
                        Chain {
                            base,
                            rules: Vec::new(),
                        },
                    );
                }
                None => {
                    self.raw_chains.push(name.to_owned());
                    self.raw.push(block(self.listing, "chain", name)?);
                }
            },
            "rule" => self.rule(body)?,
            other => self.raw.push(fetch(other, name)?),
        }
        Ok(())
    }

    fn rule(&mut self, body: &serde_json::Value) -> Result<(), FirewallError> {
        let chain = body
            .get("chain")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        if self.raw_chains.iter().any(|c| c == chain) {
            return Ok(());
        }
        let handle = body.get("handle").and_then(|h| h.as_u64());
        let read = match serde_json::from_value::<NfRule>(body.clone()) {
            Ok(r) => ReadRule::Parsed(r),
            // The crate's schema lacks one of its statements: keep the rule's text.
            Err(_) => ReadRule::Text(rule_text(self.listing, handle)?),
        };
        self.rules.entry(chain.to_owned()).or_default().push(read);
        Ok(())
    }

    /// Each chain's rules: model where the config would make them again exactly, else text.
    fn place_rules(&mut self) -> Result<(), FirewallError> {
        let mut placed: Vec<(Name, Vec<Rule>)> = Vec::new();
        let canon = self.fw.canon();
        for (chain, list) in std::mem::take(&mut self.rules) {
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
                let modelled =
                    model_rule(&self.fw, &r).filter(|m| canon.rule(&name, m).as_ref() == Some(m));
                out.push(match modelled {
                    Some(m) => Rule::Model(Box::new(m)),
                    None => Rule::Raw(rule_text(self.listing, r.handle.map(u64::from))?),
                });
            }
            placed.push((name, out));
        }
        for (name, out) in placed {
            if let Some(c) = self.fw.chains.get_mut(&name) {
                c.rules = out;
            }
        }
        Ok(())
    }

    /// An empty NAT chain is not what the config makes; keep it as text.
    fn keep_empty_nat(&mut self) -> Result<(), FirewallError> {
        for nat in ["prerouting", "postrouting"] {
            let n = Name::from_standard(nat);
            if self.fw.chains.get(&n).is_some_and(|c| c.rules.is_empty()) {
                self.fw.chains.remove(&n);
                let text = block(self.listing, "chain", nat)?;
                self.fw.raw = Some(match self.fw.raw.take() {
                    Some(r) => format!("{r}\n{text}"),
                    None => text,
                });
            }
        }
        Ok(())
    }
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
