//! What `check` says about a config text, for the tests of its errors.
#![allow(dead_code)]

use router_agent::model;

/// The error `model::load` gives for `text`, as the operator sees it.
pub fn error(text: &str) -> String {
    match model::load("x.toml", text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts the error starts at `x.toml:LINE:COL:` and mentions every one of `words`.
#[track_caller]
pub fn check(text: &str, line_col: &str, words: &[&str]) {
    let e = error(text);
    let at = format!("x.toml:{line_col}: ");
    assert!(e.starts_with(&at), "expected an error at {at}, got:\n{e}");
    for w in words {
        assert!(e.contains(w), "expected {w:?} in:\n{e}");
    }
}
