//! [`Firewall`] to nftables objects, in the `nftables` crate's schema. Pure: the golden
//! tests check its output, `script` turns it into the text `nft -f` reads.

use std::borrow::Cow;
use std::collections::HashSet;

use nftables::expr::{
    Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, Range, SetItem, CT,
};
use nftables::schema::{
    Chain as NfChain, NfCmd, NfListObject, NfObject, Nftables, Rule as NfRule, Set as NfSet,
    SetFlag, SetType, SetTypeValue, Table,
};
use nftables::stmt::{self, Counter, JumpTarget, Match, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};

use crate::model::firewall::*;
use crate::model::Family;
use crate::model::Seg;

/// One thing to create, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Object(NfListObject<'static>),
    /// A rule in nftables syntax, appended to a chain of the agent's table.
    RawRule {
        chain: String,
        text: String,
    },
    /// nftables text placed inside the agent's table.
    RawBlock(String),
}

/// The agent's table, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub items: Vec<Item>,
    /// Where each item came from in the config (parallel to `items`).
    pub origins: Vec<Option<Vec<Seg>>>,
    /// The table's comment: raw objects, kept tables, and the content's marker.
    pub comment: String,
    /// The content's marker (also in the comment).
    pub marker: String,
}

impl Compiled {
    /// The schema objects as `nft -j` reads them (raw text left out).
    pub fn to_json(&self) -> String {
        let objects: Vec<NfObject> = self
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Object(o) => Some(NfObject::CmdObject(NfCmd::Add(o.clone()))),
                _ => None,
            })
            .collect();
        let doc = Nftables {
            objects: objects.into(),
        };
        // Plain data with string keys always serializes.
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| panic!("nftables JSON: {e}"))
    }
}

/// The table's comment records what a listing cannot tell: which objects the config wrote
/// as raw text (they would otherwise read back as model) and which other tables it keeps;
/// and a marker of the table's content, which tells that a transaction committed without
/// listing the table back (listing 100k set elements costs as much as loading them).
/// `router-agent gen=0123456789abcdef raw=mark_te,m keeps=inet fail2ban,ip x`
pub const COMMENT_PREFIX: &str = "router-agent";
/// nft stores at most this many bytes of a table comment.
pub const COMMENT_MAX: usize = 128;

pub fn table_comment(fw: &Firewall, marker: &str) -> String {
    let raw = fw.raw_names();
    let ids: Vec<String> = fw.tables.iter().map(KeptTable::id).collect();
    let mut c = format!("{COMMENT_PREFIX} gen={marker}");
    if !raw.is_empty() {
        c.push_str(&format!(
            " raw={}",
            raw.into_iter().collect::<Vec<_>>().join(",")
        ));
    }
    if !ids.is_empty() {
        c.push_str(&format!(" keeps={}", ids.join(",")));
    }
    c
}

/// 16 hex digits of the SHA-256 of the compiled items as the agent writes them in nft's
/// syntax (an encoding of the agent's own, unlike a Debug string): the same config, the
/// same marker.
fn marker_of(items: &[Item]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(super::script::content_text(items).as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// (raw object names, kept table ids) from a table comment.
pub fn parse_comment(comment: Option<&str>) -> (Vec<String>, Vec<String>) {
    let Some(rest) = comment.and_then(|c| c.strip_prefix(COMMENT_PREFIX)) else {
        return (Vec::new(), Vec::new());
    };
    let list = |key: &str| -> Vec<String> {
        let start = match rest.find(key) {
            Some(i) => i + key.len(),
            None => return Vec::new(),
        };
        let tail = &rest[start..];
        let end = [" raw=", " keeps=", " gen="]
            .iter()
            .filter_map(|k| tail.find(k))
            .min()
            .unwrap_or(tail.len());
        tail[..end]
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    (list(" raw="), list(" keeps="))
}

fn s(v: impl Into<String>) -> Cow<'static, str> {
    Cow::Owned(v.into())
}

fn str_expr(v: impl Into<String>) -> Expression<'static> {
    Expression::String(s(v))
}

pub fn compile(fw: &Firewall) -> Compiled {
    let mut out = Compiled {
        items: Vec::new(),
        origins: Vec::new(),
        comment: String::new(),
        marker: String::new(),
    };
    let mut push = |item: Item, origin: Option<Vec<Seg>>| {
        out.items.push(item);
        out.origins.push(origin);
    };
    push(
        Item::Object(NfListObject::Table(Table {
            family: NfFamily::INet,
            name: s(TABLE),
            handle: None,
        })),
        None,
    );
    for (zone, ifs) in &fw.zones {
        let elem: Vec<Expression> = ifs.iter().map(|i| str_expr(i.as_str())).collect();
        push(
            Item::Object(set_object(
                format!("{ZONE_SET_PREFIX}{zone}"),
                SetType::Ifname,
                None,
                elem,
            )),
            None,
        );
    }
    for (name, set) in &fw.sets {
        let (ty, elem) = match set {
            SetElements::Addr(l) => (
                if l.family == Family::Ipv4 {
                    SetType::Ipv4Addr
                } else {
                    SetType::Ipv6Addr
                },
                addr_elements(l),
            ),
            SetElements::Port(l) => (SetType::InetService, port_elements(l)),
        };
        push(
            Item::Object(set_object(
                name.to_string(),
                ty,
                Some(SetFlag::Interval),
                elem,
            )),
            None,
        );
    }
    for (name, chain) in &fw.chains {
        push(Item::Object(chain_object(name, chain)), None);
    }
    if let Some(raw) = &fw.raw {
        push(Item::RawBlock(raw.clone()), fw.origins.raw.clone());
    }
    for (name, chain) in &fw.chains {
        for (i, rule) in chain.rules.iter().enumerate() {
            let origin = fw.origins.rules.get(&(name.clone(), i)).cloned();
            let item = match rule {
                Rule::Raw(text) => Item::RawRule {
                    chain: name.to_string(),
                    text: text.clone(),
                },
                Rule::Model(m) => Item::Object(NfListObject::Rule(rule_object(name, m))),
            };
            push(item, origin);
        }
    }
    out.marker = marker_of(&out.items);
    out.comment = table_comment(fw, &out.marker);
    out
}

fn set_object(
    name: String,
    ty: SetType,
    flag: Option<SetFlag>,
    elem: Vec<Expression<'static>>,
) -> NfListObject<'static> {
    NfListObject::Set(Box::new(NfSet {
        family: NfFamily::INet,
        table: s(TABLE),
        name: s(name),
        handle: None,
        set_type: SetTypeValue::Single(ty),
        policy: None,
        flags: flag.map(|f| HashSet::from([f])),
        elem: (!elem.is_empty()).then(|| elem.into()),
        timeout: None,
        gc_interval: None,
        size: None,
        comment: None,
    }))
}

fn chain_object(name: &Name, chain: &Chain) -> NfListObject<'static> {
    let base = chain.base;
    NfListObject::Chain(NfChain {
        family: NfFamily::INet,
        table: s(TABLE),
        name: s(name.as_str()),
        newname: None,
        handle: None,
        _type: base.map(|b| match b.kind {
            ChainType::Filter => NfChainType::Filter,
            ChainType::Nat => NfChainType::NAT,
            ChainType::Route => NfChainType::Route,
        }),
        hook: base.map(|b| match b.hook {
            Hook::Prerouting => NfHook::Prerouting,
            Hook::Input => NfHook::Input,
            Hook::Forward => NfHook::Forward,
            Hook::Output => NfHook::Output,
            Hook::Postrouting => NfHook::Postrouting,
        }),
        prio: base.map(|b| b.priority),
        dev: None,
        policy: base.map(|b| match b.policy {
            Policy::Accept => NfChainPolicy::Accept,
            Policy::Drop => NfChainPolicy::Drop,
        }),
    })
}

/// Address list elements: addresses bare, prefixes as prefixes.
fn addr_elements(l: &AddrList) -> Vec<Expression<'static>> {
    let full = if l.family == Family::Ipv4 { 32 } else { 128 };
    l.prefixes()
        .into_iter()
        .map(|(a, len)| {
            if len == full {
                str_expr(a.to_string())
            } else {
                Expression::Named(NamedExpression::Prefix(Prefix {
                    addr: Box::new(str_expr(a.to_string())),
                    len: u32::from(len),
                }))
            }
        })
        .collect()
}

fn port_elements(l: &PortList) -> Vec<Expression<'static>> {
    l.intervals()
        .iter()
        .map(|&(a, b)| {
            if a == b {
                Expression::Number(u32::from(a))
            } else {
                Expression::Range(Box::new(Range {
                    range: [
                        Expression::Number(u32::from(a)),
                        Expression::Number(u32::from(b)),
                    ],
                }))
            }
        })
        .collect()
}

/// One element bare, several as an anonymous set.
fn one_or_set(mut v: Vec<Expression<'static>>) -> Expression<'static> {
    if v.len() == 1 {
        v.remove(0)
    } else {
        Expression::Named(NamedExpression::Set(
            v.into_iter().map(SetItem::Element).collect(),
        ))
    }
}

fn matches(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &str, field: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: s(protocol),
            field: s(field),
        },
    )))
}

fn set_ref(name: &str) -> Expression<'static> {
    str_expr(format!("@{name}"))
}

fn family_word(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

fn if_match(key: MetaKey, m: &IfMatch) -> Statement<'static> {
    let right = match m {
        IfMatch::Zone(z) => set_ref(&format!("{ZONE_SET_PREFIX}{z}")),
        IfMatch::Names(n) => one_or_set(n.iter().map(|i| str_expr(i.as_str())).collect()),
    };
    matches(meta(key), right)
}

fn addr_match(field: &str, m: &AddrMatch) -> Statement<'static> {
    let proto = if m.family() == Family::Ipv4 {
        "ip"
    } else {
        "ip6"
    };
    let right = match m {
        AddrMatch::Set(name, _) => set_ref(name.as_str()),
        AddrMatch::List(l) => one_or_set(addr_elements(l)),
    };
    matches(payload(proto, field), right)
}

fn port_match(proto: &str, field: &str, m: &PortMatch) -> Statement<'static> {
    let right = match m {
        PortMatch::Set(name) => set_ref(name.as_str()),
        PortMatch::List(l) => one_or_set(port_elements(l)),
    };
    matches(payload(proto, field), right)
}

fn protocol_expr(p: Protocol) -> Expression<'static> {
    match p.name() {
        Some(n) => str_expr(n),
        None => Expression::Number(u32::from(p.0)),
    }
}

/// Statements in the one order the decompiler expects them back.
pub fn rule_object(chain: &Name, m: &ModelRule) -> NfRule<'static> {
    let mut x: Vec<Statement<'static>> = Vec::new();
    if let Some(f) = m.family {
        x.push(matches(meta(MetaKey::Nfproto), str_expr(family_word(f))));
    }
    if let Some(i) = &m.iif {
        x.push(if_match(MetaKey::Iifname, i));
    }
    if let Some(o) = &m.oif {
        x.push(if_match(MetaKey::Oifname, o));
    }
    if let Some(a) = &m.saddr {
        x.push(addr_match("saddr", a));
    }
    if let Some(a) = &m.daddr {
        x.push(addr_match("daddr", a));
    }
    let ports = m.sport.is_some() || m.dport.is_some();
    let proto_word = match m.protocols.as_slice() {
        [one] if ports || !m.icmp_types.is_empty() => one.name().unwrap_or("th"),
        _ => "th",
    };
    let l4_implied = (ports && m.protocols.len() == 1) || !m.icmp_types.is_empty();
    if !m.protocols.is_empty() && !l4_implied {
        x.push(matches(
            meta(MetaKey::L4proto),
            one_or_set(m.protocols.iter().map(|p| protocol_expr(*p)).collect()),
        ));
    }
    if let Some(p) = &m.sport {
        x.push(port_match(proto_word, "sport", p));
    }
    if let Some(p) = &m.dport {
        x.push(port_match(proto_word, "dport", p));
    }
    if !m.icmp_types.is_empty() {
        x.push(matches(
            payload(proto_word, "type"),
            one_or_set(m.icmp_types.iter().map(|t| str_expr(t.as_str())).collect()),
        ));
    }
    if !m.state.is_empty() {
        let words: Vec<Expression> = m.state.iter().map(|s| str_expr(s.word())).collect();
        x.push(Statement::Match(Match {
            left: Expression::Named(NamedExpression::CT(CT {
                key: s("state"),
                family: None,
                dir: None,
            })),
            right: if words.len() == 1 {
                words.into_iter().next().unwrap_or_else(|| str_expr(""))
            } else {
                Expression::List(words)
            },
            op: Operator::IN,
        }));
    }
    if let Some(l) = m.limit {
        x.push(Statement::Limit(stmt::Limit {
            rate: l.rate.count,
            rate_unit: None,
            per: Some(s(l.rate.per.word())),
            burst: Some(l.burst),
            burst_unit: None,
            inv: None,
        }));
    }
    if m.counter {
        x.push(Statement::Counter(Counter::Anonymous(None)));
    }
    if let Some(log) = &m.log {
        x.push(Statement::Log(match log {
            Log::Plain => None,
            Log::Prefix(p) => Some(stmt::Log {
                prefix: Some(s(p.as_str())),
                group: None,
                snaplen: None,
                queue_threshold: None,
                level: None,
                flags: None,
            }),
        }));
    }
    x.push(verdict(&m.verdict));
    NfRule {
        family: NfFamily::INet,
        table: s(TABLE),
        chain: s(chain.as_str()),
        expr: x.into(),
        handle: None,
        index: None,
        comment: m.comment.as_deref().map(|c| s(c)),
    }
}

fn nat(t: &NatTarget) -> NAT<'static> {
    NAT {
        addr: t.addr.map(|a| str_expr(a.to_string())),
        family: t.family().map(|f| match f {
            Family::Ipv4 => stmt::NATFamily::IP,
            Family::Ipv6 => stmt::NATFamily::IP6,
        }),
        port: t.port.map(|p| Expression::Number(u32::from(p))),
        flags: None,
    }
}

fn verdict(v: &Verdict) -> Statement<'static> {
    match v {
        Verdict::Accept => Statement::Accept(None),
        Verdict::Drop => Statement::Drop(None),
        Verdict::Return => Statement::Return(None),
        Verdict::Jump(c) => Statement::Jump(JumpTarget {
            target: s(c.as_str()),
        }),
        Verdict::Goto(c) => Statement::Goto(JumpTarget {
            target: s(c.as_str()),
        }),
        Verdict::Reject(with) => Statement::Reject(Some(match with.icmpx() {
            None => stmt::Reject::new(Some(stmt::RejectType::TCPReset), None),
            Some(_) => stmt::Reject::new(Some(stmt::RejectType::ICMPX), Some(reject_code(*with))),
        })),
        Verdict::Masquerade => Statement::Masquerade(None),
        Verdict::Snat(t) => Statement::SNAT(Some(nat(t))),
        Verdict::Dnat(t) => Statement::DNAT(Some(nat(t))),
        Verdict::Redirect(p) => Statement::Redirect(Some(NAT {
            addr: None,
            family: None,
            port: Some(Expression::Number(u32::from(*p))),
            flags: None,
        })),
    }
}

fn reject_code(w: RejectWith) -> RejectCode {
    match w {
        RejectWith::AdminProhibited => RejectCode::AdminProhibited,
        RejectWith::HostUnreachable => RejectCode::HostUnreach,
        RejectWith::NoRoute => RejectCode::NoRoute,
        RejectWith::PortUnreachable | RejectWith::TcpReset => RejectCode::PortUnreach,
    }
}
