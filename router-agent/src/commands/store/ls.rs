//! `store ls URL`: every router, one line each; broken ones say why below the table.

use super::text::{age, short, table};
use super::{io_err, json, CommandError, Conn, FromStore, Io};
use crate::store::fleet::{self, FleetRow};
use crate::store::status::unix_now;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
}

pub async fn run(args: Args, io: &mut Io<'_>) -> Result<(), CommandError> {
    let store = args.conn.open()?;
    let now = unix_now();
    let rows = fleet::rows(store.as_ref(), &FromStore, now).await?;
    if args.conn.json {
        return json(io.out, &rows);
    }
    io.out
        .write_all(render(&rows, now).as_bytes())
        .map_err(io_err("writing the output"))
}

fn cell(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

pub fn render(rows: &[FleetRow], now: u64) -> String {
    if rows.is_empty() {
        return "no routers in this store\n".into();
    }
    let mut lines = vec![[
        "ID",
        "HEALTH",
        "STORE",
        "RUNNING",
        "LAST WRITE",
        "SEEN",
        "UPTIME",
        "BGP",
        "AGENT",
    ]
    .map(String::from)
    .to_vec()];
    let mut notes = Vec::new();
    for r in rows {
        let s = r.status.as_ref();
        let write = r.last_write.as_ref().map(|w| {
            let kind = w.kind.map_or("write", |k| k.describe());
            match w.unix_time {
                Some(t) => format!("{kind}, {} ago", age(now.saturating_sub(t))),
                None => kind.to_owned(),
            }
        });
        lines.push(vec![
            r.id.clone(),
            r.health.as_str().to_owned(),
            cell(r.current_version.as_deref().map(|v| short(v).to_owned())),
            cell(s.and_then(|s| s.running_version.as_deref().map(|v| short(v).to_owned()))),
            cell(write),
            cell(s.map(|s| format!("{} ago", age(now.saturating_sub(s.unix_time))))),
            cell(s.map(|s| age(s.uptime_secs()))),
            cell(s.and_then(|s| s.bgp).map(|b| {
                if b.bird_unreachable {
                    "BIRD down".to_owned()
                } else {
                    format!("{}/{}", b.up, b.total)
                }
            })),
            cell(s.map(|s| s.agent_version.clone())),
        ]);
        for p in &r.problems {
            notes.push(format!("{}: {p}", r.id));
        }
        if let Some(why) = s.filter(|s| s.degraded()).and_then(|s| s.reason.as_ref()) {
            notes.push(format!("{}: {} ({why})", r.id, s.map_or("", |s| &s.phase)));
        }
        if s.is_some_and(|s| s.snapshot_pending) {
            notes.push(format!("{}: a snapshot waits for the store", r.id));
        }
    }
    let mut out = table(&lines);
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}
