//! Raw nftables text from a config, read far enough to confine it before it goes near `nft`.
//!
//! The agent writes raw text into its transaction in three places: a raw rule after
//! `add rule inet router_agent CHAIN`, `firewall.raw` inside `table inet router_agent { }`,
//! and a kept table's ruleset on its own. nft's syntax lets text there end the statement
//! (`;`, a newline, a `}` too many) and go on with commands of its own (`add table`,
//! `delete table`, `flush ruleset`), or read files (`include`, `define`). So the text is
//! split into nft's tokens (strings, comments, braces, separators, words: the same rules as
//! nft's scanner for what matters here) and refused unless it is exactly one rule body, only
//! objects of the agent's table, or exactly the one table it names.

use std::fmt;

/// Where in the raw text a problem is (1-based), and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTextError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for RawTextError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "line {}, column {} of the raw text: {}",
            self.line, self.col, self.message
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Str,
    Comment,
    Open,
    Close,
    Semi,
    Newline,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    at: usize,
}

/// Objects a table block may declare, as nft's grammar names them.
const OBJECTS: &[&str] = &[
    "chain",
    "set",
    "map",
    "flowtable",
    "counter",
    "quota",
    "limit",
    "secmark",
    "synproxy",
];
/// What follows `ct` for a ct object.
const CT_OBJECTS: &[&str] = &["helper", "timeout", "expectation"];
/// Words nft acts on wherever they stand: `include` reads a file, `define` and its kin set
/// variables (a path, a set of addresses) for text elsewhere.
const FORBIDDEN: &[&str] = &["include", "define", "redefine", "undefine"];

/// The forbidden word in `word`, as nft's scanner would see it. A run of name characters
/// that starts like a name (a letter, `_` or `.`) is one token for nft, the longest match
/// (`included_hosts` is a name, not `include`); a run that starts otherwise (a digit) can
/// be split anywhere (`1dinclude` is `1d` and `include`).
fn forbidden_in(word: &str) -> Option<&'static str> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '-' | '.');
    let runs = word
        .split(|c: char| !name_char(c))
        .filter(|r| !r.is_empty());
    for run in runs {
        let name = run.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '.');
        let hit = FORBIDDEN
            .iter()
            .find(|k| if name { run == **k } else { run.contains(**k) });
        if let Some(k) = hit {
            return Some(k);
        }
    }
    None
}

struct Text<'a> {
    src: &'a str,
}

impl Text<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> RawTextError {
        let before = &self.src[..at.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        RawTextError {
            line,
            col,
            message: message.into(),
        }
    }
}

/// nft's tokens, as far as confinement needs them. nft's scanner takes only space and tab
/// as blanks; other control characters are refused here (nft would call them junk).
fn lex<'a>(t: &Text<'a>) -> Result<Vec<Token<'a>>, RawTextError> {
    let src = t.src;
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let (kind, end) = match c {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            // A backslash before a newline joins the lines (nft's scanner does the same).
            b'\\' if bytes.get(i + 1) == Some(&b'\n') => {
                i += 2;
                continue;
            }
            b'\n' => (Kind::Newline, i + 1),
            b';' => (Kind::Semi, i + 1),
            b'{' => (Kind::Open, i + 1),
            b'}' => (Kind::Close, i + 1),
            b'#' => (
                Kind::Comment,
                src[i..].find('\n').map_or(src.len(), |n| i + n),
            ),
            b'"' => match src[i + 1..].find('"') {
                Some(n) => (Kind::Str, i + n + 2),
                None => return Err(t.error(i, "this string is not closed: add a \"")),
            },
            _ => (Kind::Word, word_end(bytes, i)),
        };
        if let Some(bad) = src[i..end]
            .char_indices()
            .find(|(_, ch)| ch.is_control() && *ch != '\t' && *ch != '\n')
        {
            return Err(t.error(
                i + bad.0,
                format!(
                    "control character U+{:04X}; nftables text takes spaces, tabs and newlines only",
                    bad.1 as u32
                ),
            ));
        }
        if kind == Kind::Word {
            if let Some(k) = forbidden_in(&src[i..end]) {
                return Err(t.error(
                    i,
                    format!(
                        "`{}`: raw nftables text cannot use {k} (it reads files or sets variables outside the text); write the objects themselves",
                        &src[i..end]
                    ),
                ));
            }
        }
        out.push(Token {
            kind,
            text: &src[i..end],
            at: i,
        });
        i = end;
    }
    Ok(out)
}

fn word_end(bytes: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < bytes.len() && !b" \t\n;{}#\"\\".contains(&bytes[j]) {
        j += 1;
    }
    j
}

/// Checks a raw rule: the body of one rule, as `nft list` prints it after the chain name.
/// `;` may stand only inside braces (an anonymous chain: `jump { ...; ... }`).
pub fn check_rule(text: &str) -> Result<(), RawTextError> {
    let t = Text { src: text };
    if let Some(n) = text.find('\n') {
        return Err(t.error(n, "a raw rule is one line of nftables rule syntax"));
    }
    let tokens = lex(&t)?;
    let mut open: Vec<usize> = Vec::new();
    for tok in &tokens {
        match tok.kind {
            Kind::Comment => {
                return Err(t.error(
                    tok.at,
                    "a raw rule cannot hold a # comment; write comment \"...\" in the rule",
                ))
            }
            Kind::Semi if open.is_empty() => {
                return Err(t.error(
                    tok.at,
                    "`;` ends the rule, and nft would read what follows as commands of its own; a raw rule is one rule (write another [[firewall.rule]] for the next)",
                ))
            }
            Kind::Open => open.push(tok.at),
            Kind::Close if open.pop().is_none() => {
                return Err(t.error(tok.at, "this } closes a brace the rule did not open"))
            }
            _ => {}
        }
    }
    if let Some(at) = open.pop() {
        return Err(t.error(at, "this { is not closed: add a }"));
    }
    if tokens.is_empty() {
        return Err(t.error(
            0,
            "a raw rule is one line of nftables rule syntax, e.g. \"tcp dport 22 accept\"",
        ));
    }
    Ok(())
}

/// Checks `firewall.raw`: only objects of the agent's table (`chain NAME { ... }`,
/// `set NAME { ... }`, ...), each a block of its own. Returns them as (kind, name).
pub fn check_block(text: &str) -> Result<Vec<(String, String)>, RawTextError> {
    let t = Text { src: text };
    let tokens = significant(lex(&t)?);
    let mut declared = Vec::new();
    let mut i = 0;
    while let Some(tok) = tokens.get(i) {
        if is_separator(tok) {
            i += 1;
            continue;
        }
        let (kind, name_at) = object_kind(&t, &tokens, i)?;
        let name = match tokens.get(name_at) {
            Some(n) if n.kind == Kind::Word => n,
            _ => {
                let at = tokens.get(name_at).map_or(text.len(), |n| n.at);
                return Err(t.error(
                    at,
                    format!("{kind} needs a name here, e.g. {kind} NAME {{ ... }}"),
                ));
            }
        };
        let close = block(&t, &tokens, name_at + 1, &format!("{kind} {}", name.text))?;
        end_of_statement(&t, &tokens, close + 1, &format!("{kind} {}", name.text))?;
        declared.push((kind, name.text.to_owned()));
        i = close + 1;
    }
    Ok(declared)
}

/// Checks a kept table's ruleset: exactly `table FAMILY NAME { ... }` for the family and
/// name the config gives, and nothing after it.
pub fn check_table(text: &str, family: &str, name: &str) -> Result<(), RawTextError> {
    let t = Text { src: text };
    let tokens = significant(lex(&t)?);
    let want = format!("table {family} {name}");
    let mut i = 0;
    while tokens.get(i).is_some_and(is_separator) {
        i += 1;
    }
    let words: Vec<Option<&Token>> = (i..i + 3).map(|k| tokens.get(k)).collect();
    let expect = ["table", family, name];
    for (w, e) in words.iter().zip(expect) {
        match w {
            Some(tok) if tok.kind == Kind::Word && tok.text == e => {}
            _ => {
                let at = w.map_or(text.len(), |tok| tok.at);
                return Err(t.error(
                    at,
                    format!("the ruleset must be the one table `{want} {{ ... }}` as nft list table prints it"),
                ));
            }
        }
    }
    let close = block(&t, &tokens, i + 3, &want)?;
    if let Some(extra) = tokens[close + 1..].iter().find(|tok| !is_separator(tok)) {
        return Err(t.error(
            extra.at,
            format!("text after the closing }} of {want}: nft would read it as commands of their own; the ruleset holds only this table"),
        ));
    }
    Ok(())
}

/// Tokens without comments.
fn significant(tokens: Vec<Token>) -> Vec<Token> {
    tokens
        .into_iter()
        .filter(|t| t.kind != Kind::Comment)
        .collect()
}

fn is_separator(t: &Token) -> bool {
    matches!(t.kind, Kind::Newline | Kind::Semi)
}

/// The object a statement at the top of the agent's table declares, and where its name is.
fn object_kind(t: &Text, tokens: &[Token], i: usize) -> Result<(String, usize), RawTextError> {
    let tok = tokens[i];
    let word = (tok.kind == Kind::Word).then_some(tok.text);
    match word {
        Some("ct") => match tokens.get(i + 1) {
            Some(k) if k.kind == Kind::Word && CT_OBJECTS.contains(&k.text) => {
                Ok((format!("ct {}", k.text), i + 2))
            }
            _ => Err(t.error(tok.at, "ct objects are ct helper, ct timeout or ct expectation")),
        },
        Some(w) if OBJECTS.contains(&w) => Ok((w.to_owned(), i + 1)),
        Some("flags" | "comment") => Err(t.error(
            tok.at,
            "the agent's table's flags and comment are the agent's own; firewall.raw declares only objects in it",
        )),
        _ if tok.kind == Kind::Close => Err(t.error(
            tok.at,
            "this } would close the agent's table, and nft would read what follows as commands of their own",
        )),
        _ => Err(t.error(
            tok.at,
            format!(
                "`{}`: firewall.raw declares only objects of the agent's table ({}, ct helper, ct timeout, ct expectation), each as KIND NAME {{ ... }}; other nft commands are not allowed",
                tok.text,
                OBJECTS.join(", ")
            ),
        )),
    }
}

/// Checks that `tokens[open]` is `{` and finds its matching `}`: the index of the `}`.
fn block(t: &Text, tokens: &[Token], open: usize, what: &str) -> Result<usize, RawTextError> {
    match tokens.get(open) {
        Some(tok) if tok.kind == Kind::Open => {}
        other => {
            let at = other.map_or(t.src.len(), |tok| tok.at);
            return Err(t.error(at, format!("{what} needs its block here: {{ ... }}")));
        }
    }
    let mut depth = 0usize;
    for (k, tok) in tokens.iter().enumerate().skip(open) {
        match tok.kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(k);
                }
            }
            _ => {}
        }
    }
    Err(t.error(
        tokens[open].at,
        format!("the {{ of {what} is not closed: add a }}"),
    ))
}

fn end_of_statement(t: &Text, tokens: &[Token], i: usize, what: &str) -> Result<(), RawTextError> {
    match tokens.get(i) {
        None => Ok(()),
        Some(tok) if is_separator(tok) => Ok(()),
        Some(tok) => Err(t.error(
            tok.at,
            format!("after the closing }} of {what}, start a new line"),
        )),
    }
}

#[cfg(test)]
mod tests;
