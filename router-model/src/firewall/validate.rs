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

mod rules;
use rules::Ctx;

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
        let mut b = Builder::new(self, base);
        b.raw();
        b.zones();
        b.sets();
        b.chains();
        b.standard_chains();
        b.rules();
        b.drop_unused_nat();
        b.tables();
        if b.ck.problems.is_empty() {
            Ok(b.fw)
        } else {
            Err(b.ck.problems)
        }
    }
}

/// The section being checked, one phase per method, in the order `validate` runs them.
struct Builder<'a> {
    cfg: &'a FirewallConfig,
    base: &'a [Seg],
    ck: Checker,
    fw: Firewall,
    raw: Option<&'a str>,
    raw_sets: BTreeSet<String>,
    raw_chains: BTreeSet<String>,
}

impl<'a> Builder<'a> {
    fn new(cfg: &'a FirewallConfig, base: &'a [Seg]) -> Self {
        let raw = cfg.raw.as_deref().map(str::trim).filter(|r| !r.is_empty());
        Builder {
            cfg,
            base,
            ck: Checker {
                problems: Vec::new(),
            },
            fw: Firewall::default(),
            raw,
            raw_sets: raw.map(|r| raw_declared(r, "set")).unwrap_or_default(),
            raw_chains: raw.map(|r| raw_declared(r, "chain")).unwrap_or_default(),
        }
    }

    fn path(&self, segs: &[Seg]) -> Vec<Seg> {
        [self.base, segs].concat()
    }

    /// `firewall.raw`: confined to the agent's table, and its names within the comment.
    fn raw(&mut self) {
        if let Some(r) = self.raw {
            self.fw.raw = Some(r.to_owned());
            self.fw.origins.raw = Some(at(self.base, "raw"));
            // Only objects inside the agent's table: no `}` closing it, no commands.
            if let Err(e) = super::confine::check_block(r) {
                self.ck.report(&at(self.base, "raw"), e.to_string());
            }
        }
        // The table's comment lists raw names and kept tables beside the prefix and the
        // transaction's marker (about 50 bytes); nft caps comments at 128.
        let names: usize = self
            .raw_sets
            .iter()
            .chain(&self.raw_chains)
            .map(|n| n.len() + 1)
            .sum::<usize>()
            + self
                .cfg
                .tables
                .iter()
                .map(|t| t.name.as_str().len() + 8)
                .sum::<usize>();
        if names + 52 > 128 {
            self.ck.report(
                self.base,
                "too many objects in firewall.raw and [[firewall.table]] together: their names must fit in 128 bytes (the agent's table comment); merge them or shorten the names",
            );
        }
    }

    fn zones(&mut self) {
        for (name, z) in &self.cfg.zones {
            let path = self.path(&[key("zone"), key(name.as_str()), key("interfaces")]);
            let mut ifs: Vec<IfName> = Vec::new();
            for e in &z.interfaces.0 {
                match e.parse::<IfName>() {
                    Ok(n) => ifs.push(n),
                    Err(m) => self.ck.report(&path, m),
                }
            }
            ifs.sort();
            ifs.dedup();
            self.fw.zones.insert(name.clone(), ifs);
        }
    }

    fn sets(&mut self) {
        for (name, s) in &self.cfg.sets {
            let path = self.path(&[key("set"), key(name.as_str())]);
            if name.as_str().starts_with(ZONE_SET_PREFIX) {
                self.ck.report(
                    &path,
                    format!("set names starting with {ZONE_SET_PREFIX:?} are reserved for zones"),
                );
                continue;
            }
            if self.raw_sets.contains(name.as_str()) {
                self.ck.report(
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
                    self.fw.sets.insert(name.clone(), e);
                }
                Err(m) => self.ck.report(&at(&path, "elements"), m),
            }
        }
    }

    /// `[firewall.chain.NAME]`: the custom chains, base chains when they have a hook.
    fn chains(&mut self) {
        for (name, c) in &self.cfg.chains {
            let path = self.path(&[key("chain"), key(name.as_str())]);
            if standard_chain(name.as_str()).is_some() {
                self.ck.report(
                    &path,
                    format!("{name} is a standard chain; it needs no [firewall.chain] entry"),
                );
                continue;
            }
            if self.raw_chains.contains(name.as_str()) {
                self.ck.report(
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
                        self.ck.report(
                            &path,
                            "type, priority and policy need a hook; without one the chain is reached only by jump or goto",
                        );
                    }
                    None
                }
            };
            self.fw.chains.insert(
                name.clone(),
                Chain {
                    base: base_chain,
                    rules: Vec::new(),
                },
            );
        }
    }

    /// input, forward, output and the NAT chains, unless raw text declares them.
    fn standard_chains(&mut self) {
        for (name, kind, hook, priority) in STANDARD_CHAINS {
            if self.raw_chains.contains(name) {
                continue;
            }
            let policy = match name {
                "input" => self.cfg.input,
                "forward" => self.cfg.forward,
                "output" => self.cfg.output,
                _ => Policy::Accept,
            };
            self.fw.chains.insert(
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
    }

    /// `[[firewall.rule]]` and `[[firewall.nat]]`, each checked against its chain.
    fn rules(&mut self) {
        let custom_chains: BTreeSet<String> = self
            .fw
            .chains
            .keys()
            .filter(|n| standard_chain(n.as_str()).is_none())
            .map(|n| n.as_str().to_owned())
            .chain(self.raw_chains.iter().cloned())
            .collect();
        let ctx = Ctx {
            fw_sets: &self.fw.sets,
            zones: &self.fw.zones,
            custom_chains: &custom_chains,
            raw_sets: &self.raw_sets,
            raw_chains: &self.raw_chains,
        };
        let mut placed: Vec<(Name, Rule, Vec<Seg>)> = Vec::new();
        for (list, entries) in [("rule", &self.cfg.rules), ("nat", &self.cfg.nat)] {
            for (i, r) in entries.iter().enumerate() {
                let path = [self.base.to_vec(), vec![key(list), Seg::Index(i)]].concat();
                if let Some((chain, rule)) = ctx.rule(&mut self.ck, &path, r, list == "nat") {
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
            if let Some(c) = self.fw.chains.get_mut(&chain) {
                self.fw.origins.rules.insert((chain, c.rules.len()), path);
                c.rules.push(rule);
            }
        }
    }

    /// NAT chains exist only when something uses them.
    fn drop_unused_nat(&mut self) {
        for nat in ["prerouting", "postrouting"] {
            let n = Name::from_standard(nat);
            if self.fw.chains.get(&n).is_some_and(|c| c.rules.is_empty()) {
                self.fw.chains.remove(&n);
            }
        }
    }

    /// `[[firewall.table]]`: each exactly the one table it names, never the agent's own.
    fn tables(&mut self) {
        let mut seen = BTreeSet::new();
        for (i, t) in self.cfg.tables.iter().enumerate() {
            let path = self.path(&[key("table"), Seg::Index(i)]);
            let kept = KeptTable {
                family: t.family,
                name: t.name.clone(),
                ruleset: t.ruleset.trim().to_owned(),
            };
            // Exactly the one table the entry names, nothing after it.
            if let Err(e) =
                super::confine::check_table(&t.ruleset, t.family.word(), t.name.as_str())
            {
                self.ck.report(&at(&path, "ruleset"), e.to_string());
            }
            if t.family == TableFamily::Inet && t.name.as_str() == TABLE {
                self.ck
                    .report(&path, format!("inet {TABLE} is the agent's own table"));
            } else if !seen.insert(kept.id()) {
                self.ck
                    .report(&path, format!("table {} is listed twice", kept.id()));
            } else {
                self.fw.origins.tables.push(path);
                self.fw.tables.push(kept);
            }
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
