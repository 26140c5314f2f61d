use super::*;

fn s(b: Vec<u8>) -> String {
    String::from_utf8(b).expect("utf-8")
}

#[test]
fn an_agent_line_from_the_journal() {
    let line = br#"{"__REALTIME_TIMESTAMP":"1764770400123456","PRIORITY":"6","SYSLOG_FACILITY":"3","SYSLOG_IDENTIFIER":"router-agent","_PID":"412","_SYSTEMD_UNIT":"router-agent.service","MESSAGE":"snapshot: 1 change"}"#;
    let e = Entry::from_json(line).expect("entry");
    assert_eq!(
        s(frame(&e, "edge-1")),
        "<30>1 2025-12-03T14:00:00.123456Z edge-1 router-agent 412 - \
         [journal@32473 unit=\"router-agent.service\"] snapshot: 1 change"
    );
}

#[test]
fn kernel_messages_are_facility_kern() {
    let line = br#"{"_TRANSPORT":"kernel","PRIORITY":"3","MESSAGE":"eth0: link down"}"#;
    let e = Entry::from_json(line).expect("entry");
    assert_eq!(s(frame(&e, "r1")), "<3>1 - r1 kernel - - - eth0: link down");
}

#[test]
fn defaults_when_fields_are_missing_or_out_of_range() {
    let e = Entry::from_json(br#"{"MESSAGE":"x","PRIORITY":"9","SYSLOG_FACILITY":"99"}"#)
        .expect("entry");
    // info, daemon
    assert_eq!(s(frame(&e, "r1")), "<30>1 - r1 - - - - x");
    assert!(
        Entry::from_json(br#"{"PRIORITY":"6"}"#).is_none(),
        "no MESSAGE"
    );
    assert!(Entry::from_json(b"not json").is_none());
}

#[test]
fn binary_messages_are_read_lossily() {
    let e = Entry::from_json(br#"{"MESSAGE":[104,105,255,10]}"#).expect("entry");
    assert_eq!(e.message, "hi\u{fffd}\n");
    assert!(s(frame(&e, "r1")).ends_with(" hi\u{fffd}"));
}

#[test]
fn structured_data_is_escaped_and_headers_confined() {
    let e = Entry {
        severity: 4,
        facility: 4,
        app: Some("ss hd\u{7}".into()),
        unit: Some(r#"a"b\c]d"#.into()),
        message: "Failed password for \"root\" ]".into(),
        ..Entry::default()
    };
    assert_eq!(
        s(frame(&e, "bad host")),
        r#"<36>1 - bad_host ss_hd_ - - [journal@32473 unit="a\"b\\c\]d"] Failed password for "root" ]"#
    );
}

#[test]
fn long_messages_are_cut_at_a_character() {
    let e = Entry {
        message: "é".repeat(MAX_FRAME),
        ..Entry::default()
    };
    let f = frame(&e, "r1");
    assert!(f.len() <= MAX_FRAME && f.len() > MAX_FRAME - 2);
    assert!(String::from_utf8(f).is_ok());
}

#[test]
fn timestamps_across_calendar_edges() {
    assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000Z");
    // 2024-02-29 23:59:59.5
    assert_eq!(
        timestamp(1_709_251_199_500_000),
        "2024-02-29T23:59:59.500000Z"
    );
    assert_eq!(
        timestamp(4_102_444_800_000_000),
        "2100-01-01T00:00:00.000000Z"
    );
}
