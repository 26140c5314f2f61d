//! `nft -a list table` text, cut into what the JSON listing lacks: the table's comment, each
//! rule's text by handle (for rules kept raw) and each top-level object's text.

use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub comment: Option<String>,
    /// Top-level objects by (kind, name): kind is `set`, `chain`, `map`, `ct helper`...
    pub blocks: Vec<Block>,
    /// Rule text by handle, without the handle.
    pub rules: HashMap<u64, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub kind: String,
    pub name: String,
    /// The object as nft prints it, one tab less indented, handles removed.
    pub text: String,
}

impl Listing {
    pub fn block(&self, kind: &str, name: &str) -> Option<&Block> {
        self.blocks
            .iter()
            .find(|b| b.kind == kind && b.name == name)
    }
}

/// Splits ` # handle N` off a line.
fn split_handle(line: &str) -> (&str, Option<u64>) {
    match line.rsplit_once(" # handle ") {
        Some((rest, h)) => match h.trim().parse() {
            Ok(n) => (rest, Some(n)),
            Err(_) => (line, None),
        },
        None => (line, None),
    }
}

fn indent(line: &str) -> usize {
    line.chars().take_while(|c| *c == '\t').count()
}

pub fn parse(text: &str) -> Listing {
    let mut out = Listing::default();
    let mut current: Option<(String, String, Vec<String>)> = None;
    for raw in text.lines() {
        let (line, handle) = split_handle(raw.trim_end());
        let depth = indent(line);
        let body = line.trim();
        if body.is_empty() {
            continue;
        }
        match (depth, current.as_mut()) {
            (1, None) if body.starts_with("comment \"") => {
                out.comment = body
                    .strip_prefix("comment \"")
                    .and_then(|c| c.strip_suffix('"'))
                    .map(str::to_owned);
            }
            (1, None) if body.ends_with('{') => {
                let words: Vec<&str> = body.trim_end_matches('{').split_whitespace().collect();
                if let Some((name, kind)) = words.split_last() {
                    current = Some((kind.join(" "), (*name).to_owned(), vec![body.to_owned()]));
                }
            }
            (1, Some(_)) if body == "}" => {
                if let Some((kind, name, mut lines)) = current.take() {
                    lines.push("}".to_owned());
                    out.blocks.push(Block {
                        kind,
                        name,
                        text: lines.join("\n"),
                    });
                }
            }
            (_, Some((kind, _, lines))) => {
                if kind == "chain" && depth == 2 {
                    if let Some(h) = handle {
                        out.rules.insert(h, body.to_owned());
                    }
                }
                lines.push(line.strip_prefix('\t').unwrap_or(line).to_owned());
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_a_listing_into_comment_blocks_and_rules() {
        let text = "table inet router_agent { # handle 4\n\tcomment \"router-agent keeps: inet f2b\"\n\tset s { # handle 2\n\t\ttype ipv4_addr\n\t\telements = { 1.2.3.4,\n\t\t\t     5.6.7.8 }\n\t}\n\n\tchain input { # handle 1\n\t\ttype filter hook input priority filter; policy drop;\n\t\ttcp dport 22 accept # handle 7\n\t\tmeta mark 0x1 counter drop comment \"x # y\" # handle 8\n\t}\n}\n";
        let l = parse(text);
        assert_eq!(l.comment.as_deref(), Some("router-agent keeps: inet f2b"));
        assert_eq!(l.blocks.len(), 2);
        assert_eq!(
            l.block("set", "s").map(|b| b.text.as_str()),
            Some("set s {\n\ttype ipv4_addr\n\telements = { 1.2.3.4,\n\t\t     5.6.7.8 }\n}")
        );
        assert_eq!(l.rules[&7], "tcp dport 22 accept");
        assert_eq!(l.rules[&8], "meta mark 0x1 counter drop comment \"x # y\"");
    }
}
