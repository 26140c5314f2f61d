//! `GET /metrics`: the fleet for Prometheus, from the dashboard's fleet rows (one source
//! for both): routers by status, each router's heartbeat age and pending snapshot.
//! Read-only like the dashboard's read views, and served without a token like them.

use router_model::human::prometheus_label as label;
use std::fmt::Write;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use router_store_client::fleet::{rows, FleetRow, Health};
use router_store_client::status::unix_now;
use router_store_client::ConfigStore;

use crate::dashboard::ModelCheck;

pub(crate) fn router(store: Arc<dyn ConfigStore>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let store = store.clone();
            async move { scrape(store.as_ref()).await }
        }),
    )
}

async fn scrape(store: &dyn ConfigStore) -> Response {
    let now = unix_now();
    match rows(store, &ModelCheck, now).await {
        Ok(rows) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(&rows, now),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("listing the routers: {e}\n"),
        )
            .into_response(),
    }
}

const STATUSES: [(Health, &str); 5] = [
    (Health::Ok, "ok"),
    (Health::Degraded, "degraded"),
    (Health::Stale, "stale"),
    (Health::Broken, "broken"),
    (Health::NoReport, "no-report"),
];

/// The fleet's rows as Prometheus text.
pub(crate) fn render(rows: &[FleetRow], now: u64) -> String {
    let mut m = String::new();
    m.push_str("# HELP router_store_routers Routers by status (as the dashboard shows them).\n# TYPE router_store_routers gauge\n");
    for (h, name) in STATUSES {
        let n = rows.iter().filter(|r| r.health == h).count();
        let _ = writeln!(m, "router_store_routers{{status=\"{name}\"}} {n}");
    }
    m.push_str("# HELP router_store_router_heartbeat_age_seconds Seconds since the router's last status report.\n# TYPE router_store_router_heartbeat_age_seconds gauge\n");
    for r in rows {
        if let Some(s) = &r.status {
            let age = now.saturating_sub(s.unix_time);
            let _ = writeln!(
                m,
                "router_store_router_heartbeat_age_seconds{{router=\"{}\"}} {age}",
                label(&r.id)
            );
        }
    }
    m.push_str("# HELP router_store_router_snapshot_pending 1 if the router holds a snapshot the store has not taken.\n# TYPE router_store_router_snapshot_pending gauge\n");
    for r in rows {
        if let Some(s) = &r.status {
            let _ = writeln!(
                m,
                "router_store_router_snapshot_pending{{router=\"{}\"}} {}",
                label(&r.id),
                u8::from(s.snapshot_pending)
            );
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn an_empty_fleet_has_every_status_at_zero() {
        let m = render(&[], 0);
        assert!(m.contains("router_store_routers{status=\"ok\"} 0\n"), "{m}");
        assert!(
            m.contains("router_store_routers{status=\"broken\"} 0\n"),
            "{m}"
        );
    }

    #[test]
    fn promtool_reads_the_output() {
        use std::io::Write as _;
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool (Debian's prometheus, scripts/setup.sh)");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(render(&[], 0).as_bytes()).expect("write");
        drop(stdin);
        let out = child.wait_with_output().expect("promtool");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn promtool_accepts_the_fleet_rules() {
        let rules = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/alerts/router-store.rules.yml"
        );
        let out = std::process::Command::new("promtool")
            .args(["check", "rules", rules])
            .output()
            .expect("promtool (Debian's prometheus, scripts/setup.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
