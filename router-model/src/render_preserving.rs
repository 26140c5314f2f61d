//! A config rendered over the text it replaces: what did not change keeps its comments,
//! key order and formatting (inline tables stay inline, quoting stays); values that changed
//! are replaced in place, keys and entries that went are removed, new ones are appended.
//! Entries of arrays of tables follow the canonical order, since their order is part of the
//! config (and for firewall rules, of its meaning); each keeps its own comments.

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

use super::render::render_config;
use super::Config;

/// Why a config could not be rendered over a previous text.
#[derive(Debug, thiserror::Error)]
pub enum RenderOverError {
    #[error("the previous text is not TOML: {0}")]
    Previous(toml_edit::TomlError),
    #[error("the canonical render is not TOML: {0}")]
    Canonical(toml_edit::TomlError),
    #[error("the merged text does not read back as the config: {0}")]
    Unreadable(toml::de::Error),
    #[error("the merged text reads back as a different config")]
    Different,
}

/// `running` as TOML, laid out like `previous_text` wherever their content agrees; the
/// canonical render when the previous text does not parse (or, which would be a bug here,
/// the merge does not mean exactly `running`).
pub fn render_over(previous_text: &str, running: &Config) -> String {
    try_render_over(previous_text, running).unwrap_or_else(|e| {
        tracing::warn!("snapshot rendered afresh, without the previous layout: {e}");
        render_config(running)
    })
}

/// [`render_over`] without the fallback: the merged text, checked to read back as exactly
/// what the canonical render reads back as.
pub fn try_render_over(previous_text: &str, running: &Config) -> Result<String, RenderOverError> {
    let canonical = render_config(running);
    let mut doc: DocumentMut = previous_text.parse().map_err(RenderOverError::Previous)?;
    let new: DocumentMut = canonical.parse().map_err(RenderOverError::Canonical)?;
    merge_table(doc.as_table_mut(), new.as_table());
    let mut next = 1;
    renumber(doc.as_table_mut(), &mut next);
    let text = doc.to_string();
    let merged: Config = toml::from_str(&text).map_err(RenderOverError::Unreadable)?;
    let want: Config = toml::from_str(&canonical).map_err(RenderOverError::Unreadable)?;
    if merged != want {
        return Err(RenderOverError::Different);
    }
    Ok(text)
}

fn merge_table(old: &mut dyn TableLike, new: &dyn TableLike) {
    let gone: Vec<String> = old
        .iter()
        .filter(|(k, _)| !new.contains_key(k))
        .map(|(k, _)| k.to_owned())
        .collect();
    for k in gone {
        old.remove(&k);
    }
    for (k, n) in new.iter() {
        match old.get_mut(k) {
            Some(o) => merge_item(o, n),
            None => {
                old.insert(k, n.clone());
            }
        }
    }
}

fn merge_item(old: &mut Item, new: &Item) {
    if same(old, new) {
        return;
    }
    match (&mut *old, new) {
        (Item::Table(o), Item::Table(n)) => merge_table(o, n),
        (Item::Value(Value::InlineTable(o)), Item::Value(Value::InlineTable(n))) => {
            merge_table(o, n)
        }
        // The operator's style wins: an inline table stays inline, a table stays a table.
        (Item::Value(Value::InlineTable(o)), Item::Table(n)) => {
            merge_table(o, &n.clone().into_inline_table())
        }
        (Item::Table(o), Item::Value(Value::InlineTable(n))) => {
            merge_table(o, &n.clone().into_table())
        }
        (Item::ArrayOfTables(o), Item::ArrayOfTables(n)) => merge_entries(o, n),
        (Item::ArrayOfTables(o), Item::Value(Value::Array(n))) => {
            let n: ArrayOfTables = n
                .iter()
                .filter_map(Value::as_inline_table)
                .map(|t| t.clone().into_table())
                .collect();
            merge_entries(o, &n);
        }
        (Item::Value(o), Item::Value(n)) => {
            let decor = o.decor().clone();
            *o = n.clone();
            *o.decor_mut() = decor;
        }
        (o, n) => *o = n.clone(),
    }
}

/// The entries of `new` in its order, each the old entry it matches (equal first, then of
/// the same name or destination) merged with it, or else new.
fn merge_entries(old: &mut ArrayOfTables, new: &ArrayOfTables) {
    let mut pool: Vec<Option<Table>> = old.iter().cloned().map(Some).collect();
    let mut picked: Vec<Option<Table>> = new
        .iter()
        .map(|n| take(&mut pool, |o| same_table(o, n)))
        .collect();
    for (slot, n) in picked.iter_mut().zip(new.iter()) {
        if slot.is_none() {
            *slot = take(&mut pool, |o| same_identity(o, n));
        }
    }
    let mut out = ArrayOfTables::new();
    for (slot, n) in picked.into_iter().zip(new.iter()) {
        out.push(match slot {
            Some(mut o) => {
                merge_table(&mut o, n);
                o
            }
            None => n.clone(),
        });
    }
    *old = out;
}

fn take(pool: &mut [Option<Table>], fits: impl Fn(&Table) -> bool) -> Option<Table> {
    pool.iter_mut()
        .find(|o| o.as_ref().is_some_and(&fits))
        .and_then(Option::take)
}

/// Entries naming one object: the same `name` (interfaces, peers), or `to` (routes).
fn same_identity(a: &Table, b: &Table) -> bool {
    ["name", "to", "priority"]
        .iter()
        .find(|k| a.contains_key(k) && b.contains_key(k))
        .is_some_and(|k| same(&a[*k], &b[*k]))
}

/// Equal content, whatever the layout.
fn same(a: &Item, b: &Item) -> bool {
    if let (Some(x), Some(y)) = (a.as_table_like(), b.as_table_like()) {
        return same_table(x, y);
    }
    if let (Some(x), Some(y)) = (entries(a), entries(b)) {
        return x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| same_table(*p, *q));
    }
    match (a.as_value(), b.as_value()) {
        (Some(x), Some(y)) => same_value(x, y),
        _ => false,
    }
}

fn same_table(a: &dyn TableLike, b: &dyn TableLike) -> bool {
    a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same(x, y)))
}

/// The tables of an array of tables, or of an array of inline tables.
fn entries(i: &Item) -> Option<Vec<&dyn TableLike>> {
    match i {
        Item::ArrayOfTables(a) => Some(a.iter().map(|t| t as &dyn TableLike).collect()),
        Item::Value(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_inline_table().map(|t| t as &dyn TableLike))
            .collect(),
        _ => None,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Float(x), Value::Float(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Datetime(x), Value::Datetime(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same_value(p, q))
        }
        (Value::InlineTable(x), Value::InlineTable(y)) => same_table(x, y),
        _ => false,
    }
}

/// Tables are printed in the order of their positions: number them in document order,
/// entries of arrays in their (possibly new) order.
fn renumber(t: &mut Table, next: &mut usize) {
    for (_, item) in t.iter_mut() {
        match item {
            Item::Table(sub) => {
                sub.set_position(*next);
                *next += 1;
                renumber(sub, next);
            }
            Item::ArrayOfTables(a) => {
                for sub in a.iter_mut() {
                    sub.set_position(*next);
                    *next += 1;
                    renumber(sub, next);
                }
            }
            _ => {}
        }
    }
}
