//! The dashboard over plain HTTP against a real `router-store serve`: paging and
//! filtering, escaping, broken routers, refused ids and versions, and rollback's token.

#[path = "support/serve.rs"]
mod serve;
#[path = "support/web.rs"]
#[allow(dead_code)] // each test file uses some of it
mod web;

use std::path::Path;

use serve::Serve;
use sha2::{Digest, Sha256};
use web::{config, get, post_form, put_config, put_status, request, status_json};

const ADMIN: &str = "admin-token-for-the-dashboard-test";
const ROUTER: &str = "token-of-router-r1";

fn hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tokens_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tokens.toml");
    let text = format!(
        "[[token]]\nsha256 = \"{}\"\nrouter = \"*\"\n\n[[token]]\nsha256 = \"{}\"\nrouter = \"r1\"\n",
        hex(ADMIN),
        hex(ROUTER)
    );
    std::fs::write(&path, text).expect("tokens file");
    path
}

/// The ids in the fleet table of a page, in order.
fn ids_shown(html: &str) -> Vec<String> {
    html.split("<tr id=\"router-")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_owned))
        .collect()
}

#[test]
fn fleet_pages_filters_sorts_and_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let serve = Serve::start(&store, &[]);
    let url = serve.url.as_str();
    for i in 0..45 {
        let id = if i % 3 == 0 {
            format!("edge-{i:02}")
        } else {
            format!("core-{i:02}")
        };
        put_config(url, &[], &id, &config(&id, 1));
    }
    let page = get(url, "/?per=20");
    assert_eq!(page.status, 200);
    let shown = ids_shown(&page.body);
    assert_eq!(shown.len(), 20);
    assert_eq!(shown[0], "core-01");
    assert!(page.body.contains("1–20 of 45 routers"), "{}", page.body);
    let third = get(url, "/?per=20&page=3");
    assert_eq!(ids_shown(&third.body).len(), 5);
    assert!(third.body.contains("41–45 of 45"));
    let edges = get(url, "/?q=EDGE&per=100");
    let edges = ids_shown(&edges.body);
    assert_eq!(edges.len(), 15);
    assert!(edges.iter().all(|id| id.starts_with("edge-")));
    let desc = ids_shown(&get(url, "/?q=edge&sort=id&desc=1").body);
    assert_eq!(desc.first().map(String::as_str), Some("edge-42"));

    // Health: one stale, one degraded with a reason that is HTML, one garbled record.
    put_status(url, &[], "edge-00", &status_json(0, 60, "running", None));
    put_status(url, &[], "edge-03", &status_json(600, 60, "running", None));
    let evil = "<script>alert(1)</script> & \"quotes\"";
    put_status(
        url,
        &[],
        "edge-06",
        &status_json(0, 60, "degraded", Some(evil)),
    );
    std::fs::write(store.join("status/edge-09.json"), b"{not json").expect("garble");
    put_config(
        url,
        &[],
        "edge-12",
        "version = 1\n[[route]]\nto = \"nowhere\"\n",
    );
    let page = get(url, "/?q=edge&per=100");
    assert_eq!(page.status, 200, "a garbled record never breaks the page");
    let row = |id: &str| {
        let start = page
            .body
            .find(&format!("<tr id=\"router-{id}\""))
            .expect("row");
        page.body[start..]
            .split("</tr>")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        row("edge-00").contains("data-health=\"ok\""),
        "{}",
        row("edge-00")
    );
    assert!(row("edge-00").contains("1&#x2f;2") && row("edge-00").contains("1h0m"));
    assert!(row("edge-03").contains("data-health=\"stale\""));
    assert!(row("edge-06").contains("data-health=\"degraded\""));
    assert!(row("edge-09").contains("data-health=\"broken\""));
    assert!(row("edge-12").contains("data-health=\"broken\""));
    assert!(
        row("edge-12").contains("does not validate"),
        "{}",
        row("edge-12")
    );
    assert!(!page.body.contains("<script>alert"), "a reason is escaped");
    assert!(page
        .body
        .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; &quot;quotes&quot;"));
    let stale = ids_shown(&get(url, "/?health=stale&per=100").body);
    assert_eq!(stale, ["edge-03"]);
    let broken = ids_shown(&get(url, "/?health=broken&sort=health").body);
    assert_eq!(broken, ["edge-09", "edge-12"]);
    // The query is escaped where it is shown back.
    let q = get(url, "/?q=%22%3E%3Cb%3E");
    assert!(
        q.body.contains("value=\"&quot;&gt;&lt;b&gt;\""),
        "{}",
        q.body
    );
    assert!(!q.body.contains("\"><b>"));
}

#[test]
fn router_page_refuses_what_is_no_id_or_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(&dir.path().join("store"), &[]);
    let url = serve.url.as_str();
    let v1 = put_config(url, &[], "r1", &config("r1", 1));
    let v2 = put_config(url, &[], "r1", &config("r1", 2));
    let page = get(url, "/routers/r1");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("+1 route, -1 route"),
        "the change in router terms: {}",
        page.body
    );
    assert!(page
        .body
        .contains(&format!("r1@{v1}</code> → <code>r1@{v2}")));
    assert!(page.body.contains("<span class=\"del\">-metric = 1</span>"));
    let chosen = get(url, &format!("/routers/r1?a={v2}&b={v1}"));
    assert!(chosen
        .body
        .contains("<span class=\"add\">+metric = 1</span>"));
    for path in [
        "/routers/..%2F..%2Fetc",
        "/routers/.git",
        "/routers/r1?a=..%2F..%2Fconfigs.git",
        "/routers/r1?b=HEAD",
    ] {
        let answer = get(url, path);
        assert_eq!(answer.status, 400, "{path}: {answer:?}");
    }
    assert_eq!(get(url, "/routers/nobody").status, 404);
    let answer = post_form(url, "/routers/r1/rollback", &[("version", "HEAD~1")], &[]);
    assert_eq!(answer.status, 400);
}

#[test]
fn rollback_needs_an_operator_token_and_a_valid_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = tokens_file(dir.path());
    let tokens = tokens.to_str().expect("utf-8 path");
    let serve = Serve::start(&dir.path().join("store"), &["--tokens", tokens]);
    let url = serve.url.as_str();
    let admin = format!("Authorization: Bearer {ADMIN}");
    let auth = [admin.as_str()];
    let v1 = put_config(url, &auth, "r1", &config("r1", 1));
    let bad = put_config(
        url,
        &auth,
        "r1",
        "version = 1\n[[route]]\nto = \"nowhere\"\n",
    );
    let v3 = put_config(url, &auth, "r1", &config("r1", 3));
    // Read-only without a token.
    assert_eq!(get(url, "/").status, 200);
    assert_eq!(get(url, "/routers/r1").status, 200);
    let path = "/routers/r1/rollback";
    // The first step asks, and writes nothing.
    let ask = post_form(url, path, &[("version", &v1)], &[]);
    assert_eq!(ask.status, 200, "{ask:?}");
    assert!(ask.body.contains("roll back r1 to version"), "{}", ask.body);
    assert!(ask.body.contains("this writes a new current version"));
    let refused = [
        (
            vec![("version", v1.as_str()), ("confirm", "yes")],
            vec![],
            401,
        ),
        (
            vec![("version", &v1), ("confirm", "yes"), ("token", "wrong")],
            vec![],
            401,
        ),
        (
            vec![("version", &v1), ("confirm", "yes"), ("token", ROUTER)],
            vec![],
            403,
        ),
        (
            vec![("version", &v1), ("confirm", "yes")],
            vec!["Authorization: Bearer nope"],
            401,
        ),
        (
            vec![("version", &bad), ("confirm", "yes"), ("token", ADMIN)],
            vec![],
            422,
        ),
    ];
    for (fields, headers, status) in refused {
        let answer = post_form(url, path, &fields, &headers);
        assert_eq!(answer.status, status, "{fields:?}: {}", answer.body);
        assert!(answer.body.contains("refused") || answer.body.contains("not rolled back"));
        assert!(!answer.body.contains(ADMIN) && !answer.body.contains(ROUTER));
    }
    let ask_bad = post_form(url, path, &[("version", &bad)], &[]);
    assert_eq!(ask_bad.status, 422, "an invalid version is refused at once");
    let current = request(url, "GET", "/v1/routers/r1/config", &auth, b"");
    assert!(current.headers.contains(&v3), "nothing was written");
    // With the token in the form, then as a bearer token.
    let done = post_form(
        url,
        path,
        &[("version", &v1), ("confirm", "yes"), ("token", ADMIN)],
        &[],
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(!done.body.contains(ADMIN));
    let current = request(url, "GET", "/v1/routers/r1/config", &auth, b"");
    assert_eq!(current.body, config("r1", 1));
    let done = post_form(url, path, &[("version", &v3), ("confirm", "yes")], &auth);
    assert_eq!(done.status, 200, "{}", done.body);
    let history = request(url, "GET", "/v1/routers/r1/history", &auth, b"");
    assert_eq!(
        history.body.matches("\"version\"").count(),
        5,
        "{}",
        history.body
    );
    assert!(history.body.contains("rollback to"), "{}", history.body);
    assert!(!serve.log().contains(ADMIN), "the token is never logged");
}
