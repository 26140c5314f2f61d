//! Config errors that name the file, line and column and say what was expected.

use std::fmt;

use super::locate::{line_col, locate};

/// One step of the path to a value in the config, e.g. `interface[2].vlan.parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A semantic problem found by validation, at a path in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: Vec<Seg>,
    pub message: String,
}

impl Problem {
    pub fn path_string(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(k) if out.is_empty() => out.push_str(k),
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k)
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// A problem placed in the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: usize,
    pub col: usize,
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}:{line}:{col}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{}", Listing(origin, problems))]
    Invalid {
        origin: String,
        problems: Vec<Located>,
    },
    #[error("cannot read config {origin}: {error}")]
    Read {
        origin: String,
        error: std::io::Error,
    },
}

struct Listing<'a>(&'a str, &'a [Located]);

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.0, p.line, p.col, p.path, p.message
            )?;
        }
        Ok(())
    }
}

impl ConfigError {
    pub(super) fn parse(origin: &str, text: &str, e: &toml::de::Error) -> ConfigError {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax {
            origin: origin.to_owned(),
            line,
            col,
            message: e.message().trim().to_owned(),
        }
    }

    /// A config file that is not UTF-8, placed at its first bad byte.
    pub fn not_utf8(origin: &str, bytes: &[u8], e: &std::str::Utf8Error) -> ConfigError {
        let good = &bytes[..e.valid_up_to()];
        // The prefix is valid UTF-8 by definition; the column counts its characters.
        let text = std::str::from_utf8(good).unwrap_or_default();
        let (line, col) = line_col(text, text.len());
        ConfigError::Syntax {
            origin: origin.to_owned(),
            line,
            col,
            message: "this byte is not UTF-8; a config is UTF-8 text (TOML)".to_owned(),
        }
    }

    pub fn invalid(origin: &str, text: &str, problems: Vec<Problem>) -> ConfigError {
        let problems = problems
            .into_iter()
            .map(|p| {
                let (line, col) = locate(text, &p.path);
                Located {
                    line,
                    col,
                    path: p.path_string(),
                    message: p.message,
                }
            })
            .collect();
        ConfigError::Invalid {
            origin: origin.to_owned(),
            problems,
        }
    }
}
