//! `router-agent daemon`.

use std::time::Duration;

use crate::confirm;
use crate::daemon::{self, persist::Persisted};
use crate::store::RouterId;

use super::{AnyError, Exit};

#[derive(Debug, clap::Args)]
pub struct DaemonCli {
    /// Store URL; repeat for fallbacks (primary first). Default: router.store= from the
    /// kernel command line. `${id}`, `${mac}`, `${uuid}`, `${hostname}` are filled in.
    #[arg(long = "store")]
    stores: Vec<String>,
    /// Router id. Default: router.id=, else the DMI UUID, else the management NIC's MAC.
    #[arg(long)]
    id: Option<RouterId>,
    #[arg(long)]
    netns: Option<String>,
    /// File holding the bearer token for HTTP(S) stores (default: router.token=). A file,
    /// not an argument: arguments show in `ps`.
    #[arg(long)]
    token_file: Option<std::path::PathBuf>,
    /// Extra CA certificate (PEM) for the store's TLS.
    #[arg(long)]
    ca_cert: Option<std::path::PathBuf>,
    #[arg(long, default_value = "/run/router-agent")]
    status_dir: std::path::PathBuf,
    /// A file kept in the store: NAME=PATH (repeatable), e.g. SSH host keys.
    #[arg(long)]
    persist: Vec<Persisted>,
    /// Shell command run when a --persist file was restored from the store, e.g.
    /// `systemctl --no-block try-restart ssh.service`.
    #[arg(long)]
    on_restore: Option<String>,
    /// Seconds between snapshots taken without a change event (0: none).
    #[arg(long, default_value_t = 300)]
    snapshot_interval: u64,
    /// Seconds between polls of stores that cannot push edits (HTTP, files).
    #[arg(long, default_value_t = 10)]
    poll_interval: u64,
    /// Seconds a store-side edit has to be confirmed (the store answers, BGP sessions that
    /// were up are back) before it is undone (0: applied without a confirm step).
    #[arg(long, default_value_t = 60)]
    edit_confirm: u64,
    /// How many older versions a refused newest one may fall back through.
    #[arg(long, default_value_t = 20)]
    fallback_versions: usize,
    /// Where the boot parameters are read from.
    #[arg(long, default_value = "/proc/cmdline")]
    cmdline: std::path::PathBuf,
    /// Seconds between readings of BIRD's sessions for the metrics (0: none).
    #[arg(long, default_value_t = 30)]
    bgp_interval: u64,
    /// Seconds between status reports to the store when nothing changed (0: no reports);
    /// `router-agent store ls` shows a router silent for 3 of them as stale.
    #[arg(long, default_value_t = 60)]
    heartbeat: u64,
    /// Also write the log's info lines to this terminal (e.g. /dev/console) directly, not
    /// through the journal: they show while journald is still starting.
    #[arg(long)]
    pub console: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics at http://ADDRESS:PORT/metrics, or `off`. Default:
    /// router.metrics=, else the static router.mgmt address on port 9101, else off.
    #[arg(long, value_parser = crate::metrics::parse_listen)]
    metrics_listen: Option<crate::store::bootargs::MetricsListen>,
}

impl DaemonCli {
    pub fn exec(self) -> Result<(), AnyError> {
        run_daemon(self)
    }
}

fn run_daemon(cli: DaemonCli) -> Result<(), AnyError> {
    let settings = daemon::Settings {
        periodic: (cli.snapshot_interval > 0).then(|| Duration::from_secs(cli.snapshot_interval)),
        poll: Duration::from_secs(cli.poll_interval.max(1)),
        hold: Some(confirm::pending_path(&cli.status_dir)),
        on_restore: cli.on_restore.clone(),
        edit_confirm: (cli.edit_confirm > 0).then(|| Duration::from_secs(cli.edit_confirm)),
        fallback_versions: cli.fallback_versions,
        ..daemon::Settings::default()
    };
    let token = match &cli.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--token-file {}: {e}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    if let Some(addr) = crate::metrics::listen_address(cli.metrics_listen, &cli.cmdline) {
        let file = cli.status_dir.join("metrics.prom");
        // No exporter costs the router nothing else: the boot goes on without it.
        if let Err(e) = crate::metrics::serve::start(addr, cli.netns.clone(), file) {
            tracing::error!("{}; no /metrics", crate::store::error_chain(&e));
        }
    }
    let args = daemon::DaemonArgs {
        stores: cli.stores,
        id: cli.id,
        netns: cli.netns,
        token,
        ca_cert: cli.ca_cert,
        status_dir: cli.status_dir,
        persist: cli.persist,
        cmdline: cli.cmdline,
        ready_timeout: Duration::from_secs(30),
        bgp_interval: (cli.bgp_interval > 0).then(|| Duration::from_secs(cli.bgp_interval)),
        heartbeat: (cli.heartbeat > 0).then(|| Duration::from_secs(cli.heartbeat)),
        settings,
    };
    daemon::run(args).map_err(|e| {
        let code = e.exit_code();
        Box::new(Exit(code, Box::new(e))) as AnyError
    })
}
