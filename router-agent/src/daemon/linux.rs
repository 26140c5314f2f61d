//! `router-agent daemon` on a real machine: the boot contract, the management path, the
//! stores, the Linux router, and the event sources (rtnetlink, `nft monitor`, signals).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::bootargs::{self, BootArgError};
use super::identity::{self, IdentityError, Machine};
use super::persist::Persisted;
use super::status::{self, Phase, Status};
use super::{drivers, mgmt, Daemon, Event, Settings};
use crate::kernel::{monitor, netns};
use crate::router::{LinuxRouter, RouterError};
use crate::store::{self, RouterId, StoreError, StoreOptions};

#[derive(Debug, Clone)]
pub struct DaemonArgs {
    /// Store URLs, primary first; empty: from the kernel command line.
    pub stores: Vec<String>,
    pub id: Option<RouterId>,
    pub netns: Option<String>,
    pub token: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub status_dir: PathBuf,
    pub persist: Vec<Persisted>,
    pub cmdline: PathBuf,
    /// Tell systemd "ready" after this long even while the store is still awaited, so
    /// units ordered after the agent (sshd) start anyway.
    pub ready_timeout: Duration,
    /// How often BIRD's sessions are read for the metrics (None: never).
    pub bgp_interval: Option<Duration>,
    /// How often the status record is rewritten in the store without a change (None: no
    /// status records at all).
    pub heartbeat: Option<Duration>,
    pub settings: Settings,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("malformed boot parameters:\n  {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    BootArgs(Vec<BootArgError>),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("no store: give --store URL or router.store= on the kernel command line")]
    NoStore,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error("opening the router")]
    Router(#[from] RouterError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl DaemonError {
    /// Exit status: 2 for what a restart cannot fix (bad parameters), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::BootArgs(_) | DaemonError::Identity(_) | DaemonError::NoStore => 2,
            DaemonError::Store(StoreError::BadUrl { .. }) => 2,
            _ => 1,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Runs the daemon until SIGTERM. Enters `--netns` first, before any thread starts.
pub fn run(mut args: DaemonArgs) -> Result<(), DaemonError> {
    let cmdline = std::fs::read_to_string(&args.cmdline).unwrap_or_default();
    let boot = bootargs::parse(&cmdline).map_err(DaemonError::BootArgs)?;
    if let Some(name) = &args.netns {
        netns::enter(name)?;
    }
    let mut machine = Machine {
        dmi_uuid: read_trimmed("/sys/class/dmi/id/product_uuid"),
        mac: None,
        hostname: read_trimmed("/proc/sys/kernel/hostname"),
    };
    if args.netns.is_none() {
        drivers::load_network_drivers(Path::new("/sys"));
    }
    match wait_for_nic(&boot) {
        Ok((name, mac)) => {
            machine.mac = Some(mac);
            if let (Some(m), None) = (&boot.mgmt, &args.netns) {
                // The store may be reachable anyway (another NIC, DHCP from elsewhere):
                // a failure here is reported and the daemon goes on.
                match mgmt::bring_up(&name, m, &args.status_dir) {
                    Ok(()) => args.settings.boot_state = mgmt::boot_state(&name, m),
                    Err(e) => tracing::error!("management interface {name}: {e}"),
                }
            }
        }
        Err(e) if boot.mgmt.is_some() => tracing::error!("{e}"),
        Err(_) => {}
    }
    let id = identity::router_id(args.id.as_ref(), boot.id.as_ref(), &machine)?;
    let urls = if args.stores.is_empty() {
        boot.stores.clone()
    } else {
        args.stores.clone()
    };
    if urls.is_empty() {
        return Err(DaemonError::NoStore);
    }
    let mut options = StoreOptions {
        token: args.token.clone().or(boot.token.clone()),
        ca_cert: args.ca_cert.clone(),
        ..StoreOptions::default()
    };
    if let (None, Some(enrol)) = (&options.token, &boot.enrol) {
        let url = identity::expand(&urls[0], &id, &machine)?;
        options.token = enrol_at_boot(&url, &options, enrol)?;
    }
    let mut stores = Vec::new();
    let mut reports_to = None;
    for url in &urls {
        let url = identity::expand(url, &id, &machine)?;
        let opened = store::open(&url, &options)?;
        if reports_to.is_none() && !opened.read_only() && args.heartbeat.is_some() {
            // A client of its own: status reports never wait behind a snapshot.
            reports_to = Some(std::sync::Arc::from(store::open(&url, &options)?));
        }
        stores.push(opened);
    }
    tracing::info!("router {id}; stores: {}", urls.join(", "));
    // Threads of their own, idle until a collector is named: no log line waits on them.
    let logs = crate::logs::start(
        id.as_str(),
        boot.log.as_ref().map(crate::logs::Target::from_boot),
        Box::new(crate::logs::journal::Journalctl::default()),
        Box::new(crate::logs::ship::Net),
        crate::logs::Limits::default(),
        &crate::logs::COUNTERS,
    )
    .map_err(io_err("starting the log forwarder"))?;
    let router = crate::logs::router::Logged {
        inner: LinuxRouter::open(args.netns.is_none())?,
        logs,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io_err("starting the async runtime"))?;
    runtime.block_on(async move {
        let (tx, rx) = mpsc::channel(64);
        watch_kernel(tx.clone())?;
        watch_nftables(tx.clone());
        watch_bird_conf(tx.clone());
        watch_signals(tx)?;
        let (daemon, status) = Daemon::new(id.clone(), stores, router, args.settings);
        let daemon = daemon.with_files(args.persist).with_bgp(read_bird);
        let (bgp_tx, bgp) = watch::channel(None);
        if let Some(every) = args.bgp_interval {
            tokio::spawn(super::bgp_poll::poll(read_bird, bgp_tx, every));
        }
        let mut reporting = None;
        if let (Some(store), Some(every)) = (reports_to, args.heartbeat) {
            let reporter = super::report::Reporter {
                store,
                id,
                every,
                boot_unix_time: super::report::boot_unix_time(),
                clock: std::sync::Arc::new(store::status::unix_now),
            };
            reporting = Some(tokio::spawn(reporter.run(status.clone(), bgp.clone())));
        }
        tokio::spawn(write_status(status.clone(), bgp, args.status_dir));
        tokio::spawn(notify_ready(status, args.ready_timeout));
        match daemon.run(rx).await {
            Ok(_) => tracing::info!("stopped"),
            Err(e) => tracing::info!("{e}"),
        }
        // The daemon is gone, so its status channel is closed: the reporter writes the
        // last record ("stopped") and ends, within a bound.
        if let Some(task) = reporting {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("the last status report was not written within 5 s");
            }
        }
        Ok(())
    })
}

/// The router's own token for the enrolment token of its boot script (docs/netboot.md,
/// "Enrolment"), from the first store; kept in memory only (the image is diskless: the
/// next boot enrols with the next script's token). A refusal is logged and the daemon
/// goes on without a token: its store calls then fail loudly (401) in its status.
fn enrol_at_boot(
    url: &str,
    options: &StoreOptions,
    enrol: &str,
) -> Result<Option<String>, DaemonError> {
    let store = store::http::HttpStore::open(url, options)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_err("starting the enrolment's runtime"))?;
    let within = Duration::from_secs(600);
    match runtime.block_on(store::enrol::enrol(&store, enrol, within)) {
        Ok(own) => {
            tracing::info!("enrolled at {url}: writing with this router's own token");
            Ok(Some(own))
        }
        Err(e) => {
            tracing::error!("ENROLMENT FAILED at {url}: {e}; no token for the store");
            Ok(None)
        }
    }
}

/// The management NIC: at boot its driver may still be probing, so it is waited for (60 s
/// at most) when `router.mgmt` asks for one.
fn wait_for_nic(boot: &bootargs::BootArgs) -> Result<(String, String), mgmt::MgmtError> {
    let t = std::time::Instant::now();
    let mut said = false;
    loop {
        let nics = mgmt::ethernet_nics(Path::new("/sys/class/net"));
        match mgmt::pick(boot.mgmt_device.as_ref(), &nics) {
            Ok(found) => return Ok(found),
            Err(e) if boot.mgmt.is_none() || t.elapsed() > Duration::from_secs(60) => {
                return Err(e)
            }
            Err(e) => {
                if !said {
                    tracing::warn!("waiting for the management NIC: {e}");
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// rtnetlink notifications, read on a thread of their own (the socket blocks).
fn watch_kernel(tx: mpsc::Sender<Event>) -> Result<(), DaemonError> {
    let mut mon =
        monitor::Monitor::open().map_err(io_err("subscribing to rtnetlink notifications"))?;
    std::thread::Builder::new()
        .name("rtnetlink-monitor".into())
        .spawn(move || loop {
            match mon.wait() {
                Ok(what) => {
                    for w in what {
                        tracing::trace!("kernel change: {w}");
                        // A full queue already holds a change: this one adds nothing.
                        let _ = tx.try_send(Event::Changed(w));
                    }
                }
                Err(e) => {
                    tracing::error!(
                        "rtnetlink notifications stopped: {e}; only periodic snapshots remain"
                    );
                    return;
                }
            }
        })
        .map_err(io_err("starting the rtnetlink monitor thread"))?;
    Ok(())
}

/// `nft monitor`: one line per ruleset change, by anyone.
fn watch_nftables(tx: mpsc::Sender<Event>) {
    use tokio::io::AsyncBufReadExt;
    tokio::spawn(async move {
        let child = tokio::process::Command::new("nft")
            .arg("monitor")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("`nft monitor` did not start ({e}): hand edits of the firewall are seen by periodic snapshots only");
                return;
            }
        };
        let Some(out) = child.stdout.take() else {
            return;
        };
        let mut lines = tokio::io::BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::trace!("nft: {line}");
            let _ = tx.try_send(Event::Changed("nftables"));
        }
        tracing::error!(
            "`nft monitor` ended: hand edits of the firewall are seen by periodic snapshots only"
        );
    });
}

/// bird.conf edited by hand (then `birdc configure`): its modification time, every 2 s.
fn watch_bird_conf(tx: mpsc::Sender<Event>) {
    let conf = crate::bgp::cli::backend().conf;
    tokio::spawn(async move {
        let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut last = stamp(&conf);
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = stamp(&conf);
            if now != last {
                last = now;
                if tx.send(Event::Changed("bird.conf")).await.is_err() {
                    return;
                }
            }
        }
    });
}

fn watch_signals(tx: mpsc::Sender<Event>) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(io_err("handling SIGTERM"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io_err("handling SIGINT"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(io_err("handling SIGHUP"))?;
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = term.recv() => Event::Stop,
                _ = int.recv() => Event::Stop,
                _ = hup.recv() => Event::Reload,
            };
            tracing::info!("signal: {ev:?}");
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// BIRD's sessions, when the router runs BGP (the agent wrote a bird.conf).
fn read_bird() -> Option<crate::bgp::Readout> {
    read_bird_from(&mut crate::bgp::cli::backend())
}

/// `None` unless the router runs BGP: a bird.conf the agent did not write (Debian's
/// default, with no `[bgp]` in the config) is not the router's BGP, and a BIRD behind it
/// that does not answer is no alarm of ours.
fn read_bird_from(bird: &mut crate::bgp::BirdCli) -> Option<crate::bgp::Readout> {
    let text = std::fs::read_to_string(&bird.conf).ok()?;
    if !crate::bgp::file::written_by_agent(&text) {
        return None;
    }
    Some(crate::bgp::status::read(bird))
}

/// Writes `status` (one line) and `metrics.prom` (node_exporter's textfile format) on
/// every change of the daemon's status or of BIRD's readout, each through a rename so
/// readers never see half a file.
async fn write_status(
    mut status: watch::Receiver<Status>,
    mut bgp: watch::Receiver<Option<crate::bgp::Readout>>,
    dir: PathBuf,
) {
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::error!("status directory {}: {e}; no status files", dir.display());
        return;
    }
    loop {
        let s = status.borrow_and_update().clone();
        let b = bgp.borrow_and_update().clone();
        let line = s.line() + &status::bgp_summary(b.as_ref()) + "\n";
        let metrics = s.metrics() + &status::bgp_metrics(b.as_ref());
        for (name, text) in [("status", line), ("metrics.prom", metrics)] {
            let path = dir.join(name);
            // World-readable: monitoring reads them without root.
            if let Err(e) = crate::store::atomic::write_file(&path, text.as_bytes(), 0o644) {
                tracing::warn!("writing {}: {e}", path.display());
            }
        }
        let more = tokio::select! {
            r = status.changed() => r.is_ok(),
            r = bgp.changed() => r.is_ok() || status.changed().await.is_ok(),
        };
        if !more {
            return;
        }
    }
}

/// Tells systemd (Type=notify) the agent is ready once the config is applied, or after
/// `timeout` if the store is still awaited.
async fn notify_ready(mut status: watch::Receiver<Status>, timeout: Duration) {
    let applied =
        status.wait_for(|s| !matches!(s.phase, Phase::Starting | Phase::WaitingForStore(_)));
    if tokio::time::timeout(timeout, applied).await.is_err() {
        tracing::warn!("still waiting for the store after {timeout:?}; telling systemd we are up");
    }
    sd_notify("READY=1");
}

fn sd_notify(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(abs) => SocketAddr::from_abstract_name(abs.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|a| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &a));
    if let Err(e) = sent {
        tracing::warn!("telling systemd {state}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's bird2 package ships a bird.conf; a router without `[bgp]` has BIRD's
    /// service stopped or absent. Neither is an alarm (the status read "BIRD NOT
    /// REACHABLE" here).
    #[test]
    fn a_bird_conf_the_agent_did_not_write_is_no_bgp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("bird.conf");
        let mut bird = crate::bgp::BirdCli::new(&conf, dir.path().join("bird.ctl"));
        assert_eq!(read_bird_from(&mut bird), None, "no bird.conf");
        std::fs::write(
            &conf,
            "log syslog all;\nprotocol device {\n}\nprotocol direct {\n  disabled;\n}\n",
        )
        .expect("write");
        assert_eq!(read_bird_from(&mut bird), None, "Debian's bird.conf");
        // The agent's own file: BIRD not answering on it is the router's BGP down.
        std::fs::write(&conf, crate::bgp::file::HEADER).expect("write");
        assert!(matches!(
            read_bird_from(&mut bird),
            Some(crate::bgp::Readout::Unreachable(_))
        ));
    }
}
