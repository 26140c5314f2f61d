//! The firewall's plan: what changes, for people, and the transactions that make the
//! change and undo it, both built before anything is written.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::compile::{compile, rule_object};
use super::script::{statements_text, transaction};
use super::{Current, FirewallError, Transaction};
use crate::model::firewall::*;
use crate::model::Seg;

/// One change, as `plan` and `apply` print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add(String),
    Remove(String),
    Modify(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Change::Add(s) => write!(f, "+ firewall {s}"),
            Change::Remove(s) => write!(f, "- firewall {s}"),
            Change::Modify(s) => write!(f, "~ firewall {s}"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirewallPlan {
    pub changes: Vec<Change>,
    /// None when the kernel already matches.
    pub apply: Option<Transaction>,
    pub revert: Option<Transaction>,
}

impl FirewallPlan {
    pub fn is_empty(&self) -> bool {
        self.apply.is_none()
    }
}

impl fmt::Display for FirewallPlan {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

fn ids(fw: &Firewall) -> Vec<String> {
    fw.tables.iter().map(KeptTable::id).collect()
}

/// The agent's own table is the same in both (kept tables compared by name only).
pub fn same_owned(a: &Firewall, b: &Firewall) -> bool {
    a.zones == b.zones
        && a.sets == b.sets
        && a.chains == b.chains
        && a.raw == b.raw
        && ids(a) == ids(b)
}

/// [`same_owned`], but raw rules only by place: nft prints raw text in its own canonical
/// form (`meta mark 0x1` comes back as `meta mark 0x00000001`), so after an apply only
/// their positions can be checked.
pub fn same_owned_but_raw_text(a: &Firewall, b: &Firewall) -> bool {
    let shape = |f: &Firewall| -> Vec<(Name, Option<BaseChain>, Vec<Option<Rule>>)> {
        f.chains
            .iter()
            .map(|(n, c)| {
                let rules = c
                    .rules
                    .iter()
                    .map(|r| match r {
                        Rule::Raw(_) => None,
                        m => Some(m.clone()),
                    })
                    .collect();
                (n.clone(), c.base, rules)
            })
            .collect()
    };
    a.zones == b.zones && a.sets == b.sets && ids(a) == ids(b) && shape(a) == shape(b)
}

/// nft prints a table in one layout; a config may carry another.
fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn plan(desired: Option<&Firewall>, current: &Current) -> Result<FirewallPlan, FirewallError> {
    let mut changes = Vec::new();
    let owned_same = match (desired, &current.firewall) {
        (None, None) => true,
        (Some(d), Some(c)) => same_owned(d, c),
        _ => false,
    };
    if !owned_same {
        describe(desired, current.firewall.as_ref(), &mut changes)?;
    }
    let mut replace: Vec<(&KeptTable, Option<&Vec<Seg>>)> = Vec::new();
    let mut undo_tables: Vec<KeptTable> = Vec::new();
    let mut drop_tables: Vec<String> = Vec::new();
    if let Some(d) = desired {
        for (i, t) in d.tables.iter().enumerate() {
            let id = t.id();
            match current.tables.get(&id) {
                Some(now) if normalized(now) == normalized(&t.ruleset) => {}
                Some(now) => {
                    changes.push(Change::Modify(format!(
                        "table {id}: replaced by the config's"
                    )));
                    replace.push((t, d.origins.tables.get(i)));
                    undo_tables.push(KeptTable {
                        ruleset: now.clone(),
                        ..t.clone()
                    });
                }
                None => {
                    changes.push(Change::Add(format!("table {id}")));
                    replace.push((t, d.origins.tables.get(i)));
                    drop_tables.push(id);
                }
            }
        }
    }
    if owned_same && replace.is_empty() {
        return Ok(FirewallPlan::default());
    }
    let had = current.firewall.is_some();
    let compiled = if owned_same {
        None
    } else {
        desired.map(compile)
    };
    let apply_script = transaction(compiled.as_ref(), !owned_same && had, &replace)?;
    let mut tables_after = current.tables.clone();
    for (t, _) in &replace {
        tables_after.insert(t.id(), t.ruleset.clone());
    }
    let before = if owned_same {
        None
    } else {
        current.firewall.as_ref().map(compile)
    };
    let undo: Vec<(&KeptTable, Option<&Vec<Seg>>)> =
        undo_tables.iter().map(|t| (t, None)).collect();
    let mut revert_script = transaction(before.as_ref(), !owned_same && desired.is_some(), &undo)?;
    for id in &drop_tables {
        revert_script.push_line(&format!("delete table {id}"));
    }
    Ok(FirewallPlan {
        changes,
        apply: Some(Transaction {
            script: apply_script,
            marker: compiled.map(|c| c.marker),
            result: desired.cloned(),
            tables: tables_after,
        }),
        revert: Some(Transaction {
            script: revert_script,
            marker: before.map(|c| c.marker),
            result: current.firewall.clone(),
            tables: current.tables.clone(),
        }),
    })
}

/// A rule in one line, as nft prints it.
pub fn rule_line(chain: &Name, rule: &Rule) -> String {
    match rule {
        Rule::Raw(text) => text.clone(),
        Rule::Model(m) => {
            let r = rule_object(chain, m);
            let mut s = statements_text(&r.expr).unwrap_or_else(|e| e.to_string());
            if let Some(c) = &m.comment {
                s.push_str(&format!(" comment \"{c}\""));
            }
            s
        }
    }
}

fn describe(
    desired: Option<&Firewall>,
    current: Option<&Firewall>,
    out: &mut Vec<Change>,
) -> Result<(), FirewallError> {
    let empty = Firewall::default();
    match (desired, current) {
        (Some(_), None) => out.push(Change::Add(format!("table inet {TABLE}"))),
        (None, Some(_)) => out.push(Change::Remove(format!("table inet {TABLE}"))),
        _ => {}
    }
    let d = desired.unwrap_or(&empty);
    let c = current.unwrap_or(&empty);
    for chain in ["input", "forward", "output"] {
        let (from, to) = (c.policy(chain), d.policy(chain));
        if from != to && desired.is_some() && current.is_some() {
            out.push(Change::Modify(format!(
                "policy {chain}: {} -> {}",
                from.word(),
                to.word()
            )));
        }
    }
    diff_map(&c.zones, &d.zones, "zone", out, |ifs| {
        ifs.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    });
    for (name, set) in &d.sets {
        match c.sets.get(name) {
            None => out.push(Change::Add(format!("set {name} ({} entries)", set.len()))),
            Some(old) if old != set => out.push(Change::Modify(format!(
                "set {name}: {} entries (was {})",
                set.len(),
                old.len()
            ))),
            Some(_) => {}
        }
    }
    for name in c.sets.keys().filter(|n| !d.sets.contains_key(*n)) {
        out.push(Change::Remove(format!("set {name}")));
    }
    for (name, chain) in &d.chains {
        let old = c.chains.get(name);
        match old {
            None if standard_chain(name.as_str()).is_none() => {
                out.push(Change::Add(format!("chain {name}")))
            }
            Some(o) if o.base != chain.base && standard_chain(name.as_str()).is_none() => {
                out.push(Change::Modify(format!("chain {name}")))
            }
            _ => {}
        }
        diff_rules(name, old.map_or(&[][..], |o| &o.rules), &chain.rules, out);
    }
    for (name, chain) in &c.chains {
        if !d.chains.contains_key(name) {
            if standard_chain(name.as_str()).is_none() {
                out.push(Change::Remove(format!("chain {name}")));
            }
            diff_rules(name, &chain.rules, &[], out);
        }
    }
    if d.raw != c.raw {
        out.push(Change::Modify("raw nftables text".into()));
    }
    if ids(d) != ids(c) && desired.is_some() {
        out.push(Change::Modify(format!(
            "kept tables: [{}] (were [{}])",
            ids(d).join(", "),
            ids(c).join(", ")
        )));
    }
    Ok(())
}

fn diff_map<V: PartialEq>(
    old: &BTreeMap<Name, V>,
    new: &BTreeMap<Name, V>,
    what: &str,
    out: &mut Vec<Change>,
    show: impl Fn(&V) -> String,
) {
    for (k, v) in new {
        match old.get(k) {
            None => out.push(Change::Add(format!("{what} {k}: {}", show(v)))),
            Some(o) if o != v => out.push(Change::Modify(format!("{what} {k}: {}", show(v)))),
            Some(_) => {}
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(Change::Remove(format!("{what} {k}")));
    }
}

/// Rules added and removed (as multisets), or the same rules in another order.
fn diff_rules(chain: &Name, old: &[Rule], new: &[Rule], out: &mut Vec<Change>) {
    if old == new {
        return;
    }
    let mut left: HashMap<&Rule, usize> = HashMap::new();
    for r in old {
        *left.entry(r).or_default() += 1;
    }
    let mut added = Vec::new();
    for r in new {
        match left.get_mut(r) {
            Some(n) if *n > 0 => *n -= 1,
            _ => added.push(r),
        }
    }
    let before = out.len();
    for r in old {
        if let Some(n) = left.get_mut(r) {
            if *n > 0 {
                *n -= 1;
                out.push(Change::Remove(format!("{chain}: {}", rule_line(chain, r))));
            }
        }
    }
    for r in added {
        out.push(Change::Add(format!("{chain}: {}", rule_line(chain, r))));
    }
    if out.len() == before {
        out.push(Change::Modify(format!("{chain}: rules reordered")));
    }
}
