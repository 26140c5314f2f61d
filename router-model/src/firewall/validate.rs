//! `[firewall]` as written to [`Firewall`]: names resolved, lists parsed and put in
//! canonical order, and every rule checked against the chain it goes to.

use std::collections::{BTreeMap, BTreeSet};

use super::intervals::{parse_port_entry, AddrList, Entries, PortList};
use super::state::*;
use super::values::*;
use super::{FirewallConfig, FwRuleConfig};
use crate::error::{Problem, Seg};
use crate::validate::Checker;
use crate::{Family, IfName};

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn at(base: &[Seg], k: &str) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.push(key(k));
    p
}

/// Names of sets and chains declared in raw text (`set NAME {`, `chain NAME {`).
pub fn raw_declared(raw: &str, what: &str) -> BTreeSet<String> {
    let words: Vec<&str> = raw.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == what || (what == "set" && w[0] == "map"))
        .map(|w| w[1].trim_end_matches('{').to_owned())
        .collect()
}

impl FirewallConfig {
    /// Checks the section; `base` is its path in the config.
    pub fn validate(&self, base: &[Seg]) -> Result<Firewall, Vec<Problem>> {
        let mut ck = Checker {
            problems: Vec::new(),
        };
        let mut fw = Firewall::default();
        let raw = self.raw.as_deref().map(str::trim).filter(|r| !r.is_empty());
        let raw_sets = raw.map(|r| raw_declared(r, "set")).unwrap_or_default();
        let raw_chains = raw.map(|r| raw_declared(r, "chain")).unwrap_or_default();
        if let Some(r) = raw {
            fw.raw = Some(r.to_owned());
            fw.origins.raw = Some(at(base, "raw"));
            // Only objects inside the agent's table: no `}` closing it, no commands.
            if let Err(e) = super::confine::check_block(r) {
                ck.report(&at(base, "raw"), e.to_string());
            }
        }
        // The table's comment lists raw names and kept tables beside the prefix and the
        // transaction's marker (about 50 bytes); nft caps comments at 128.
        let names: usize = raw_sets
            .iter()
            .chain(&raw_chains)
            .map(|n| n.len() + 1)
            .sum::<usize>()
            + self
                .tables
                .iter()
                .map(|t| t.name.as_str().len() + 8)
                .sum::<usize>();
        if names + 52 > 128 {
            ck.report(
                base,
                "too many objects in firewall.raw and [[firewall.table]] together: their names must fit in 128 bytes (the agent's table comment); merge them or shorten the names",
            );
        }
        for (name, z) in &self.zones {
            let path = [
                base.to_vec(),
                vec![key("zone"), key(name.as_str()), key("interfaces")],
            ]
            .concat();
            let mut ifs: Vec<IfName> = Vec::new();
            for e in &z.interfaces.0 {
                match e.parse::<IfName>() {
                    Ok(n) => ifs.push(n),
                    Err(m) => ck.report(&path, m),
                }
            }
            ifs.sort();
            ifs.dedup();
            fw.zones.insert(name.clone(), ifs);
        }
        for (name, s) in &self.sets {
            let path = [base.to_vec(), vec![key("set"), key(name.as_str())]].concat();
            if name.as_str().starts_with(ZONE_SET_PREFIX) {
                ck.report(
                    &path,
                    format!("set names starting with {ZONE_SET_PREFIX:?} are reserved for zones"),
                );
                continue;
            }
            if raw_sets.contains(name.as_str()) {
                ck.report(
                    &path,
                    format!("set {name} is also declared in firewall.raw"),
                );
            }
            let elements = match s.kind.family() {
                Some(f) => parse_addrs(&s.elements, f).map(SetElements::Addr),
                None => parse_ports(&s.elements).map(SetElements::Port),
            };
            match elements {
                Ok(e) => {
                    fw.sets.insert(name.clone(), e);
                }
                Err(m) => ck.report(&at(&path, "elements"), m),
            }
        }
        for (name, c) in &self.chains {
            let path = [base.to_vec(), vec![key("chain"), key(name.as_str())]].concat();
            if standard_chain(name.as_str()).is_some() {
                ck.report(
                    &path,
                    format!("{name} is a standard chain; it needs no [firewall.chain] entry"),
                );
                continue;
            }
            if raw_chains.contains(name.as_str()) {
                ck.report(
                    &path,
                    format!("chain {name} is also declared in firewall.raw"),
                );
            }
            let base_chain = match c.hook {
                Some(hook) => Some(BaseChain {
                    kind: c.kind.unwrap_or(ChainType::Filter),
                    hook,
                    priority: c.priority.unwrap_or(0),
                    policy: c.policy.unwrap_or_default(),
                }),
                None => {
                    if c.kind.is_some() || c.priority.is_some() || c.policy.is_some() {
                        ck.report(
                            &path,
                            "type, priority and policy need a hook; without one the chain is reached only by jump or goto",
                        );
                    }
                    None
                }
            };
            fw.chains.insert(
                name.clone(),
                Chain {
                    base: base_chain,
                    rules: Vec::new(),
                },
            );
        }
        for (name, kind, hook, priority) in STANDARD_CHAINS {
            if raw_chains.contains(name) {
                continue;
            }
            let policy = match name {
                "input" => self.input,
                "forward" => self.forward,
                "output" => self.output,
                _ => Policy::Accept,
            };
            fw.chains.insert(
                Name::from_standard(name),
                Chain {
                    base: Some(BaseChain {
                        kind,
                        hook,
                        priority,
                        policy,
                    }),
                    rules: Vec::new(),
                },
            );
        }
        let custom_chains: BTreeSet<String> = fw
            .chains
            .keys()
            .filter(|n| standard_chain(n.as_str()).is_none())
            .map(|n| n.as_str().to_owned())
            .chain(raw_chains.iter().cloned())
            .collect();
        let ctx = Ctx {
            fw_sets: &fw.sets,
            zones: &fw.zones,
            custom_chains: &custom_chains,
            raw_sets: &raw_sets,
            raw_chains: &raw_chains,
        };
        let mut placed: Vec<(Name, Rule, Vec<Seg>)> = Vec::new();
        for (list, entries) in [("rule", &self.rules), ("nat", &self.nat)] {
            for (i, r) in entries.iter().enumerate() {
                let path = [base.to_vec(), vec![key(list), Seg::Index(i)]].concat();
                if let Some((chain, rule)) = ctx.rule(&mut ck, &path, r, list == "nat") {
                    // nft's complaints about a raw rule point at its text.
                    let origin = match rule {
                        Rule::Raw(_) => at(&path, "raw"),
                        Rule::Model(_) => path,
                    };
                    placed.push((chain, rule, origin));
                }
            }
        }
        for (chain, rule, path) in placed {
            if let Some(c) = fw.chains.get_mut(&chain) {
                fw.origins.rules.insert((chain, c.rules.len()), path);
                c.rules.push(rule);
            }
        }
        // NAT chains exist only when something uses them.
        for nat in ["prerouting", "postrouting"] {
            let n = Name::from_standard(nat);
            if fw.chains.get(&n).is_some_and(|c| c.rules.is_empty()) {
                fw.chains.remove(&n);
            }
        }
        let mut seen = BTreeSet::new();
        for (i, t) in self.tables.iter().enumerate() {
            let path = [base.to_vec(), vec![key("table"), Seg::Index(i)]].concat();
            let kept = KeptTable {
                family: t.family,
                name: t.name.clone(),
                ruleset: t.ruleset.trim().to_owned(),
            };
            // Exactly the one table the entry names, nothing after it.
            if let Err(e) =
                super::confine::check_table(&t.ruleset, t.family.word(), t.name.as_str())
            {
                ck.report(&at(&path, "ruleset"), e.to_string());
            }
            if t.family == TableFamily::Inet && t.name.as_str() == TABLE {
                ck.report(&path, format!("inet {TABLE} is the agent's own table"));
            } else if !seen.insert(kept.id()) {
                ck.report(&path, format!("table {} is listed twice", kept.id()));
            } else {
                fw.origins.tables.push(path);
                fw.tables.push(kept);
            }
        }
        if ck.problems.is_empty() {
            Ok(fw)
        } else {
            Err(ck.problems)
        }
    }
}

fn parse_addrs(e: &Entries, f: Family) -> Result<AddrList, String> {
    if e.0.is_empty() {
        return Ok(AddrList::from_intervals(f, Vec::new()));
    }
    let l = AddrList::parse(e.0.iter().map(String::as_str))?;
    if l.family != f {
        return Err(format!(
            "the set holds {} addresses; these are not",
            if f == Family::Ipv4 { "IPv4" } else { "IPv6" }
        ));
    }
    Ok(l)
}

fn parse_ports(e: &Entries) -> Result<PortList, String> {
    e.0.iter()
        .enumerate()
        .map(|(i, s)| parse_port_entry(s).map_err(|m| format!("entry #{}: {m}", i + 1)))
        .collect::<Result<Vec<_>, _>>()
        .map(PortList::from_intervals)
}

/// What rules may refer to.
struct Ctx<'a> {
    fw_sets: &'a BTreeMap<Name, SetElements>,
    zones: &'a BTreeMap<Name, Vec<IfName>>,
    custom_chains: &'a BTreeSet<String>,
    raw_sets: &'a BTreeSet<String>,
    raw_chains: &'a BTreeSet<String>,
}

/// A reference to a named set: `@name`.
fn set_ref(e: &Entries) -> Option<Result<Name, String>> {
    match e.0.as_slice() {
        [one] if one.starts_with('@') => Some(one[1..].parse()),
        _ => None,
    }
}

impl Ctx<'_> {
    fn rule(
        &self,
        ck: &mut Checker,
        path: &[Seg],
        r: &FwRuleConfig,
        nat: bool,
    ) -> Option<(Name, Rule)> {
        let before = ck.problems.len();
        let chain = self.chain_of(ck, path, r, nat)?;
        if let Some(raw) = &r.raw {
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
            if let Err(e) = super::confine::check_rule(raw) {
                ck.report(&at(path, "raw"), e.to_string());
            }
            return (ck.problems.len() == before).then(|| (chain, Rule::Raw(raw.to_owned())));
        }
        let hook = standard_chain(chain.as_str()).map(|b| b.hook);
        let mut m = ModelRule {
            iif: self.if_match(ck, path, "in", &r.in_zone, &r.in_interface),
            oif: self.if_match(ck, path, "out", &r.out_zone, &r.out_interface),
            ..ModelRule::default()
        };
        if matches!(hook, Some(Hook::Input | Hook::Prerouting)) && m.oif.is_some() {
            ck.report(
                path,
                format!(
                    "packets in {chain} have no output interface yet; drop out_zone/out_interface"
                ),
            );
        }
        if matches!(hook, Some(Hook::Output | Hook::Postrouting)) && m.iif.is_some() {
            ck.report(
                path,
                format!("packets in {chain} have no input interface; drop in_zone/in_interface"),
            );
        }
        m.saddr = self.addr_match(ck, &at(path, "source"), r.source.as_ref());
        m.daddr = self.addr_match(ck, &at(path, "destination"), r.destination.as_ref());
        if let Some(p) = &r.protocol {
            for e in &p.0 {
                match e.parse::<Protocol>() {
                    Ok(p) => m.protocols.push(p),
                    Err(msg) => ck.report(&at(path, "protocol"), msg),
                }
            }
            if p.0.is_empty() {
                ck.report(&at(path, "protocol"), "the list is empty");
            }
            m.protocols.sort();
            m.protocols.dedup();
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
            *slot = match set_ref(spec) {
                Some(Ok(name)) => match self.fw_sets.get(&name) {
                    Some(SetElements::Port(_)) => Some(PortMatch::Set(name)),
                    Some(_) => {
                        ck.report(&p, format!("set {name} holds addresses, not ports"));
                        None
                    }
                    None if self.raw_sets.contains(name.as_str()) => Some(PortMatch::Set(name)),
                    None => {
                        ck.report(&p, format!("no set named {name} in [firewall.set]"));
                        None
                    }
                },
                Some(Err(msg)) => {
                    ck.report(&p, msg);
                    None
                }
                None if spec.0.is_empty() => {
                    ck.report(&p, "the list is empty");
                    None
                }
                None => match parse_ports(spec) {
                    Ok(l) => Some(PortMatch::List(l)),
                    Err(msg) => {
                        ck.report(&p, msg);
                        None
                    }
                },
            };
        }
        if let Some(types) = &r.icmp_type {
            let p = at(path, "icmp_type");
            let table: &[&str] = match m.protocols.as_slice() {
                [Protocol::ICMP] => &ICMP_TYPES,
                [Protocol::ICMPV6] => &ICMPV6_TYPES,
                _ => {
                    ck.report(
                        &p,
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
                        &p,
                        format!(
                            "unknown ICMP type {t:?}; expected one of: {}",
                            table.join(", ")
                        ),
                    ),
                    None => {}
                }
            }
            if types.0.is_empty() {
                ck.report(&p, "the list is empty");
            }
            idx.sort_unstable();
            idx.dedup();
            m.icmp_types = idx.into_iter().map(|i| table[i].to_owned()).collect();
        }
        if let Some(states) = &r.state {
            for s in &states.0 {
                match CtState::from_word(s) {
                    Some(s) => m.state.push(s),
                    None => ck.report(
                        &at(path, "state"),
                        format!("unknown conntrack state {s:?}; expected new, established, related, invalid or untracked"),
                    ),
                }
            }
            if states.0.is_empty() {
                ck.report(&at(path, "state"), "the list is empty");
            }
            m.state.sort();
            m.state.dedup();
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
        let target = || -> Option<NatTarget> {
            let t = r.to?;
            t.addr.map(|_| t)
        };
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
                let Some(t) = target() else {
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

/// Validation's view of a firewall, to put single rules in canonical form.
#[derive(Debug)]
pub struct Canon<'a> {
    fw: &'a Firewall,
    raw_sets: BTreeSet<String>,
    raw_chains: BTreeSet<String>,
    custom_chains: BTreeSet<String>,
}

impl Firewall {
    pub fn canon(&self) -> Canon<'_> {
        let raw = self.raw.as_deref().unwrap_or("");
        let raw_chains = raw_declared(raw, "chain");
        Canon {
            fw: self,
            raw_sets: raw_declared(raw, "set"),
            custom_chains: self
                .chains
                .keys()
                .filter(|n| standard_chain(n.as_str()).is_none())
                .map(|n| n.as_str().to_owned())
                .chain(raw_chains.iter().cloned())
                .collect(),
            raw_chains,
        }
    }
}

impl Canon<'_> {
    /// `m` rendered as config and validated again: equal to `m` exactly when `m` is in the
    /// canonical form validation makes, i.e. when the config can say this rule.
    pub fn rule(&self, chain: &Name, m: &ModelRule) -> Option<ModelRule> {
        let ctx = Ctx {
            fw_sets: &self.fw.sets,
            zones: &self.fw.zones,
            custom_chains: &self.custom_chains,
            raw_sets: &self.raw_sets,
            raw_chains: &self.raw_chains,
        };
        let nat = standard_chain(chain.as_str()).is_some_and(|b| b.kind == ChainType::Nat);
        let config = super::render::rule_config(chain, &Rule::Model(Box::new(m.clone())), nat);
        let mut ck = Checker {
            problems: Vec::new(),
        };
        match ctx.rule(&mut ck, &[], &config, nat)? {
            (c, Rule::Model(again)) if c == *chain => Some(*again),
            _ => None,
        }
    }
}

impl Name {
    /// A name known to be valid.
    pub fn from_standard(s: &str) -> Name {
        s.parse()
            .unwrap_or_else(|e| panic!("standard name {s:?}: {e}"))
    }
}
