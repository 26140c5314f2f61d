//! The running config as the store keeps it. The kernel holds only what it needs: table
//! numbers without their names, no comments, no layout. Those come from the text saved
//! (or applied) before, which the running state itself cannot contradict.

use std::collections::BTreeMap;

use super::render::render_config;
use super::render_preserving::render_over;
use super::snapshot_shape::{shape_like, without_boot_state, BootState};
use super::types::TableRef;
use super::Config;

/// `running` as TOML: with the table names of `previous` (a config text), shaped like it
/// ([`shape_like`]: what `baseline`, the state before the agent started, already had and
/// `previous` does not name stays out) and laid out like it; the canonical render without
/// one, or when it is no config. What `boot` (the boot contract) set is left out unless
/// `previous` names it.
pub fn render_snapshot(
    previous: Option<&str>,
    running: &Config,
    baseline: Option<&Config>,
    boot: Option<&BootState>,
) -> String {
    let Some(text) = previous else {
        return match boot {
            Some(boot) => render_config(&without_boot_state(
                running.clone(),
                &Config::default(),
                boot,
            )),
            None => render_config(running),
        };
    };
    match toml::from_str::<Config>(text) {
        Ok(prev) => {
            let mut named = with_table_names(running.clone(), &prev.tables);
            let mut baseline = baseline.cloned();
            if let Some(boot) = boot {
                named = without_boot_state(named, &prev, boot);
                baseline = baseline.map(|b| without_boot_state(b, &prev, boot));
            }
            render_over(text, &shape_like(named, &prev, baseline.as_ref()))
        }
        Err(e) => {
            tracing::warn!(
                "the previous config text does not parse ({e}); snapshot rendered afresh"
            );
            render_config(running)
        }
    }
}

/// `running` with the names of `names` declared under `[tables]` (all of them: a name
/// nothing uses yet is config too) and used wherever their tables are. A name or number
/// that `running` names already keeps its name there.
pub fn with_table_names(mut running: Config, names: &BTreeMap<String, u32>) -> Config {
    for (name, id) in names {
        let taken = running.tables.contains_key(name) || running.tables.values().any(|t| t == id);
        if !taken {
            running.tables.insert(name.clone(), *id);
        }
    }
    let by_id: BTreeMap<u32, &String> = running.tables.iter().map(|(n, id)| (*id, n)).collect();
    let name = |t: &mut TableRef| {
        if let TableRef::Id(id) = t {
            if let Some(n) = by_id.get(id) {
                *t = TableRef::Name((*n).clone());
            }
        }
    };
    for r in &mut running.routes {
        r.table.as_mut().map(name);
    }
    for r in &mut running.rules {
        r.table.as_mut().map(name);
    }
    for i in &mut running.interfaces {
        if let Some(v) = &mut i.vrf {
            name(&mut v.table);
        }
    }
    running
}

/// The names iproute2's `rt_tables` (text of the file) gives the tables `running` uses:
/// `# comments`, `NUMBER NAME` lines; built-in tables and names a config could not use
/// are skipped. For `show`, which has no config text to take names from.
pub fn names_from_rt_tables(text: &str, running: &Config) -> BTreeMap<String, u32> {
    let mut used = std::collections::BTreeSet::new();
    let mut note = |t: &Option<TableRef>| {
        if let Some(TableRef::Id(id)) = t {
            used.insert(*id);
        }
    };
    running.routes.iter().for_each(|r| note(&r.table));
    running.rules.iter().for_each(|r| note(&r.table));
    for v in running.interfaces.iter().filter_map(|i| i.vrf.as_ref()) {
        note(&Some(v.table.clone()));
    }
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let (Some(id), Some(name), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let id = match id.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => id.parse().ok(),
        };
        let usable = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && TableRef::builtin(name).is_none();
        if let Some(id) = id.filter(|id| used.contains(id) && usable) {
            if !out.values().any(|v| *v == id) {
                out.insert(name.to_owned(), id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load, render, to_config};

    const NAMED: &str = r#"version = 1

[tables]
blue = 10
spare = 20

[[interface]]
name = "eth0"
kind = "physical"
addresses = ["192.0.2.1/24"]

[[interface]]
name = "vrf-blue"
kind = "vrf"
vrf = { table = "blue", members = [] }

[[route]]
to = "10.0.0.0/8"
via = "192.0.2.254"
table = "blue"

[[rule]]
priority = 100
from = "10.0.0.0/8"
table = "blue"
"#;

    /// Load, to the state the kernel holds (no names), back to a config: the names come
    /// back from the config applied before, wherever the original used them.
    #[test]
    fn table_names_survive_a_round_trip_through_the_kernel() {
        let original = load("named.toml", NAMED).unwrap();
        let mut kernel = original.state.clone();
        kernel.table_names.clear();
        let running = to_config(&kernel);
        assert!(render_config(&running).contains("table = 10"));
        let named = with_table_names(running, &original.config.tables);
        assert_eq!(render_config(&named), render(&original.state));
        let text = render_config(&named);
        assert!(
            text.contains("table = \"blue\"") && text.contains("spare = 20"),
            "{text}"
        );
        assert!(!text.contains("table = 10"), "{text}");
    }

    #[test]
    fn a_snapshot_over_the_applied_text_keeps_names_and_the_text_itself() {
        let original = load("named.toml", NAMED).unwrap();
        let mut kernel = original.state.clone();
        kernel.table_names.clear();
        let running = to_config(&kernel);
        let text = render_snapshot(Some(NAMED), &running, None, None);
        let back = load("snapshot.toml", &text).unwrap();
        assert_eq!(back.state, original.state);
        assert!(text.contains("[tables]\nblue = 10"), "{text}");
        assert!(text.contains("table = \"blue\""), "{text}");
    }

    #[test]
    fn rt_tables_names_the_tables_in_use_and_nothing_else() {
        let running: Config = toml::from_str(
            "version = 1\n[[route]]\nto = \"10.0.0.0/8\"\ntype = \"blackhole\"\ntable = 100\n",
        )
        .unwrap();
        let text =
            "# iproute2\n255\tlocal\n254 main\n100 isp1 # uplink\n200 unused\nbad line here\n";
        let names = names_from_rt_tables(text, &running);
        assert_eq!(names, BTreeMap::from([("isp1".to_owned(), 100)]));
        let shown = render_config(&with_table_names(running, &names));
        assert!(
            shown.contains("table = \"isp1\"") && shown.contains("isp1 = 100"),
            "{shown}"
        );
    }

    #[test]
    fn a_number_the_running_config_names_already_keeps_its_name() {
        let mut running = Config::default();
        running.tables.insert("red".into(), 10);
        let names = BTreeMap::from([("blue".to_owned(), 10), ("green".to_owned(), 11)]);
        let merged = with_table_names(running, &names);
        assert_eq!(
            merged.tables,
            BTreeMap::from([("red".to_owned(), 10), ("green".to_owned(), 11)])
        );
    }
}
