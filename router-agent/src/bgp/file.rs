//! The bird.conf the agent writes: a header holding the `[bgp]` model (so `show` can read
//! it back), the generated body between BEGIN and END lines, then `[bgp].raw`.
//!
//! Read back: the model comes from the header; the body is rendered again from it and
//! must match (an edit inside it is refused: the model could not say it); text after END,
//! the operator's own or the config's raw, comes back as `raw`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::conf;
use super::BgpError;
use crate::model::bgp::{Bgp, BgpConfig, ListFile, ListFiles};

pub(crate) const HEADER: &str = "# Written by router-agent from the [bgp] section of its config.\n\
# Lines starting with \"#| \" are that section; do not edit them, nor the text between\n\
# BEGIN and END. Text after END is yours: `router-agent show` reads it back as [bgp].raw.\n";
const MODEL: &str = "#| ";
const BEGIN: &str = "# BEGIN router-agent\n";
const END: &str = "# END router-agent\n";

/// The header's model: the section, and the list files it names (the config keeps only
/// their names; read-back needs their text to render the body again).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Section {
    bgp: BgpConfig,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    files: BTreeMap<ListFile, String>,
}

/// The whole bird.conf for `bgp`.
pub fn render_file(bgp: &Bgp) -> String {
    let model = toml::to_string(&Section {
        bgp: bgp.to_config(),
        files: bgp.files.clone(),
    })
    .unwrap_or_else(|e| panic!("rendering [bgp]: {e}"));
    let body = conf::render(bgp);
    let mut out = String::with_capacity(model.len() * 2 + body.len() + 256);
    out.push_str(HEADER);
    for line in model.lines() {
        out.push_str(MODEL);
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(BEGIN);
    out.push_str(&body);
    out.push_str(END);
    if let Some(raw) = &bgp.raw {
        out.push_str(raw);
        out.push('\n');
    }
    out
}

/// What a bird.conf holds, as far as the agent can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The file was written by the agent; the model, with the raw text after END.
    Agent(Box<Bgp>),
    /// A file the agent did not write (no header).
    Foreign,
}

/// Whether a bird.conf is the agent's (a router with `[bgp]`), not one it found there
/// (Debian's default, another tool's).
pub fn written_by_agent(text: &str) -> bool {
    text.starts_with(HEADER)
}

/// Reads a bird.conf back into the model. `origin` names it in errors.
pub fn parse_file(origin: &str, text: &str) -> Result<Read, BgpError> {
    if !written_by_agent(text) {
        return Ok(Read::Foreign);
    }
    let bad = |message: String| BgpError::ReadBack {
        origin: origin.to_owned(),
        message,
    };
    let rest = &text[HEADER.len()..];
    let mut model = String::new();
    let mut body_start = None;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if let Some(l) = line.strip_prefix(MODEL) {
            model.push_str(l);
        } else if line == BEGIN {
            body_start = Some(offset + line.len());
            break;
        } else {
            return Err(bad(format!(
                "the header was edited (line {line:?}); write the file again with `router-agent apply`"
            )));
        }
        offset += line.len();
    }
    let start = body_start.ok_or_else(|| bad("no BEGIN line".into()))?;
    let after = &rest[start..];
    let end = after
        .find(END)
        .filter(|i| *i == 0 || after.as_bytes()[i - 1] == b'\n')
        .ok_or_else(|| bad("no END line".into()))?;
    let body = &after[..end];
    let raw = after[end + END.len()..].trim();
    let mut section: Section = toml::from_str(&model)
        .map_err(|e| bad(format!("the model in the header does not parse: {e}")))?;
    section.bgp.files = ListFiles(section.files.into_iter().map(|(n, t)| (n, Ok(t))).collect());
    let mut bgp = section.bgp.validate(&[]).map_err(|p| {
        bad(format!(
            "the model in the header is not valid: {}",
            p[0].message
        ))
    })?;
    if conf::render(&bgp) != body {
        return Err(bad(
            "the generated part (between BEGIN and END) was edited by hand; the model cannot \
             say those edits. Move them after the END line (they become [bgp].raw) or into the config"
                .into(),
        ));
    }
    bgp.raw = (!raw.is_empty()).then(|| raw.to_owned());
    Ok(Read::Agent(Box::new(bgp)))
}
