//! Policy routing rules.

use std::collections::{BTreeMap, HashMap};

use super::{at, key, resolve_table, Checker};
use crate::error::Seg;
use crate::route::{Family, RuleAction, RuleConfig};
use crate::state::{Link, Rule};
use crate::types::IfName;
use crate::Config;

impl Config {
    pub(super) fn check_rules(
        &self,
        ck: &mut Checker,
        tables: &BTreeMap<String, u32>,
        links: &BTreeMap<IfName, Link>,
    ) -> Vec<Rule> {
        let mut rules = Vec::new();
        let mut seen = HashMap::new();
        for (i, cfg) in self.rules.iter().enumerate() {
            let path = vec![key("rule"), Seg::Index(i)];
            if let Some(rule) = check_rule(ck, &path, cfg, tables, links) {
                if let Some(first) = seen.insert(rule.clone(), i) {
                    ck.report(&path, format!("this rule repeats rule[{first}]"));
                } else {
                    rules.push(rule);
                }
            }
        }
        rules.sort();
        rules
    }
}

fn check_rule(
    ck: &mut Checker,
    path: &[Seg],
    cfg: &RuleConfig,
    tables: &BTreeMap<String, u32>,
    links: &BTreeMap<IfName, Link>,
) -> Option<Rule> {
    let fams: Vec<Family> = [cfg.from.as_ref(), cfg.to.as_ref()]
        .into_iter()
        .flatten()
        .map(Family::of)
        .collect();
    let family = match (cfg.family, fams.first()) {
        (Some(f), Some(g)) if f != *g => {
            ck.report(
                &at(path, &["family"]),
                "`family` disagrees with `from`/`to`",
            );
            return None;
        }
        (Some(f), _) => f,
        (None, Some(f)) => *f,
        (None, None) => {
            ck.report(
                path,
                "say family = \"ipv4\" or \"ipv6\" for a rule without `from` or `to`",
            );
            return None;
        }
    };
    if fams.iter().any(|f| *f != family) {
        ck.report(&at(path, &["to"]), "`from` and `to` must be of one family");
        return None;
    }
    for (field, net) in [("from", cfg.from), ("to", cfg.to)] {
        if let Some(n) = net {
            if n.trunc() != n {
                ck.report(
                    &at(path, &[field]),
                    format!("{n} has host bits set; did you mean {}?", n.trunc()),
                );
                return None;
            }
        }
    }
    for (field, dev) in [("iif", &cfg.iif), ("oif", &cfg.oif)] {
        if let Some(d) = dev {
            if !links.contains_key(d) {
                ck.report(
                    &at(path, &[field]),
                    format!("unknown interface {d}; declare it as an [[interface]]"),
                );
                return None;
            }
        }
    }
    let table = match (cfg.action, &cfg.table) {
        (RuleAction::Lookup, Some(t)) => resolve_table(ck, &at(path, &["table"]), t, tables)?,
        (RuleAction::Lookup, None) => {
            ck.report(path, "a lookup rule needs `table`");
            return None;
        }
        (_, Some(_)) => {
            ck.report(
                &at(path, &["table"]),
                "only action = \"lookup\" takes a table",
            );
            return None;
        }
        (_, None) => 0,
    };
    let fwmark = cfg.fwmark.map(|mut m| {
        // The kernel reports an unmasked mark with mask 0xffffffff.
        m.mask = Some(m.mask.unwrap_or(u32::MAX));
        m
    });
    Some(Rule {
        priority: cfg.priority.get(),
        family,
        from: cfg.from,
        to: cfg.to,
        iif: cfg.iif.clone(),
        oif: cfg.oif.clone(),
        fwmark,
        action: cfg.action,
        table,
    })
}
