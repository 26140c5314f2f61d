//! `[bgp].raw`, read far enough to keep it where the config puts it: whole top-level BIRD
//! statements after the generated part. BIRD's lexer (the same rules here: `#` and
//! `/* */` comments, strings and 'symbols' that end on their line) would otherwise let the
//! text read other files (`include`, at the start of a line), leave a block, string or
//! comment open, or close a block it did not open.

use crate::firewall::confine::RawTextError;

fn error(src: &str, at: usize, message: impl Into<String>) -> RawTextError {
    let before = &src[..at.min(src.len())];
    RawTextError {
        line: before.matches('\n').count() + 1,
        col: before.rsplit('\n').next().unwrap_or("").chars().count() + 1,
        message: message.into(),
    }
}

/// Checks BIRD text for the end of bird.conf: complete statements, no `include`.
pub fn check_raw(text: &str) -> Result<(), RawTextError> {
    let err = |at: usize, m: &str| Err(error(text, at, m.replace("TEXT", "BIRD text")));
    if let Some((at, c)) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\t' && *c != '\n')
    {
        return Err(error(
            text,
            at,
            format!(
                "control character U+{:04X}; BIRD takes spaces, tabs and newlines only",
                c as u32
            ),
        ));
    }
    let bytes = text.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    let mut line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        if line_start {
            line_start = false;
            let rest = text[i..].trim_start_matches([' ', '\t']);
            if rest.starts_with("include") {
                return err(
                    text.len() - rest.len(),
                    "TEXT cannot include files: the agent writes all of bird.conf; put the text itself here",
                );
            }
        }
        match bytes[i] {
            b'\n' => line_start = true,
            b'#' => i = text[i..].find('\n').map_or(text.len(), |n| i + n) - 1,
            b'/' if bytes.get(i + 1) == Some(&b'*') => match text[i + 2..].find("*/") {
                Some(n) if !text[i + 2..i + 2 + n].contains("/*") => {
                    i += n + 3;
                    // A comment that spans lines leaves the next line's start inside it.
                }
                Some(_) => {
                    return err(
                        i,
                        "a /* comment inside a /* comment: BIRD does not nest them",
                    )
                }
                None => return err(i, "this /* comment is not closed: add */"),
            },
            q @ (b'"' | b'\'') => match text[i + 1..].find([q as char, '\n']) {
                Some(n) if bytes[i + 1 + n] == q => i += n + 1,
                _ => return err(i, "this quote is not closed on its line"),
            },
            b'{' => open.push(i),
            b'}' if open.pop().is_none() => {
                return err(
                    i,
                    "this } closes a block TEXT did not open (the generated part is closed)",
                )
            }
            _ => {}
        }
        i += 1;
    }
    match open.pop() {
        Some(at) => err(at, "this { is not closed: add a }"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
