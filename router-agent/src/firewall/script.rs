//! Compiled objects to the text `nft -f` reads: one transaction that replaces the agent's
//! table (and the kept tables that changed). Native syntax, because nft parses it about
//! twice as fast as the same ruleset in JSON.

use std::fmt::Write;

use nftables::expr::{Expression, MetaKey, NamedExpression, Payload, SetItem};
use nftables::schema::{
    NfListObject, Rule as NfRule, Set as NfSet, SetFlag, SetType, SetTypeValue,
};
use nftables::stmt::{Counter, Operator, RejectType, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfHook};

use super::compile::{Compiled, Item};
use crate::model::firewall::{KeptTable, TABLE};
use crate::model::Seg;

/// A transaction's text, and for each line where it came from in the config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    pub text: String,
    /// Indexed by line number - 1.
    pub origins: Vec<Option<Vec<Seg>>>,
}

impl Script {
    fn line(&mut self, text: &str, origin: Option<&Vec<Seg>>) {
        for l in text.lines() {
            self.text.push_str(l);
            self.text.push('\n');
            self.origins.push(origin.cloned());
        }
    }

    pub fn push_line(&mut self, line: &str) {
        self.line(line, None);
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Where line `n` (1-based) came from.
    pub fn origin(&self, n: usize) -> Option<&Vec<Seg>> {
        self.origins.get(n.checked_sub(1)?)?.as_ref()
    }
}

/// A part of a statement nft's text syntax cannot take from this compiler.
#[derive(Debug, thiserror::Error)]
#[error("the compiler made an object the text writer does not know: {0}")]
pub struct Unsupported(pub String);

pub fn owned_table() -> String {
    format!("inet {TABLE}")
}

/// Replaces the agent's table with `compiled`, or deletes it when `compiled` is None.
/// `had_table` says whether it exists now. Kept tables in `replace` are rewritten too.
pub fn transaction(
    compiled: Option<&Compiled>,
    had_table: bool,
    replace: &[(&KeptTable, Option<&Vec<Seg>>)],
) -> Result<Script, Unsupported> {
    let mut sc = Script::default();
    let table = owned_table();
    match compiled {
        None if had_table => sc.line(&format!("delete table {table}"), None),
        None => {}
        Some(c) => {
            sc.line(&format!("add table {table}"), None);
            sc.line(&format!("delete table {table}"), None);
            write_compiled(&mut sc, c)?;
        }
    }
    for (t, origin) in replace {
        let id = t.id();
        sc.line(&format!("add table {id}"), None);
        sc.line(&format!("delete table {id}"), None);
        sc.line(&t.ruleset, *origin);
    }
    Ok(sc)
}

fn write_compiled(sc: &mut Script, c: &Compiled) -> Result<(), Unsupported> {
    write_items(sc, &c.items, &c.origins, &c.comment)
}

/// The items as a transaction writes them, without origins and with an empty table
/// comment (the comment holds the marker): the encoding the content marker hashes. An item
/// the writer cannot say is hashed by its error, which names it.
pub fn content_text(items: &[Item]) -> String {
    let mut sc = Script::default();
    let origins = vec![None; items.len()];
    match write_items(&mut sc, items, &origins, "") {
        Ok(()) => sc.text,
        Err(e) => format!("{}{e}\n", sc.text),
    }
}

fn write_items(
    sc: &mut Script,
    items: &[Item],
    origins: &[Option<Vec<Seg>>],
    comment: &str,
) -> Result<(), Unsupported> {
    let table = owned_table();
    for (item, origin) in items.iter().zip(origins) {
        let origin = origin.as_ref();
        match item {
            Item::Object(NfListObject::Table(_)) => sc.line(
                &format!("add table {table} {{ comment \"{comment}\"; }}"),
                None,
            ),
            Item::Object(NfListObject::Set(set)) => sc.line(&set_text(set)?, origin),
            Item::Object(NfListObject::Chain(ch)) => {
                let mut l = format!("add chain {table} {}", ch.name);
                if let (Some(t), Some(h), Some(p)) = (ch._type, ch.hook, ch.prio) {
                    let t = match t {
                        NfChainType::Filter => "filter",
                        NfChainType::NAT => "nat",
                        NfChainType::Route => "route",
                    };
                    let h = match h {
                        NfHook::Prerouting => "prerouting",
                        NfHook::Input => "input",
                        NfHook::Forward => "forward",
                        NfHook::Output => "output",
                        NfHook::Postrouting => "postrouting",
                        other => return Err(Unsupported(format!("hook {other:?}"))),
                    };
                    let policy = match ch.policy {
                        Some(NfChainPolicy::Drop) => "drop",
                        _ => "accept",
                    };
                    let _ = write!(l, " {{ type {t} hook {h} priority {p}; policy {policy}; }}");
                }
                sc.line(&l, origin);
            }
            Item::Object(NfListObject::Rule(r)) => sc.line(&rule_text(r)?, origin),
            Item::Object(other) => return Err(Unsupported(format!("{other:?}"))),
            Item::RawBlock(text) => {
                sc.line(&format!("table {table} {{"), None);
                sc.line(text, origin);
                sc.line("}", None);
            }
            Item::RawRule { chain, text } => {
                sc.line(&format!("add rule {table} {chain} {text}"), origin)
            }
        }
    }
    Ok(())
}

fn set_text(set: &NfSet) -> Result<String, Unsupported> {
    let ty = match &set.set_type {
        SetTypeValue::Single(SetType::Ipv4Addr) => "ipv4_addr",
        SetTypeValue::Single(SetType::Ipv6Addr) => "ipv6_addr",
        SetTypeValue::Single(SetType::InetService) => "inet_service",
        SetTypeValue::Single(SetType::Ifname) => "ifname",
        other => return Err(Unsupported(format!("set type {other:?}"))),
    };
    let mut l = format!("add set {} {} {{ type {ty};", owned_table(), set.name);
    if set
        .flags
        .as_ref()
        .is_some_and(|f| f.contains(&SetFlag::Interval))
    {
        l.push_str(" flags interval;");
    }
    if let Some(elem) = &set.elem {
        l.push_str(" elements = { ");
        for (i, e) in elem.iter().enumerate() {
            if i > 0 {
                l.push_str(", ");
            }
            l.push_str(&expr_text(e, ty == "ifname")?);
        }
        l.push_str(" };");
    }
    l.push_str(" }");
    Ok(l)
}

pub fn rule_text(r: &NfRule) -> Result<String, Unsupported> {
    let mut l = format!("add rule {} {} ", owned_table(), r.chain);
    l.push_str(&statements_text(&r.expr)?);
    if let Some(c) = &r.comment {
        let _ = write!(l, " comment \"{c}\"");
    }
    Ok(l)
}

/// A rule's statements as nft prints them, e.g. `tcp dport 22 accept`.
pub fn statements_text(stmts: &[Statement]) -> Result<String, Unsupported> {
    let parts: Vec<String> = stmts.iter().map(stmt_text).collect::<Result<_, _>>()?;
    Ok(parts.join(" "))
}

fn stmt_text(st: &Statement) -> Result<String, Unsupported> {
    Ok(match st {
        Statement::Accept(_) => "accept".into(),
        Statement::Drop(_) => "drop".into(),
        Statement::Return(_) => "return".into(),
        Statement::Jump(t) => format!("jump {}", t.target),
        Statement::Goto(t) => format!("goto {}", t.target),
        Statement::Match(m) => {
            let quoted = matches!(
                &m.left,
                Expression::Named(NamedExpression::Meta(meta))
                    if matches!(meta.key, MetaKey::Iifname | MetaKey::Oifname)
            );
            let op = match m.op {
                Operator::EQ | Operator::IN => "",
                Operator::NEQ => "!= ",
                other => return Err(Unsupported(format!("operator {other:?}"))),
            };
            format!(
                "{} {op}{}",
                expr_text(&m.left, false)?,
                expr_text(&m.right, quoted)?
            )
        }
        Statement::Counter(Counter::Anonymous(_)) => "counter".into(),
        Statement::Limit(l) => format!(
            "limit rate {}/{} burst {} packets",
            l.rate,
            l.per.as_deref().unwrap_or("second"),
            l.burst.unwrap_or(5)
        ),
        Statement::Log(None) => "log".into(),
        Statement::Log(Some(l)) => match &l.prefix {
            Some(p) => format!("log prefix \"{p}\""),
            None => "log".into(),
        },
        Statement::Reject(r) => match r.as_ref().and_then(|r| r._type) {
            None => "reject".into(),
            Some(RejectType::TCPReset) => "reject with tcp reset".into(),
            Some(RejectType::ICMPX) => {
                let code = r
                    .as_ref()
                    .and_then(|r| r.expr.as_ref())
                    .map(|c| serde_json::to_value(c).ok())
                    .and_then(|v| v.and_then(|v| v.as_str().map(str::to_owned)))
                    .unwrap_or_else(|| "port-unreachable".into());
                format!("reject with icmpx {code}")
            }
            Some(other) => return Err(Unsupported(format!("reject type {other:?}"))),
        },
        Statement::Masquerade(None) => "masquerade".into(),
        Statement::SNAT(Some(n)) | Statement::DNAT(Some(n)) => {
            let word = if matches!(st, Statement::SNAT(_)) {
                "snat"
            } else {
                "dnat"
            };
            let fam = match n.family {
                Some(nftables::stmt::NATFamily::IP) => "ip",
                Some(nftables::stmt::NATFamily::IP6) => "ip6",
                None => return Err(Unsupported(format!("{word} without a family"))),
            };
            let addr = match &n.addr {
                Some(a) => expr_text(a, false)?,
                None => return Err(Unsupported(format!("{word} without an address"))),
            };
            match (&n.port, fam) {
                (None, _) => format!("{word} {fam} to {addr}"),
                (Some(p), "ip") => format!("{word} {fam} to {addr}:{}", expr_text(p, false)?),
                (Some(p), _) => format!("{word} {fam} to [{addr}]:{}", expr_text(p, false)?),
            }
        }
        Statement::Redirect(Some(n)) => match &n.port {
            Some(p) => format!("redirect to :{}", expr_text(p, false)?),
            None => "redirect".into(),
        },
        other => return Err(Unsupported(format!("{other:?}"))),
    })
}

fn expr_text(e: &Expression, quoted: bool) -> Result<String, Unsupported> {
    Ok(match e {
        Expression::String(v) if quoted && !v.starts_with('@') => format!("\"{v}\""),
        Expression::String(v) => v.to_string(),
        Expression::Number(n) => n.to_string(),
        Expression::List(v) => v
            .iter()
            .map(|x| expr_text(x, quoted))
            .collect::<Result<Vec<_>, _>>()?
            .join(","),
        Expression::Range(r) => format!(
            "{}-{}",
            expr_text(&r.range[0], quoted)?,
            expr_text(&r.range[1], quoted)?
        ),
        Expression::Named(NamedExpression::Prefix(p)) => {
            format!("{}/{}", expr_text(&p.addr, false)?, p.len)
        }
        Expression::Named(NamedExpression::Set(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for it in items {
                match it {
                    SetItem::Element(x) => parts.push(expr_text(x, quoted)?),
                    other => return Err(Unsupported(format!("set item {other:?}"))),
                }
            }
            format!("{{ {} }}", parts.join(", "))
        }
        Expression::Named(NamedExpression::Meta(m)) => match m.key {
            MetaKey::Iifname => "iifname".into(),
            MetaKey::Oifname => "oifname".into(),
            MetaKey::Nfproto => "meta nfproto".into(),
            MetaKey::L4proto => "meta l4proto".into(),
            other => return Err(Unsupported(format!("meta {other:?}"))),
        },
        Expression::Named(NamedExpression::Payload(Payload::PayloadField(p))) => {
            format!("{} {}", p.protocol, p.field)
        }
        Expression::Named(NamedExpression::CT(ct)) => format!("ct {}", ct.key),
        other => return Err(Unsupported(format!("{other:?}"))),
    })
}
