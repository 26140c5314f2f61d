//! [`Firewall`] back to the `[firewall]` section: what `show` prints.

use super::intervals::Entries;
use super::state::*;
use super::values::*;
use super::{ChainConfig, FirewallConfig, FwRuleConfig, SetConfig, TableConfig, ZoneConfig};

/// The order rules are listed in: the standard chains first.
const CHAIN_ORDER: [&str; 5] = ["input", "forward", "output", "prerouting", "postrouting"];

impl Firewall {
    pub fn to_config(&self) -> FirewallConfig {
        let mut c = FirewallConfig {
            input: self.policy("input"),
            forward: self.policy("forward"),
            output: self.policy("output"),
            raw: self.raw.clone(),
            ..FirewallConfig::default()
        };
        for (name, ifs) in &self.zones {
            c.zones.insert(
                name.clone(),
                ZoneConfig {
                    interfaces: Entries(ifs.iter().map(|i| i.to_string()).collect()),
                },
            );
        }
        for (name, s) in &self.sets {
            let elements = match s {
                SetElements::Addr(l) => l.entries(),
                SetElements::Port(l) => l.entries(),
            };
            c.sets.insert(
                name.clone(),
                SetConfig {
                    kind: s.kind(),
                    elements: Entries(elements),
                },
            );
        }
        let mut names: Vec<&Name> = self.chains.keys().collect();
        names.sort_by_key(|n| {
            (
                CHAIN_ORDER
                    .iter()
                    .position(|s| *s == n.as_str())
                    .unwrap_or(CHAIN_ORDER.len()),
                n.as_str(),
            )
        });
        for name in names {
            let chain = &self.chains[name];
            let standard = standard_chain(name.as_str());
            if standard.is_none() {
                c.chains.insert(
                    name.clone(),
                    match chain.base {
                        Some(b) => ChainConfig {
                            kind: (b.kind != ChainType::Filter).then_some(b.kind),
                            hook: Some(b.hook),
                            priority: (b.priority != 0).then_some(b.priority),
                            policy: (!b.policy.is_accept()).then_some(b.policy),
                        },
                        None => ChainConfig::default(),
                    },
                );
            }
            let is_nat = standard.is_some_and(|b| b.kind == ChainType::Nat);
            for rule in &chain.rules {
                let r = rule_config(name, rule, is_nat);
                if is_nat {
                    c.nat.push(r);
                } else {
                    c.rules.push(r);
                }
            }
        }
        c.tables = self
            .tables
            .iter()
            .map(|t| TableConfig {
                family: t.family,
                name: t.name.clone(),
                ruleset: format!("{}\n", t.ruleset),
            })
            .collect();
        c
    }
}

fn entries<T: ToString>(v: &[T]) -> Option<Entries> {
    (!v.is_empty()).then(|| Entries(v.iter().map(T::to_string).collect()))
}

pub(super) fn rule_config(chain: &Name, rule: &Rule, in_nat_list: bool) -> FwRuleConfig {
    let m = match rule {
        Rule::Raw(text) => {
            return FwRuleConfig {
                chain: Some(chain.clone()),
                raw: Some(text.clone()),
                ..FwRuleConfig::default()
            }
        }
        Rule::Model(m) => m,
    };
    let (in_zone, in_interface) = if_config(&m.iif);
    let (out_zone, out_interface) = if_config(&m.oif);
    let (action, reject_with, to) = match &m.verdict {
        Verdict::Accept => (Action::Accept, None, None),
        Verdict::Drop => (Action::Drop, None, None),
        Verdict::Reject(w) => (
            Action::Reject,
            (*w != RejectWith::PortUnreachable).then_some(*w),
            None,
        ),
        Verdict::Return => (Action::Return, None, None),
        Verdict::Jump(c) => (Action::Jump(c.clone()), None, None),
        Verdict::Goto(c) => (Action::Goto(c.clone()), None, None),
        Verdict::Masquerade => (Action::Masquerade, None, None),
        Verdict::Snat(t) => (Action::Snat, None, Some(*t)),
        Verdict::Dnat(t) => (Action::Dnat, None, Some(*t)),
        Verdict::Redirect(p) => (
            Action::Redirect,
            None,
            Some(NatTarget {
                addr: None,
                port: Some(*p),
            }),
        ),
    };
    let implied_chain = match action {
        Action::Masquerade | Action::Snat => Some("postrouting"),
        Action::Dnat | Action::Redirect => Some("prerouting"),
        _ => None,
    };
    let chain = (!in_nat_list || implied_chain != Some(chain.as_str())).then(|| chain.clone());
    // A family the verdict implies (snat/dnat) is written by `to` already.
    let target_family = to.and_then(|t: NatTarget| t.family());
    FwRuleConfig {
        chain,
        action: Some(action),
        family: m.family.filter(|f| Some(*f) != target_family),
        in_zone,
        in_interface,
        out_zone,
        out_interface,
        source: m.saddr.as_ref().map(addr_config),
        destination: m.daddr.as_ref().map(addr_config),
        protocol: entries(&m.protocols),
        sport: m.sport.as_ref().map(port_config),
        dport: m.dport.as_ref().map(port_config),
        icmp_type: entries(&m.icmp_types),
        state: entries(&m.state.iter().map(|s| s.word()).collect::<Vec<_>>()),
        limit: m.limit.map(|l| l.rate),
        burst: m
            .limit
            .map(|l| l.burst)
            .filter(|b| *b != Limit::DEFAULT_BURST),
        counter: m.counter,
        log: m.log.clone(),
        reject_with,
        to,
        comment: m.comment.clone(),
        raw: None,
    }
}

fn if_config(m: &Option<IfMatch>) -> (Option<Name>, Option<Entries>) {
    match m {
        None => (None, None),
        Some(IfMatch::Zone(z)) => (Some(z.clone()), None),
        Some(IfMatch::Names(n)) => (None, entries(n)),
    }
}

fn addr_config(a: &AddrMatch) -> Entries {
    match a {
        AddrMatch::Set(name, _) => Entries(vec![format!("@{name}")]),
        AddrMatch::List(l) => Entries(l.entries()),
    }
}

fn port_config(p: &PortMatch) -> Entries {
    match p {
        PortMatch::Set(name) => Entries(vec![format!("@{name}")]),
        PortMatch::List(l) => Entries(l.entries()),
    }
}
