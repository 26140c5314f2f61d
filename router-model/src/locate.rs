//! Finds where a key path sits in the TOML source, for error messages.

use toml_edit::{ImDocument, Item, Table, Value};

use super::error::Seg;

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A place in the parsed document: toml_edit hands out tables, items and values separately.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn child(self, seg: &Seg) -> Option<(Node<'a>, Option<usize>)> {
        let start = |s: Option<std::ops::Range<usize>>| s.map(|s| s.start);
        match (self, seg) {
            (Node::Item(Item::Table(t)), Seg::Key(_)) => Node::Table(t).child(seg),
            (Node::Item(Item::Value(v)), _) => Node::Value(v).child(seg),
            (Node::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => {
                let t = a.get(*i)?;
                let first_key = t.iter().next().and_then(|(_, it)| it.span());
                Some((Node::Table(t), start(t.span().or(first_key))))
            }
            (Node::Table(t), Seg::Key(k)) => {
                let (key, it) = t.get_key_value(k)?;
                Some((Node::Item(it), start(it.span().or_else(|| key.span()))))
            }
            (Node::Value(Value::InlineTable(t)), Seg::Key(k)) => {
                let (key, it) = t.get_key_value(k)?;
                Some((Node::Item(it), start(it.span().or_else(|| key.span()))))
            }
            (Node::Value(Value::Array(a)), Seg::Index(i)) => {
                let v = a.get(*i)?;
                Some((Node::Value(v), start(v.span())))
            }
            _ => None,
        }
    }
}

/// The line and column of the deepest part of `path` found in `text`; (1, 1) if none is.
pub fn locate(text: &str, path: &[Seg]) -> (usize, usize) {
    let Ok(doc) = ImDocument::parse(text) else {
        return (1, 1);
    };
    let mut node = Node::Table(doc.as_table());
    let mut best = None;
    for seg in path {
        let Some((next, span)) = node.child(seg) else {
            break;
        };
        best = span.or(best);
        node = next;
    }
    best.map_or((1, 1), |s| line_col(text, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys() {
        let text = "version = 1\n\n[[interface]]\nname = \"a\"\n\n[[interface]]\nname = \"b\"\nvlan = { parent = \"x\", id = 5 }\n";
        let path = [
            Seg::Key("interface".into()),
            Seg::Index(1),
            Seg::Key("vlan".into()),
            Seg::Key("parent".into()),
        ];
        assert_eq!(locate(text, &path), (8, 19));
        assert_eq!(
            locate(
                text,
                &[
                    Seg::Key("interface".into()),
                    Seg::Index(0),
                    Seg::Key("name".into())
                ]
            ),
            (4, 8)
        );
        assert_eq!(locate(text, &[Seg::Key("nope".into())]), (1, 1));
    }
}
