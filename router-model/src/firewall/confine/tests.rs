//! Hostile raw text, each case as the tester wrote it or a variant of it.

use super::*;

#[track_caller]
fn refused(r: Result<impl fmt::Debug, RawTextError>, line_col: (usize, usize), words: &[&str]) {
    let e = r.expect_err("expected the text to be refused");
    assert_eq!((e.line, e.col), line_col, "{e}");
    for w in words {
        assert!(e.message.contains(w), "expected {w:?} in {e}");
    }
}

#[test]
fn ordinary_rules_pass() {
    for r in [
        "tcp dport 22 accept",
        "meta mark 0x1 ip saddr 10.9.0.0/16 counter drop",
        "iifname \"x;1}\" tcp dport { 22, 80 } accept",
        "ip saddr @bogons log prefix \"bogon; } # \" drop",
        "tcp dport 22 jump { ip saddr 10.0.0.0/8 accept; drop }",
        "ct state established,related accept comment \"keep; going\"",
        "ip6 daddr ::1 udp dport 53 accept",
    ] {
        check_rule(r).unwrap_or_else(|e| panic!("{r}: {e}"));
    }
}

#[test]
fn a_semicolon_cannot_start_a_command() {
    let evil = "counter; add table ip evil; add chain ip evil c { type filter hook input priority -500; policy drop; }";
    refused(check_rule(evil), (1, 8), &["`;` ends the rule"]);
    refused(
        check_rule("counter; delete table ip victim"),
        (1, 8),
        &[";"],
    );
    refused(check_rule("counter ; flush ruleset"), (1, 9), &[";"]);
}

#[test]
fn a_rule_cannot_close_or_leave_open_a_brace() {
    refused(
        check_rule("counter } add table ip evil"),
        (1, 9),
        &["did not open"],
    );
    refused(
        check_rule("tcp dport { 22, 80 accept"),
        (1, 11),
        &["not closed"],
    );
    refused(
        check_rule("counter \"open"),
        (1, 9),
        &["string is not closed"],
    );
}

#[test]
fn a_rule_is_one_line_without_comments_or_control_characters() {
    refused(
        check_rule("counter\nadd table ip evil"),
        (1, 8),
        &["one line"],
    );
    refused(check_rule("counter \\\nadd"), (1, 10), &["one line"]);
    refused(check_rule("counter # hide ; }"), (1, 9), &["# comment"]);
    refused(check_rule("counter\raccept"), (1, 8), &["U+000D"]);
    refused(check_rule("counter \"a\0b\""), (1, 11), &["U+0000"]);
    refused(check_rule("   "), (1, 1), &["tcp dport 22 accept"]);
}

#[test]
fn include_and_define_are_refused_anywhere_outside_strings() {
    refused(
        check_rule("counter include \"/etc/shadow\""),
        (1, 9),
        &["include"],
    );
    refused(
        check_rule("counter;include\"/etc/shadow\""),
        (1, 9),
        &["include"],
    );
    refused(
        check_rule("1dinclude \"/etc/shadow\""),
        (1, 1),
        &["include"],
    );
    refused(
        check_block("define p = \"/etc/shadow\"\n"),
        (1, 1),
        &["define"],
    );
    refused(
        check_block("chain c {\n\tinclude \"/etc/shadow\"\n}"),
        (2, 2),
        &["include"],
    );
    refused(
        check_block("chain c {\n\tredefine x = 1\n}"),
        (2, 2),
        &["define"],
    );
    refused(
        check_table("table ip t {\n\tinclude \"/etc/shadow\"\n}", "ip", "t"),
        (2, 2),
        &["include"],
    );
    // A name that merely contains the word is one name to nft.
    check_block("chain included_hosts {\n\tcounter\n}").expect("a name");
    check_rule("jump undefined_policy").expect("a name");
    refused(
        check_block("chain c {\n\tundefine x\n}"),
        (2, 2),
        &["undefine"],
    );
    // In a string or a comment it is text, not a directive.
    check_rule("counter comment \"include define\"").expect("a string");
    check_block("# include \"/etc/shadow\" is not read\nchain c {\n}").expect("a comment");
}

const CHAIN: &str = "chain mark_te {\n\ttype filter hook prerouting priority mangle; policy accept;\n\tmeta l4proto 89 meta mark set 0x00000100\n}\n";

#[test]
fn objects_of_the_table_pass_and_are_named() {
    let text = format!(
        "{CHAIN}set s {{\n\ttype ipv4_addr\n\tflags interval\n\telements = {{ 10.0.0.0/8 }}\n}}\n\
         map m {{ type ipv4_addr : verdict; elements = {{ 192.0.2.1 : drop }} }}\n\
         ct helper ftp {{ type \"ftp\" protocol tcp; }}; counter c {{ }}\n\
         flowtable f {{ hook ingress priority 0; devices = {{ lo }}; }}"
    );
    let declared = check_block(&text).expect("objects only");
    let names: Vec<String> = declared.iter().map(|(k, n)| format!("{k} {n}")).collect();
    assert_eq!(
        names,
        [
            "chain mark_te",
            "set s",
            "map m",
            "ct helper ftp",
            "counter c",
            "flowtable f"
        ]
    );
}

#[test]
fn a_raw_block_cannot_close_the_agents_table() {
    let evil = format!("{CHAIN}}}\ntable ip evil {{\n}}\ntable inet router_agent {{\n");
    refused(check_block(&evil), (5, 1), &["close the agent's table"]);
    refused(
        check_block("}; delete table ip victim; table inet router_agent {"),
        (1, 1),
        &["close"],
    );
}

#[test]
fn a_raw_block_declares_objects_only() {
    refused(
        check_block("add table ip evil"),
        (1, 1),
        &["`add`", "objects"],
    );
    refused(
        check_block(&format!("{CHAIN}flush ruleset")),
        (5, 1),
        &["`flush`"],
    );
    refused(check_block("table ip evil { }"), (1, 1), &["`table`"]);
    refused(
        check_block("comment \"gen=forged\""),
        (1, 1),
        &["agent's own"],
    );
    refused(check_block("flags dormant"), (1, 1), &["agent's own"]);
    refused(
        check_block("chain c { } delete table ip victim"),
        (1, 13),
        &["new line"],
    );
    refused(
        check_block("chain c {\n\taccept\n"),
        (1, 9),
        &["not closed"],
    );
    refused(check_block("chain {\n}"), (1, 7), &["needs a name"]);
    refused(check_block("chain c\n{\n}"), (1, 8), &["needs its block"]);
    refused(check_block("ct zone z { }"), (1, 1), &["ct helper"]);
}

const KEPT: &str = "table inet keepme {\n\tchain c {\n\t\ttcp dport 1 drop\n\t}\n}";

#[test]
fn a_kept_table_is_exactly_its_one_table() {
    check_table(KEPT, "inet", "keepme").expect("as nft lists it");
    check_table(&format!("\n{KEPT}\n\n"), "inet", "keepme").expect("blank lines around");
    check_table(
        "table ip t {\n\tflags dormant\n\tcomment \"theirs\"\n}",
        "ip",
        "t",
    )
    .expect("its own flags and comment");
    refused(
        check_table(&format!("{KEPT}\ndelete table ip victim"), "inet", "keepme"),
        (6, 1),
        &["after the closing }"],
    );
    refused(
        check_table(&format!("{KEPT}; flush ruleset"), "inet", "keepme"),
        (5, 4),
        &["commands of their own"],
    );
    refused(
        check_table(
            "table inet keepme {\n}\n}\nadd table ip evil",
            "inet",
            "keepme",
        ),
        (3, 1),
        &["after the closing }"],
    );
    refused(
        check_table(KEPT, "ip", "keepme"),
        (1, 7),
        &["table ip keepme"],
    );
    refused(
        check_table(KEPT, "inet", "other"),
        (1, 12),
        &["table inet other"],
    );
    refused(
        check_table(
            "add table ip victim; delete table ip victim",
            "ip",
            "victim",
        ),
        (1, 1),
        &["the one table"],
    );
    refused(
        check_table("table inet keepme {", "inet", "keepme"),
        (1, 19),
        &["not closed"],
    );
    refused(
        check_table("", "inet", "keepme"),
        (1, 1),
        &["the one table"],
    );
}

#[test]
fn positions_count_characters_not_bytes() {
    refused(check_rule("comment \"é\" ; accept"), (1, 13), &[";"]);
}
