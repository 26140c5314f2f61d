//! What a history message says beyond its text: the kind of write (`Write-kind:`) and who
//! made it (`Written-by:`, added by the store server), as git-style trailers after a blank
//! line. The summary a writer gives is one line, so it cannot carry trailers of its own:
//! a router cannot pass itself off as an operator, nor a snapshot as a rollback.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The trailer naming the kind of write.
pub const KIND_TRAILER: &str = "Write-kind";
/// The trailer the store server adds with the caller it authenticated.
pub const AUTHOR_TRAILER: &str = "Written-by";
/// Longer summaries are cut.
const MAX_SUMMARY: usize = 1000;

/// How a version came to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    /// The daemon saved the running config (a change on the router, by its CLI or by hand).
    Snapshot,
    /// The daemon kept the running config before applying a newer store version.
    Apply,
    /// An operator's `router-agent store edit`.
    Edit,
    /// The losing side of a compare-and-swap conflict, kept in history only.
    Conflict,
    /// `router-agent store rollback`: an older version written again as the current one.
    Rollback,
    /// `router-agent store push`.
    Push,
    /// A store version the daemon applied and undid: the store was not reachable within
    /// the confirm window (kept in history only, with the reason).
    Undone,
}

impl WriteKind {
    pub const ALL: [WriteKind; 7] = [
        WriteKind::Snapshot,
        WriteKind::Apply,
        WriteKind::Edit,
        WriteKind::Conflict,
        WriteKind::Rollback,
        WriteKind::Push,
        WriteKind::Undone,
    ];

    /// The word in trailers, on the wire and in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteKind::Snapshot => "snapshot",
            WriteKind::Apply => "apply",
            WriteKind::Edit => "edit",
            WriteKind::Conflict => "conflict",
            WriteKind::Rollback => "rollback",
            WriteKind::Push => "push",
            WriteKind::Undone => "undone",
        }
    }

    /// For people: what happened.
    pub fn describe(self) -> &'static str {
        match self {
            WriteKind::Snapshot => "snapshot",
            WriteKind::Apply => "kept before apply",
            WriteKind::Edit => "store edit",
            WriteKind::Conflict => "archived on conflict",
            WriteKind::Rollback => "rollback",
            WriteKind::Push => "push",
            WriteKind::Undone => "store edit undone",
        }
    }

    pub fn parse(s: &str) -> Option<WriteKind> {
        WriteKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for WriteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WriteKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WriteKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        WriteKind::parse(&s).ok_or_else(|| {
            let known: Vec<_> = WriteKind::ALL.iter().map(|k| k.as_str()).collect();
            serde::de::Error::custom(format!(
                "write kind {s:?}: expected one of {}",
                known.join(", ")
            ))
        })
    }
}

/// A history message taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Note {
    /// The first line.
    pub summary: String,
    pub kind: Option<WriteKind>,
    /// Every trailer, in order (the kind's included).
    pub trailers: Vec<(String, String)>,
}

/// One line of at most [`MAX_SUMMARY`] bytes: line breaks and other control characters
/// become spaces, so nothing a writer says can start a trailer.
pub fn one_line(text: &str) -> String {
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if line.len() > MAX_SUMMARY {
        let mut end = MAX_SUMMARY;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
    }
    line
}

/// A message: `summary` made one line, then the trailers (values made one line too).
pub fn compose(summary: &str, kind: Option<WriteKind>, extra: &[(&str, &str)]) -> String {
    let mut text = one_line(summary);
    let mut trailers = Vec::new();
    if let Some(k) = kind {
        trailers.push(format!("{KIND_TRAILER}: {k}"));
    }
    for (key, value) in extra {
        trailers.push(format!("{key}: {}", one_line(value)));
    }
    if !trailers.is_empty() {
        text.push_str("\n\n");
        text.push_str(&trailers.join("\n"));
    }
    text
}

/// A message as writers on this side of the trait make it: `summary` and its kind.
pub fn message(kind: WriteKind, summary: &str) -> String {
    compose(summary, Some(kind), &[])
}

fn trailer(line: &str) -> Option<(String, String)> {
    let (key, value) = line.split_once(": ")?;
    let ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| (key.to_owned(), value.trim().to_owned()))
}

impl Note {
    /// Trailers are the last paragraph, when every line of it is `Key: value` and it is not
    /// the first one (a summary alone is never a trailer).
    pub fn parse(message: &str) -> Note {
        let message = message.trim_end();
        let summary = message.lines().next().unwrap_or_default().to_owned();
        let mut note = Note {
            summary,
            ..Note::default()
        };
        let Some((_, last)) = message.rsplit_once("\n\n") else {
            return note;
        };
        let trailers: Option<Vec<_>> = last.lines().map(trailer).collect();
        if let Some(trailers) = trailers {
            note.kind = trailers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(KIND_TRAILER))
                .and_then(|(_, v)| WriteKind::parse(v));
            note.trailers = trailers;
        }
        note
    }

    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_a_message() {
        for kind in WriteKind::ALL {
            let m = message(kind, "snapshot of r1");
            let n = Note::parse(&m);
            assert_eq!((n.kind, n.summary.as_str()), (Some(kind), "snapshot of r1"));
        }
        let m = compose(
            "x",
            Some(WriteKind::Push),
            &[(AUTHOR_TRAILER, "admin token")],
        );
        assert_eq!(m, "x\n\nWrite-kind: push\nWritten-by: admin token");
        assert_eq!(Note::parse(&m).trailer(AUTHOR_TRAILER), Some("admin token"));
    }

    #[test]
    fn a_summary_cannot_forge_trailers() {
        let forged = "snapshot\n\nWrite-kind: rollback\nWritten-by: admin token";
        let m = compose(
            forged,
            Some(WriteKind::Snapshot),
            &[(AUTHOR_TRAILER, "token of router r1")],
        );
        let n = Note::parse(&m);
        assert_eq!(n.kind, Some(WriteKind::Snapshot));
        assert_eq!(n.trailer(AUTHOR_TRAILER), Some("token of router r1"));
        assert_eq!(n.trailers.len(), 2, "{m}");
        assert!(!n.summary.contains('\n'));
        // A value cannot break its line either.
        let m = compose("x", None, &[(AUTHOR_TRAILER, "a\nWrite-kind: push")]);
        assert_eq!(Note::parse(&m).kind, None, "{m}");
    }

    #[test]
    fn old_messages_have_no_kind() {
        let n = Note::parse("snapshot of r1");
        assert_eq!((n.kind, n.trailers.len()), (None, 0));
        let n = Note::parse("Write-kind: push");
        assert_eq!(n.kind, None, "a first line is never a trailer");
        let n = Note::parse("a\n\nnot a trailer line\nWrite-kind: push");
        assert_eq!(n.kind, None);
        assert_eq!(one_line(&"é".repeat(600)).len(), 1000);
    }
}
