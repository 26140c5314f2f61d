//! The one way an error is said with its causes. Each error says its own cause either in
//! its message or as its `source()`, never both, so every cause appears once.

use std::error::Error;

/// `e`, then its cause, then that one's cause, and so on.
pub fn causes<'a>(e: &'a dyn Error) -> impl Iterator<Item = &'a dyn Error> {
    std::iter::successors(Some(e), |&e: &&'a dyn Error| {
        e.source().map(|s| s as &dyn Error)
    })
}

/// An error and its causes on one line: "what failed: why: why".
pub fn error_chain(e: &dyn Error) -> String {
    causes(e)
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("cannot read {path}: {error}")]
        Read { path: String, error: std::io::Error },
    }

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("loading the config")]
        Load(#[source] Inner),
    }

    #[test]
    fn each_cause_is_said_once() {
        let e = Outer::Load(Inner::Read {
            path: "/etc/x.toml".into(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
        let text = error_chain(&e);
        assert_eq!(
            text,
            "loading the config: cannot read /etc/x.toml: no such file"
        );
        for part in ["loading the config", "/etc/x.toml", "no such file"] {
            assert_eq!(text.matches(part).count(), 1, "{part} in {text}");
        }
        assert_eq!(causes(&e).count(), 2);
    }
}
