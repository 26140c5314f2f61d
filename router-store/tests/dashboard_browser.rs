//! The dashboard in a real browser (headless Chromium over the DevTools protocol) against
//! a real `router-store serve`: a router that stops reporting turns stale; a rollback
//! clicked on the page (refused with a wrong token, done with the operator's) lands in
//! the store. Screenshots: target/test-artifacts/dashboard-*.png.

#[path = "support/chromium.rs"]
mod chromium;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/web.rs"]
#[allow(dead_code)] // each test file uses some of it
mod web;

use std::time::Duration;

use chromium::Browser;
use serde_json::json;
use serve::Serve;
use sha2::{Digest, Sha256};
use web::{config, put_config, put_status, request, status_json};

const ADMIN: &str = "operator-token-of-the-browser-test";

fn serve_with_tokens(dir: &std::path::Path) -> Serve {
    let digest: String = Sha256::digest(ADMIN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let tokens = dir.join("tokens.toml");
    std::fs::write(
        &tokens,
        format!("[[token]]\nsha256 = \"{digest}\"\nrouter = \"*\"\n"),
    )
    .expect("tokens file");
    Serve::start(
        &dir.join("store"),
        &["--tokens", tokens.to_str().expect("utf-8")],
    )
}

fn health(browser: &mut Browser, id: &str) -> serde_json::Value {
    browser.eval(&format!(
        "document.getElementById('router-{id}').dataset.health"
    ))
}

#[test]
fn a_router_that_stops_reporting_turns_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = serve_with_tokens(dir.path());
    let url = serve.url.as_str();
    let admin = format!("Authorization: Bearer {ADMIN}");
    let auth = [admin.as_str()];
    for id in ["r1", "r2"] {
        put_config(url, &auth, id, &config(id, 1));
    }
    // r1 beats every second; r2 keeps beating.
    put_status(url, &auth, "r1", &status_json(0, 1, "running", None));
    put_status(url, &auth, "r2", &status_json(0, 60, "running", None));
    let mut browser = Browser::launch();
    browser.goto(&format!("{url}/"));
    assert_eq!(health(&mut browser, "r1"), json!("ok"));
    browser.screenshot("dashboard-fleet-ok");
    // Three heartbeats missed.
    std::thread::sleep(Duration::from_millis(4500));
    browser.goto(&format!("{url}/?sort=health"));
    assert_eq!(health(&mut browser, "r1"), json!("stale"));
    assert_eq!(health(&mut browser, "r2"), json!("ok"));
    let badge = browser.eval("document.querySelector('#router-r1 .badge').innerText");
    assert_eq!(badge, json!("stale"));
    browser.screenshot("dashboard-fleet-stale");
    // Filtered from the form, as a person would.
    browser.eval("document.querySelector('#filter select[name=health]').value = 'stale'");
    browser.eval(
        "document.querySelector('#filter select[name=health]').dispatchEvent(new Event('change'))",
    );
    browser.wait_for("location.search.includes('health=stale')");
    let shown =
        browser.eval("[...document.querySelectorAll('#fleet tbody tr[id]')].map(r => r.id)");
    assert_eq!(shown, json!(["router-r1"]));
}

#[test]
fn a_rollback_from_the_page_lands_in_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = serve_with_tokens(dir.path());
    let url = serve.url.as_str();
    let admin = format!("Authorization: Bearer {ADMIN}");
    let auth = [admin.as_str()];
    let v1 = put_config(url, &auth, "r1", &config("r1", 1));
    let v2 = put_config(url, &auth, "r1", &config("r1", 2));
    let mut browser = Browser::launch();
    let page = format!("{url}/routers/r1");
    browser.goto(&page);
    let diff = browser.eval("document.getElementById('diff').innerText");
    assert!(
        diff.as_str().is_some_and(|d| d.contains("+metric = 2")),
        "{diff}"
    );
    browser.screenshot("dashboard-router");

    let click_rollback =
        format!("document.querySelector('tr[data-version=\"{v1}\"] button.rollback').click()");
    let confirm_with = |browser: &mut Browser, token: &str| {
        browser.eval(&click_rollback);
        browser.wait_for("document.getElementById('question')");
        let question = browser.eval("document.getElementById('question').innerText");
        assert!(
            question
                .as_str()
                .is_some_and(|q| q.starts_with("roll back r1 to version")
                    && q.ends_with("this writes a new current version")),
            "{question}"
        );
        browser.eval(&format!(
            "document.getElementById('token').value = {}",
            json!(token)
        ));
        browser.eval("document.getElementById('confirm-button').click()");
    };
    confirm_with(&mut browser, "not-the-token");
    browser.wait_for("document.getElementById('error')");
    let error = browser.eval("document.getElementById('error').innerText");
    assert!(
        error.as_str().is_some_and(|e| e.starts_with("refused")),
        "{error}"
    );
    assert!(!browser
        .eval("document.documentElement.outerHTML")
        .to_string()
        .contains("not-the-token"));
    browser.screenshot("dashboard-rollback-refused");
    let current = request(url, "GET", "/v1/routers/r1/config", &auth, b"");
    assert_eq!(current.body, config("r1", 2), "a wrong token wrote nothing");

    browser.goto(&page);
    confirm_with(&mut browser, ADMIN);
    browser.wait_for("document.getElementById('done')");
    browser.screenshot("dashboard-rollback-done");
    let written = browser.eval("document.getElementById('new-version').innerText");
    let written = written.as_str().expect("the new version").to_owned();
    assert!(written != v1 && written != v2);
    // The store: a new current version whose text is v1's, the history one longer.
    let current = request(url, "GET", "/v1/routers/r1/config", &auth, b"");
    assert_eq!(current.body, config("r1", 1));
    assert!(current.headers.contains(&written), "{}", current.headers);
    let history = request(url, "GET", "/v1/routers/r1/history", &auth, b"");
    assert_eq!(
        history.body.matches("\"version\"").count(),
        3,
        "{}",
        history.body
    );
    // And the page shows it as the current one, a rollback.
    browser.goto(&page);
    let top = browser.eval("document.querySelector('#history tbody tr.current .kind').innerText");
    assert_eq!(top, json!("rollback"));
    browser.screenshot("dashboard-router-after-rollback");
}
