//! A fleet of simulated routers in one process, against one store (issue 18, item 4): a
//! benchmark, run by `bench/fleet.sh`, never a test.
//!
//! Every router has its own store clients, as `router-agent daemon` has: a watch kept open
//! on its config, a status report every simulated minute (the daemon's default heartbeat)
//! and one snapshot a simulated minute, with time scaled down (`--minute-ms`). Meanwhile an
//! operator edits routers' configs (`--edits` rounds of `--edit-routers` routers each), and
//! the fleet is listed under load and when idle. Prints one row of the table (stdout; the
//! header with `fleet_sim header`) and the errors by kind (stderr): none is hidden.
//!
//! ```text
//! fleet_sim tokens N                  a tokens file for `router-store serve --tokens`
//! fleet_sim header                    the table's header
//! fleet_sim run --url URL [--label L] [--routers N] [--minute-ms MS] [--minutes M]
//!     [--poll-secs S] [--edits R] [--edit-routers K] [--tokens] [--dashboard URL]
//! ```

mod edit;
mod router;
mod stats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use router_store_client::note::{message, WriteKind};
use router_store_client::{fleet, open, ConfigStore, Expect, RouterId, StoreOptions};
use sha2::Digest;

use crate::stats::{Listing, Row, Stats};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// The config every router starts from (7 KB, a realistic edge router).
const BASE: &str = include_str!("../../../configs/edge-router.toml");
const ADMIN_TOKEN: &str = "fleet-sim-admin";
/// Requests in flight while the store is filled and the routers boot.
const SETUP_AT_ONCE: usize = 32;

/// What every router and the operator share.
#[derive(Debug)]
pub struct Shared {
    pub routers: usize,
    pub minute: Duration,
    pub poll: Duration,
    pub base: String,
    pub stats: Stats,
    /// (edit round, router) → when its watch reported that round.
    notified: Mutex<HashMap<(u32, usize), Instant>>,
    arrived: tokio::sync::Notify,
}

impl Shared {
    pub fn notified(&self, round: u32, index: usize, at: Instant) {
        if let Ok(mut m) = self.notified.lock() {
            m.entry((round, index)).or_insert(at);
        }
        self.arrived.notify_waiters();
    }

    pub fn arrivals(&self, round: u32) -> HashMap<usize, Instant> {
        self.notified
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|((r, _), _)| *r == round)
                    .map(|((_, i), at)| (*i, *at))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
struct Args {
    url: String,
    label: String,
    routers: usize,
    minute: Duration,
    minutes: u32,
    poll_secs: f64,
    edits: u32,
    edit_routers: Option<usize>,
    tokens: bool,
    dashboard: Option<String>,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, AnyError> {
    let mut a = Args {
        url: String::new(),
        label: String::new(),
        routers: 1000,
        minute: Duration::from_secs(1),
        minutes: 4,
        poll_secs: 10.0,
        edits: 2,
        edit_routers: None,
        tokens: false,
        dashboard: None,
    };
    while let Some(flag) = it.next() {
        if flag == "--tokens" {
            a.tokens = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.url = value,
            "--label" => a.label = value,
            "--routers" => a.routers = value.parse()?,
            "--minute-ms" => a.minute = Duration::from_millis(value.parse()?),
            "--minutes" => a.minutes = value.parse()?,
            "--poll-secs" => a.poll_secs = value.parse()?,
            "--edits" => a.edits = value.parse()?,
            "--edit-routers" => a.edit_routers = Some(value.parse()?),
            "--dashboard" => a.dashboard = Some(value),
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if a.url.is_empty() || a.routers == 0 || a.minutes < 2 {
        return Err("--url is needed, --routers at least 1, --minutes at least 2".into());
    }
    if a.label.is_empty() {
        a.label = a.url.split("://").next().unwrap_or_default().to_owned();
    }
    Ok(a)
}

pub fn router_id(i: usize) -> RouterId {
    // Always a valid id: letters and digits.
    RouterId::new(&format!("r{i:04}")).unwrap_or_else(|_| unreachable!())
}

fn router_token(id: &RouterId) -> String {
    format!("fleet-sim-{id}")
}

/// `[[token]]` lines for `router-store serve --tokens`: one per router and an admin's.
fn tokens_file(n: usize) -> String {
    let line = |token: &str, router: &str| {
        let hash = sha2::Sha256::digest(token.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("[[token]]\nsha256 = \"{hex}\"\nrouter = \"{router}\"\n\n")
    };
    let mut out = line(ADMIN_TOKEN, "*");
    for i in 0..n {
        let id = router_id(i);
        out.push_str(&line(&router_token(&id), id.as_str()));
    }
    out
}

/// 1,000 watchers hold more descriptors than the usual soft limit of 1,024: raised to the
/// hard limit.
fn raise_nofile() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, wanted) {
        Ok(()) => wanted.current,
        Err(e) => {
            eprintln!("fleet-sim: cannot raise the open-file limit: {e}");
            limit.current
        }
    }
}

fn main() -> Result<(), AnyError> {
    let mut argv = std::env::args().skip(1);
    match argv.next().as_deref() {
        Some("tokens") => {
            let n = argv.next().ok_or("tokens N")?.parse()?;
            print!("{}", tokens_file(n));
            Ok(())
        }
        Some("header") => {
            println!("{}", stats::HEADER);
            Ok(())
        }
        Some("run") => {
            let args = parse(argv)?;
            let nofile = raise_nofile();
            eprintln!(
                "fleet-sim: {}: {} routers, a minute is {:?}, open-file limit {nofile:?}",
                args.label, args.routers, args.minute
            );
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(run(args))
        }
        _ => Err("usage: fleet_sim tokens N | header | run --url URL [...]".into()),
    }
}

fn options(token: Option<String>) -> StoreOptions {
    StoreOptions {
        token,
        ..StoreOptions::default()
    }
}

async fn run(args: Args) -> Result<(), AnyError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin_token = args.tokens.then(|| ADMIN_TOKEN.to_owned());
    let admin: Arc<dyn ConfigStore> = Arc::from(open(&args.url, &options(admin_token.clone()))?);
    let shared = Arc::new(Shared {
        routers: args.routers,
        minute: args.minute,
        poll: args.minute.mul_f64(args.poll_secs / 60.0),
        base: BASE.to_owned(),
        stats: Stats::default(),
        notified: Mutex::default(),
        arrived: tokio::sync::Notify::new(),
    });
    fill(admin.as_ref(), &shared).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let routers = boot(&args, &shared, stopped).await?;

    let t0 = tokio::time::Instant::now();
    let end = t0 + args.minute * args.minutes;
    let loaded = {
        let admin = admin.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(t0 + shared.minute * args.minutes / 2).await;
            timed(
                &shared,
                "listing the routers under load",
                admin.list_routers(),
            )
            .await
        })
    };
    let k = args.edit_routers.unwrap_or(args.routers).min(args.routers);
    let mut rounds = Vec::new();
    for round in 1..=args.edits {
        // Round r starts at minute r (the first minute is the fleet settling).
        tokio::time::sleep_until(t0 + args.minute * round).await;
        rounds.push(edit::round(admin.clone(), &shared, round, k).await);
    }
    tokio::time::sleep_until(end).await;
    let _ = stop.send(true);
    // Edit rounds that outlast the run make it longer: snapshots are due for all of it.
    let ran = t0.elapsed();
    for r in routers {
        let _ = tokio::time::timeout(Duration::from_secs(30), r).await;
    }
    let mut listing = Listing {
        ids_loaded: loaded.await.ok().flatten().map(|(d, _)| d),
        ..Listing::default()
    };
    idle_listing(&args, admin.as_ref(), &shared, &mut listing).await;
    let row = Row {
        label: &args.label,
        routers: args.routers,
        minute: args.minute,
        due: (args.routers as f64 * ran.as_secs_f64() / args.minute.as_secs_f64()) as u64,
        stats: &shared.stats,
        rounds: &rounds,
        listing: &listing,
    };
    println!("{}", row.render());
    for (kind, n) in shared.stats.errors.kinds() {
        eprintln!("fleet-sim: {} errors: {n} × {kind}", args.label);
    }
    Ok(())
}

/// Times `f`; a failure is counted and gives `None`.
async fn timed<T, E: std::fmt::Display>(
    shared: &Shared,
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Option<(Duration, T)> {
    let started = Instant::now();
    match f.await {
        Ok(v) => Some((started.elapsed(), v)),
        Err(e) => {
            shared.stats.errors.add(what, &e);
            None
        }
    }
}

/// Every router's first config, written by the operator before the fleet boots.
async fn fill(admin: &dyn ConfigStore, shared: &Shared) {
    let started = Instant::now();
    let msg = message(WriteKind::Push, "fleet-sim: first config");
    stream::iter(0..shared.routers)
        .for_each_concurrent(SETUP_AT_ONCE, |i| {
            let msg = msg.clone();
            async move {
                let id = router_id(i);
                let text = router::render(&shared.base, &id, &[], 0);
                match admin.put(&id, &text, &Expect::Absent, &msg).await {
                    Ok(_) | Err(router_store_client::StoreError::Conflict { .. }) => {}
                    Err(e) => shared.stats.errors.add("writing the first config", &e),
                }
            }
        })
        .await;
    eprintln!(
        "fleet-sim: {} first configs written in {:.1?}",
        shared.routers,
        started.elapsed()
    );
}

/// Starts every router (a few at a time, as a fleet does not boot in one instant) and
/// waits until each has read its config, opened its watch and reported.
async fn boot(
    args: &Args,
    shared: &Arc<Shared>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, AnyError> {
    let started = Instant::now();
    let (up_tx, mut up) = tokio::sync::mpsc::channel(args.routers);
    let mut handles = Vec::with_capacity(args.routers);
    for i in 0..args.routers {
        if i >= SETUP_AT_ONCE {
            up.recv().await;
        }
        let id = router_id(i);
        let token = args.tokens.then(|| router_token(&id));
        let r = router::Router {
            index: i,
            config: Arc::from(open(&args.url, &options(token.clone()))?),
            reports: Arc::from(open(&args.url, &options(token))?),
            id,
            shared: shared.clone(),
        };
        handles.push(tokio::spawn(
            Arc::new(r).run(stopped.clone(), up_tx.clone()),
        ));
    }
    for _ in 0..args.routers.min(SETUP_AT_ONCE) {
        up.recv().await;
    }
    eprintln!(
        "fleet-sim: {} routers up (config read, watch open, first report) in {:.1?}",
        args.routers,
        started.elapsed()
    );
    Ok(handles)
}

/// The listing once the fleet has stopped: the ids, the rows `router-agent store ls`
/// shows, and the dashboard's page if the store serves one.
async fn idle_listing(args: &Args, admin: &dyn ConfigStore, shared: &Shared, out: &mut Listing) {
    let listed = timed(shared, "listing the routers", admin.list_routers()).await;
    if let Some((d, ids)) = &listed {
        out.ids_idle = Some(*d);
        if ids.len() != args.routers {
            eprintln!(
                "fleet-sim: listed {} routers of {}",
                ids.len(),
                args.routers
            );
        }
    }
    let now = router_store_client::status::unix_now();
    let rows = async { fleet::rows(admin, &fleet::NoCheck, now).await };
    if let Some((d, rows)) = timed(shared, "fleet rows", rows).await {
        out.rows_idle = Some(d);
        let broken = rows
            .iter()
            .filter(|r| r.health == fleet::Health::Broken)
            .count();
        if broken > 0 {
            eprintln!("fleet-sim: {broken} routers shown as broken");
        }
    }
    if let Some(url) = &args.dashboard {
        out.dashboard_idle = dashboard(url, args.tokens).await;
    }
}

/// `GET url` with the admin token: its time if it answered 200 with a page.
async fn dashboard(url: &str, tokens: bool) -> Option<Duration> {
    let client = reqwest::Client::builder().build().ok()?;
    let mut req = client.get(url);
    if tokens {
        req = req.bearer_auth(ADMIN_TOKEN);
    }
    let started = Instant::now();
    let resp = req.send().await.ok()?;
    let ok = resp.status() == reqwest::StatusCode::OK;
    let body = resp.bytes().await.ok()?;
    let took = started.elapsed();
    eprintln!(
        "fleet-sim: dashboard {url}: {} bytes, {}",
        body.len(),
        if ok {
            "200"
        } else {
            "not a page (not served?)"
        }
    );
    ok.then_some(took)
}
