//! One rule of the firewall, checked against what it may refer to: its matches, its
//! verdict, the family its addresses and sets have.

use super::*;

/// What rules may refer to.
pub(super) struct Ctx<'a> {
    pub(super) fw_sets: &'a BTreeMap<Name, SetElements>,
    pub(super) zones: &'a BTreeMap<Name, Vec<IfName>>,
    pub(super) custom_chains: &'a BTreeSet<String>,
    pub(super) raw_sets: &'a BTreeSet<String>,
    pub(super) raw_chains: &'a BTreeSet<String>,
}

/// A reference to a named set: `@name`.
fn set_ref(e: &Entries) -> Option<Result<Name, String>> {
    match e.0.as_slice() {
        [one] if one.starts_with('@') => Some(one[1..].parse()),
        _ => None,
    }
}

impl Ctx<'_> {
    pub(super) fn rule(
        &self,
        ck: &mut Checker,
        path: &[Seg],
        r: &FwRuleConfig,
        nat: bool,
    ) -> Option<(Name, Rule)> {
        let before = ck.problems.len();
        let chain = self.chain_of(ck, path, r, nat)?;
        if let Some(raw) = &r.raw {
            return raw_rule(ck, path, r, raw)
                .filter(|_| ck.problems.len() == before)
                .map(|raw| (chain, raw));
        }
        let mut m = ModelRule {
            iif: self.if_match(ck, path, "in", &r.in_zone, &r.in_interface),
            oif: self.if_match(ck, path, "out", &r.out_zone, &r.out_interface),
            ..ModelRule::default()
        };
        check_directions(ck, path, &chain, &m);
        m.saddr = self.addr_match(ck, &at(path, "source"), r.source.as_ref());
        m.daddr = self.addr_match(ck, &at(path, "destination"), r.destination.as_ref());
        if let Some(p) = &r.protocol {
            m.protocols = protocols(ck, &at(path, "protocol"), p);
        }
        for (field, spec, slot) in [
            ("sport", &r.sport, &mut m.sport),
            ("dport", &r.dport, &mut m.dport),
        ] {
            let Some(spec) = spec else { continue };
            let p = at(path, field);
            if m.protocols.is_empty() || !m.protocols.iter().all(|p| p.has_ports()) {
                ck.report(
                    &p,
                    "ports need protocol = \"tcp\", \"udp\", \"sctp\" or a list of them",
                );
            }
            *slot = self.port_match(ck, &p, spec);
        }
        if let Some(types) = &r.icmp_type {
            m.icmp_types = icmp_types(ck, &at(path, "icmp_type"), types, &m.protocols);
        }
        if let Some(states) = &r.state {
            m.state = ct_states(ck, &at(path, "state"), states);
        }
        match (r.limit, r.burst) {
            (Some(rate), burst) => {
                m.limit = Some(Limit {
                    rate,
                    burst: burst.unwrap_or(Limit::DEFAULT_BURST),
                })
            }
            (None, Some(_)) => ck.report(&at(path, "burst"), "burst needs a limit"),
            (None, None) => {}
        }
        m.counter = r.counter;
        m.log = r.log.clone();
        if let Some(c) = &r.comment {
            if let Err(msg) = check_text(c, 128, "comment") {
                ck.report(&at(path, "comment"), msg);
            }
            m.comment = Some(c.clone());
        }
        m.verdict = self.verdict(ck, path, r, &m)?;
        m.family = self.family(ck, path, r, &m);
        (ck.problems.len() == before).then(|| (chain, Rule::Model(Box::new(m))))
    }

    /// `sport`/`dport`: a list of ports and ranges, or `@set` of ports.
    fn port_match(&self, ck: &mut Checker, p: &[Seg], spec: &Entries) -> Option<PortMatch> {
        match set_ref(spec) {
            Some(Ok(name)) => match self.fw_sets.get(&name) {
                Some(SetElements::Port(_)) => Some(PortMatch::Set(name)),
                Some(_) => {
                    ck.report(p, format!("set {name} holds addresses, not ports"));
                    None
                }
                None if self.raw_sets.contains(name.as_str()) => Some(PortMatch::Set(name)),
                None => {
                    ck.report(p, format!("no set named {name} in [firewall.set]"));
                    None
                }
            },
            Some(Err(msg)) => {
                ck.report(p, msg);
                None
            }
            None if spec.0.is_empty() => {
                ck.report(p, "the list is empty");
                None
            }
            None => match parse_ports(spec) {
                Ok(l) => Some(PortMatch::List(l)),
                Err(msg) => {
                    ck.report(p, msg);
                    None
                }
            },
        }
    }

    fn chain_of(
        &self,
        ck: &mut Checker,
        path: &[Seg],
        r: &FwRuleConfig,
        nat: bool,
    ) -> Option<Name> {
        let p = at(path, "chain");
        let chain = match (&r.chain, nat, &r.action) {
            (Some(c), ..) => c.clone(),
            (None, true, Some(Action::Masquerade | Action::Snat)) => {
                Name::from_standard("postrouting")
            }
            (None, true, Some(Action::Dnat | Action::Redirect)) => {
                Name::from_standard("prerouting")
            }
            (None, true, _) => {
                ck.report(
                    path,
                    "say which chain: chain = \"prerouting\" or \"postrouting\"",
                );
                return None;
            }
            (None, false, _) => {
                ck.report(path, "say which chain: chain = \"input\", \"forward\", \"output\" or a chain of [firewall.chain]");
                return None;
            }
        };
        let name = chain.as_str();
        let is_nat_chain = name == "prerouting" || name == "postrouting";
        if self.raw_chains.contains(name) && r.raw.is_none() {
            ck.report(
                &p,
                format!("chain {name} is declared in firewall.raw; put its rules there"),
            );
            return None;
        }
        let known = standard_chain(name).is_some() || self.custom_chains.contains(name);
        if !known {
            ck.report(&p, format!("no chain named {name}; the standard chains are input, forward, output, prerouting and postrouting, others go in [firewall.chain]"));
            return None;
        }
        if !nat && is_nat_chain {
            ck.report(
                &p,
                format!("{name} holds NAT rules; put this rule in [[firewall.nat]]"),
            );
            return None;
        }
        if nat && standard_chain(name).is_some() && !is_nat_chain {
            ck.report(
                &p,
                format!("{name} is a filter chain; put this rule in [[firewall.rule]]"),
            );
            return None;
        }
        Some(chain)
    }

    fn if_match(
        &self,
        ck: &mut Checker,
        path: &[Seg],
        dir: &str,
        zone: &Option<Name>,
        names: &Option<Entries>,
    ) -> Option<IfMatch> {
        match (zone, names) {
            (Some(_), Some(_)) => {
                ck.report(
                    path,
                    format!("{dir}_zone and {dir}_interface exclude each other"),
                );
                None
            }
            (Some(z), None) => {
                if self.zones.contains_key(z) {
                    Some(IfMatch::Zone(z.clone()))
                } else {
                    ck.report(
                        &at(path, &format!("{dir}_zone")),
                        format!("no zone named {z} in [firewall.zone]"),
                    );
                    None
                }
            }
            (None, Some(e)) => {
                let p = at(path, &format!("{dir}_interface"));
                let mut v: Vec<IfName> = Vec::new();
                for n in &e.0 {
                    match n.parse() {
                        Ok(n) => v.push(n),
                        Err(m) => ck.report(&p, m),
                    }
                }
                if e.0.is_empty() {
                    ck.report(&p, "the list is empty");
                }
                v.sort();
                v.dedup();
                Some(IfMatch::Names(v))
            }
            (None, None) => None,
        }
    }

    fn addr_match(&self, ck: &mut Checker, p: &[Seg], e: Option<&Entries>) -> Option<AddrMatch> {
        let e = e?;
        match set_ref(e) {
            Some(Ok(name)) => match self.fw_sets.get(&name) {
                Some(SetElements::Addr(l)) => Some(AddrMatch::Set(name, l.family)),
                Some(_) => {
                    ck.report(p, format!("set {name} holds ports, not addresses"));
                    None
                }
                None if self.raw_sets.contains(name.as_str()) => {
                    ck.report(p, format!("set {name} is declared in firewall.raw, so its address family is unknown; use a raw rule"));
                    None
                }
                None => {
                    ck.report(p, format!("no set named {name} in [firewall.set]"));
                    None
                }
            },
            Some(Err(m)) => {
                ck.report(p, m);
                None
            }
            None => match AddrList::parse(e.0.iter().map(String::as_str)) {
                Ok(l) => Some(AddrMatch::List(l)),
                Err(m) => {
                    ck.report(p, m);
                    None
                }
            },
        }
    }

    fn verdict(
        &self,
        ck: &mut Checker,
        path: &[Seg],
        r: &FwRuleConfig,
        m: &ModelRule,
    ) -> Option<Verdict> {
        let Some(action) = &r.action else {
            ck.report(
                path,
                "say what to do: action = \"accept\", \"drop\", \"reject\", ...",
            );
            return None;
        };
        let p = at(path, "action");
        let nat_chain = matches!(
            r.chain.as_ref().map(Name::as_str),
            Some("prerouting" | "postrouting")
        ) || (r.chain.is_none() && action.is_nat());
        if action.is_nat()
            && !nat_chain
            && r.chain
                .as_ref()
                .is_some_and(|c| standard_chain(c.as_str()).is_some())
        {
            ck.report(&p, format!("{action} belongs in [[firewall.nat]]"));
            return None;
        }
        if r.reject_with.is_some() && *action != Action::Reject {
            ck.report(
                &at(path, "reject_with"),
                "reject_with goes with action = \"reject\"",
            );
        }
        let needs_to = matches!(action, Action::Snat | Action::Dnat | Action::Redirect);
        if r.to.is_some() && !needs_to {
            ck.report(
                &at(path, "to"),
                format!("{action} takes no target; drop `to`"),
            );
        }
        let chain_hook = r
            .chain
            .as_ref()
            .and_then(|c| standard_chain(c.as_str()))
            .map(|b| b.hook);
        let v = match action {
            Action::Accept => Verdict::Accept,
            Action::Drop => Verdict::Drop,
            Action::Return => Verdict::Return,
            Action::Reject => {
                let with = r.reject_with.unwrap_or(RejectWith::PortUnreachable);
                if with == RejectWith::TcpReset && m.protocols != [Protocol::TCP] {
                    ck.report(
                        &at(path, "reject_with"),
                        "tcp-reset needs protocol = \"tcp\"",
                    );
                }
                Verdict::Reject(with)
            }
            Action::Jump(c) | Action::Goto(c) => {
                if !self.custom_chains.contains(c.as_str()) {
                    ck.report(&p, format!("no chain named {c} in [firewall.chain]"));
                    return None;
                }
                if matches!(action, Action::Jump(_)) {
                    Verdict::Jump(c.clone())
                } else {
                    Verdict::Goto(c.clone())
                }
            }
            Action::Masquerade | Action::Snat | Action::Dnat | Action::Redirect => {
                return nat_verdict(ck, path, r, m, action, chain_hook)
            }
        };
        Some(v)
    }

    /// The family the rule states explicitly: only when nothing in it implies one.
    fn family(
        &self,
        ck: &mut Checker,
        path: &[Seg],
        r: &FwRuleConfig,
        m: &ModelRule,
    ) -> Option<Family> {
        let mut implied: Vec<(&str, Family)> = Vec::new();
        if let Some(a) = &m.saddr {
            implied.push(("source", a.family()));
        }
        if let Some(a) = &m.daddr {
            implied.push(("destination", a.family()));
        }
        match m.protocols.as_slice() {
            [Protocol::ICMP] => implied.push(("protocol", Family::Ipv4)),
            [Protocol::ICMPV6] => implied.push(("protocol", Family::Ipv6)),
            _ => {}
        }
        let target = match &m.verdict {
            Verdict::Snat(t) | Verdict::Dnat(t) => t.family(),
            _ => None,
        };
        let first = implied.first().copied();
        for (what, f) in implied.iter().skip(1) {
            if Some(*f) != first.map(|x| x.1) {
                ck.report(
                    path,
                    format!(
                        "{what} and {} are of different address families",
                        first.map_or("", |x| x.0)
                    ),
                );
            }
        }
        let stated = first.map(|x| x.1).or(r.family);
        if let (Some(a), Some(b)) = (stated, r.family) {
            if a != b {
                ck.report(
                    &at(path, "family"),
                    "family contradicts the rule's addresses or protocol",
                );
            }
        }
        if let (Some(t), Some(s)) = (target, stated) {
            if t != s {
                ck.report(
                    &at(path, "to"),
                    "the target's address family differs from the rule's",
                );
            }
        }
        if first.is_some() {
            None
        } else {
            // snat/dnat to an address is of one family: the rule must match only that one.
            r.family.or(target)
        }
    }
}

/// A raw rule: only `chain` and `raw`, and its text one confined rule body.
fn raw_rule(ck: &mut Checker, path: &[Seg], r: &FwRuleConfig, raw: &str) -> Option<Rule> {
    let other = FwRuleConfig {
        chain: r.chain.clone(),
        raw: r.raw.clone(),
        ..FwRuleConfig::default()
    };
    if *r != other {
        ck.report(
            path,
            "a raw rule takes only chain and raw; put everything else into the raw text",
        );
    }
    let raw = raw.trim();
    // Parsed, not pasted: one rule body, nothing nft would read as more commands.
    if let Err(e) = crate::firewall::confine::check_rule(raw) {
        ck.report(&at(path, "raw"), e.to_string());
    }
    Some(Rule::Raw(raw.to_owned()))
}

/// Interfaces a packet cannot have yet (or any more) in the chain's hook.
fn check_directions(ck: &mut Checker, path: &[Seg], chain: &Name, m: &ModelRule) {
    let hook = standard_chain(chain.as_str()).map(|b| b.hook);
    if matches!(hook, Some(Hook::Input | Hook::Prerouting)) && m.oif.is_some() {
        ck.report(
            path,
            format!("packets in {chain} have no output interface yet; drop out_zone/out_interface"),
        );
    }
    if matches!(hook, Some(Hook::Output | Hook::Postrouting)) && m.iif.is_some() {
        ck.report(
            path,
            format!("packets in {chain} have no input interface; drop in_zone/in_interface"),
        );
    }
}

fn protocols(ck: &mut Checker, p: &[Seg], list: &Entries) -> Vec<Protocol> {
    let mut out = Vec::new();
    for e in &list.0 {
        match e.parse::<Protocol>() {
            Ok(proto) => out.push(proto),
            Err(msg) => ck.report(p, msg),
        }
    }
    if list.0.is_empty() {
        ck.report(p, "the list is empty");
    }
    out.sort();
    out.dedup();
    out
}

/// ICMP or ICMPv6 type names, in the order of nft's table (canonical form).
fn icmp_types(ck: &mut Checker, p: &[Seg], types: &Entries, protocols: &[Protocol]) -> Vec<String> {
    let table: &[&str] = match protocols {
        [Protocol::ICMP] => &ICMP_TYPES,
        [Protocol::ICMPV6] => &ICMPV6_TYPES,
        _ => {
            ck.report(
                p,
                "icmp_type needs protocol = \"icmp\" or protocol = \"icmpv6\"",
            );
            &[]
        }
    };
    let mut idx: Vec<usize> = Vec::new();
    for t in &types.0 {
        match table.iter().position(|n| n == t) {
            Some(i) => idx.push(i),
            None if !table.is_empty() => ck.report(
                p,
                format!(
                    "unknown ICMP type {t:?}; expected one of: {}",
                    table.join(", ")
                ),
            ),
            None => {}
        }
    }
    if types.0.is_empty() {
        ck.report(p, "the list is empty");
    }
    idx.sort_unstable();
    idx.dedup();
    idx.into_iter().map(|i| table[i].to_owned()).collect()
}

fn ct_states(ck: &mut Checker, p: &[Seg], states: &Entries) -> Vec<CtState> {
    let mut out = Vec::new();
    for s in &states.0 {
        match CtState::from_word(s) {
            Some(s) => out.push(s),
            None => ck.report(
                p,
                format!("unknown conntrack state {s:?}; expected new, established, related, invalid or untracked"),
            ),
        }
    }
    if states.0.is_empty() {
        ck.report(p, "the list is empty");
    }
    out.sort();
    out.dedup();
    out
}

/// The NAT verdicts: each in the hook that can rewrite what it rewrites, with its target.
fn nat_verdict(
    ck: &mut Checker,
    path: &[Seg],
    r: &FwRuleConfig,
    m: &ModelRule,
    action: &Action,
    chain_hook: Option<Hook>,
) -> Option<Verdict> {
    let p = at(path, "action");
    let v = match action {
        Action::Masquerade | Action::Snat if chain_hook == Some(Hook::Prerouting) => {
            ck.report(
                &p,
                format!("{action} rewrites the source; it goes in postrouting"),
            );
            return None;
        }
        Action::Dnat | Action::Redirect if chain_hook == Some(Hook::Postrouting) => {
            ck.report(
                &p,
                format!("{action} rewrites the destination; it goes in prerouting"),
            );
            return None;
        }
        Action::Masquerade => Verdict::Masquerade,
        Action::Snat | Action::Dnat => {
            let Some(t) = r.to.filter(|t| t.addr.is_some()) else {
                ck.report(
                    &at(path, "to"),
                    format!("{action} needs to = \"ADDRESS\" or \"ADDRESS:PORT\""),
                );
                return None;
            };
            if t.port.is_some()
                && (m.protocols.is_empty() || !m.protocols.iter().all(|p| p.has_ports()))
            {
                ck.report(
                    &at(path, "to"),
                    "a port in the target needs protocol = \"tcp\", \"udp\" or \"sctp\"",
                );
            }
            if *action == Action::Snat {
                Verdict::Snat(t)
            } else {
                Verdict::Dnat(t)
            }
        }
        Action::Redirect => match r.to {
            Some(NatTarget {
                addr: None,
                port: Some(p),
            }) => Verdict::Redirect(p),
            _ => {
                ck.report(
                    &at(path, "to"),
                    "redirect needs to = \":PORT\" (a local port)",
                );
                return None;
            }
        },
        _ => return None,
    };
    Some(v)
}
