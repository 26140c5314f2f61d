//! Semantic validation: a [`Config`] becomes a [`ValidConfig`] holding the resolved
//! [`NetState`], or a list of every problem found, each at its path in the config.
//!
//! One module per concern: [`interfaces`] (links, kinds, membership, references,
//! addresses), [`routes`] (expansion of prefix lists, duplicates, gateways, next hops),
//! [`rules`] and [`sysctls`].

mod interfaces;
mod routes;
mod rules;
mod sysctls;

use std::collections::{BTreeMap, HashMap};

use super::error::{Problem, Seg};
use super::state::NetState;
use super::types::TableRef;
use super::Config;

/// A config that passed validation, with its resolved state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig {
    pub config: Config,
    pub state: NetState,
    /// None when the config has no `[firewall]`: then the agent's table must not exist.
    pub firewall: Option<super::firewall::Firewall>,
    /// None when the config has no `[bgp]`: then the agent leaves BIRD alone.
    pub bgp: Option<super::bgp::Bgp>,
}

/// Collects problems with the path of the value being checked.
pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
}

impl Checker {
    pub(super) fn report(&mut self, path: &[Seg], message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_vec(),
            message: message.into(),
        });
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn at(base: &[Seg], more: &[&str]) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend(more.iter().map(|k| key(k)));
    p
}

impl Config {
    /// Checks everything that types alone cannot and resolves names to numbers.
    pub fn validate(self) -> Result<ValidConfig, Vec<Problem>> {
        let mut ck = Checker {
            problems: Vec::new(),
        };
        if let Some(h) = &self.hostname {
            check_hostname(&mut ck, h);
        }
        self.check_sysctls(&mut ck);
        let tables = self.check_tables(&mut ck);
        let links = self.check_interfaces(&mut ck, &tables);
        let routes = self.check_routes(&mut ck, &tables, &links);
        let rules = self.check_rules(&mut ck, &tables, &links);
        let firewall = match &self.firewall {
            None => None,
            Some(f) => match f.validate(&[key("firewall")]) {
                Ok(fw) => Some(fw),
                Err(p) => {
                    ck.problems.extend(p);
                    None
                }
            },
        };
        let bgp = self.bgp.as_ref().and_then(|b| {
            b.validate(&[key("bgp")])
                .map_err(|p| ck.problems.extend(p))
                .ok()
        });
        if !ck.problems.is_empty() {
            return Err(ck.problems);
        }
        let state = NetState {
            hostname: self.hostname.clone(),
            sysctl: self.sysctl.to_values(),
            links,
            routes,
            rules,
            table_names: tables,
        };
        Ok(ValidConfig {
            config: self,
            state,
            firewall,
            bgp,
        })
    }

    fn check_tables(&self, ck: &mut Checker) -> BTreeMap<String, u32> {
        let mut by_id: HashMap<u32, &str> = HashMap::new();
        for (name, id) in &self.tables {
            let path = [key("tables"), key(name)];
            if TableRef::builtin(name).is_some() {
                ck.report(
                    &path,
                    format!("{name:?} is a built-in table name; pick another name"),
                );
            } else if *id == 0 || [TableRef::MAIN, TableRef::LOCAL, TableRef::DEFAULT].contains(id)
            {
                ck.report(
                    &path,
                    format!("table {id} is reserved; use 1..=252 or 256 and above"),
                );
            } else if let Some(other) = by_id.insert(*id, name) {
                ck.report(&path, format!("table {id} is already named {other:?}"));
            }
        }
        self.tables.clone()
    }
}

fn check_hostname(ck: &mut Checker, h: &str) {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        ck.report(&[key("hostname")], format!("{h:?} is not a hostname; use letters, digits and '-', dot-separated, at most 64 bytes"));
    }
}

fn resolve_table(
    ck: &mut Checker,
    path: &[Seg],
    t: &TableRef,
    tables: &BTreeMap<String, u32>,
) -> Option<u32> {
    match t {
        TableRef::Id(n) => Some(*n),
        TableRef::Name(n) => match TableRef::builtin(n).or_else(|| tables.get(n).copied()) {
            Some(id) => Some(id),
            None => {
                ck.report(path, format!("unknown table {n:?}; use a number, main, local, default, or declare it under [tables]"));
                None
            }
        },
    }
}
