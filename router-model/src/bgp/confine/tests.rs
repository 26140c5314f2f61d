//! Hostile `[bgp].raw` text.

use super::*;

#[track_caller]
fn refused(text: &str, line_col: (usize, usize), word: &str) {
    let e = check_raw(text).expect_err("expected the text to be refused");
    assert_eq!((e.line, e.col), line_col, "{e}");
    assert!(e.message.contains(word), "expected {word:?} in {e}");
}

#[test]
fn ordinary_bird_text_passes() {
    for t in [
        "protocol static mine { ipv4; }",
        "protocol static s {\n\tipv4;\n\troute 192.0.2.0/24 blackhole; # a } in a comment\n}\n",
        "/* include \"/etc/shadow\"\n } */\nfilter f { if net ~ [ 10.0.0.0/8+ ] then accept; reject; }",
        "define greeting = \"{ include }\";\nprotocol device { scan time 10; }",
        "protocol kernel 'k-1' { ipv4 { export all; }; }",
    ] {
        check_raw(t).unwrap_or_else(|e| panic!("{t}: {e}"));
    }
}

#[test]
fn include_at_the_start_of_a_line_is_refused() {
    refused("include \"/etc/shadow\";", (1, 1), "include");
    refused(
        "protocol device {}\n   include \"/etc/bird/*.conf\";",
        (2, 4),
        "include",
    );
    refused("/* a */\n\tinclude\"x\";", (2, 2), "include");
}

#[test]
fn blocks_strings_and_comments_close_within_the_text() {
    refused("}\nprotocol static evil { ipv4; }", (1, 1), "did not open");
    refused("protocol static s {\n\tipv4;\n", (1, 19), "not closed");
    refused("define x = \"open;\n", (1, 12), "quote");
    refused("protocol static 's {}", (1, 17), "quote");
    refused("/* the rest", (1, 1), "not closed");
    refused("/* a /* b */", (1, 1), "nest");
    refused("protocol device {}\r\n", (1, 19), "U+000D");
}
