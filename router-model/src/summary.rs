//! What a version changed, in router terms ("+1 route, ~1 interface, -2 rules"), from the
//! two configs parsed as TOML (not validated: an invalid version still gets a summary).
//! Lists of tables are matched by what names an entry (an interface by its name, a route
//! by its destination and table); other entries are compared whole. Here, in the pure
//! crate, so that `router-agent store log/diff` and the store server's dashboard say the
//! same thing.
//!
//! The text diff is `similar`'s: Myers' algorithm, unified output with context, no C
//! library and no dependencies of its own, kept up by the author of `insta`.

use std::collections::BTreeMap;

use toml::Value;

/// The keys that name an entry of a list (`[[interface]]`, `[[route]]`, ...); a list not
/// named here is compared entry by entry, whole.
fn identity(list: &str, entry: &Value) -> Option<String> {
    let keys: &[&str] = match list {
        "route" => &["to", "prefixes", "table", "metric"],
        _ => &["name"],
    };
    let table = entry.as_table()?;
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| table.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Count {
    added: usize,
    removed: usize,
    changed: usize,
}

fn plural(noun: &str, n: usize) -> String {
    let noun = noun.replace('_', " ");
    if n == 1 {
        noun
    } else if noun.ends_with('s') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

fn compare_list(list: &str, old: &[Value], new: &[Value]) -> Count {
    let keyed = |items: &[Value]| -> BTreeMap<String, Vec<Value>> {
        let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for item in items {
            let key = identity(list, item).unwrap_or_else(|| item.to_string());
            map.entry(key).or_default().push(item.clone());
        }
        map
    };
    let (old, new) = (keyed(old), keyed(new));
    let mut count = Count::default();
    for (key, before) in &old {
        match new.get(key) {
            None => count.removed += before.len(),
            Some(after) => {
                let common = before.len().min(after.len());
                count.changed += (0..common).filter(|&i| before[i] != after[i]).count();
                count.added += after.len() - common;
                count.removed += before.len() - common;
            }
        }
    }
    for (key, after) in &new {
        if !old.contains_key(key) {
            count.added += after.len();
        }
    }
    count
}

fn is_table_list(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_table))
}

/// Compares the keys of two tables; `prefix` names the nesting (`firewall ` for
/// `[firewall]`'s lists). Sections that are neither lists nor nested get `~NAME`.
fn compare_table(
    prefix: &str,
    old: &toml::Table,
    new: &toml::Table,
    depth: usize,
    out: &mut Vec<String>,
) {
    let empty = Value::Array(Vec::new());
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut other = Vec::new();
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        // The schema version says nothing about the router.
        if a == b || (depth == 0 && key == "version") {
            continue;
        }
        let name = format!("{prefix}{key}");
        let list = |v: Option<&Value>| v.is_none_or(is_table_list);
        if list(a) && list(b) && (a.is_some_and(is_table_list) || b.is_some_and(is_table_list)) {
            let items = |v: Option<&Value>| -> Vec<Value> {
                v.unwrap_or(&empty).as_array().cloned().unwrap_or_default()
            };
            let c = compare_list(key, &items(a), &items(b));
            for (sign, n) in [("+", c.added), ("-", c.removed), ("~", c.changed)] {
                if n > 0 {
                    out.push(format!("{sign}{n} {}", plural(&name, n)));
                }
            }
        } else if let (Some(Value::Table(a)), Some(Value::Table(b)), 0) = (a, b, depth) {
            let before = out.len();
            compare_table(&format!("{name} "), a, b, depth + 1, out);
            if out.len() == before {
                other.push(format!("~{name}"));
            }
        } else {
            let sign = match (a, b) {
                (None, _) => "+",
                (_, None) => "-",
                _ => "~",
            };
            other.push(format!("{sign}{}", name.replace('_', " ")));
        }
    }
    out.extend(other);
}

/// The change from `old` (`None`: the first version) to `new`; `unparsable` when either
/// is not TOML.
pub fn summarize(old: Option<&str>, new: &str) -> String {
    let parse = |t: &str| t.parse::<toml::Table>().ok();
    let old = match old {
        Some(t) => parse(t),
        None => Some(toml::Table::new()),
    };
    let (Some(old), Some(new)) = (old, parse(new)) else {
        return "not TOML".into();
    };
    let mut out = Vec::new();
    compare_table("", &old, &new, 0, &mut out);
    if out.is_empty() {
        "no change".into()
    } else {
        out.join(", ")
    }
}

/// A unified diff (3 lines of context) of two versions' text, headed `from` and `to`.
pub fn unified(a: &str, b: &str, from: &str, to: &str) -> String {
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(from, to)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
version = 1
hostname = "r1"

[[interface]]
name = "eth0"
addresses = ["192.0.2.1/24"]

[[interface]]
name = "eth1"

[[route]]
to = "10.0.0.0/8"
via = "192.0.2.254"

[firewall]
input = "drop"

[[firewall.rule]]
action = "accept"
proto = "tcp"
"#;

    #[test]
    fn router_terms() {
        let new = BASE
            .replace("192.0.2.1/24", "192.0.2.2/24")
            .replace(
                "[firewall]",
                "[[route]]\nto = \"172.16.0.0/12\"\nvia = \"192.0.2.254\"\n\n[firewall]",
            )
            .replace("hostname = \"r1\"", "hostname = \"r2\"");
        assert_eq!(
            summarize(Some(BASE), &new),
            "~1 interface, +1 route, ~hostname"
        );
        let fw = BASE.replace("proto = \"tcp\"", "proto = \"udp\"")
            + "\n[[firewall.rule]]\naction = \"drop\"\n";
        assert_eq!(
            summarize(Some(BASE), &fw),
            "+2 firewall rules, -1 firewall rule"
        );
        let fw = BASE.replace("input = \"drop\"", "input = \"accept\"");
        assert_eq!(summarize(Some(BASE), &fw), "~firewall input");
        assert_eq!(summarize(Some(BASE), BASE), "no change");
        assert_eq!(
            summarize(None, "version = 1\n[[route]]\nto = \"0.0.0.0/0\"\n"),
            "+1 route"
        );
        assert_eq!(summarize(Some(BASE), "[[["), "not TOML");
    }
}
