//! `router-agent`: check, plan, apply and show the router's config.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use router_agent::commands::store::StoreCommand;
use router_agent::confirm;
use router_agent::daemon::{self, persist::Persisted};
use router_agent::firewall::{self, Backend, NftBackend};
use router_agent::kernel::{netns, LinuxKernel};
use router_agent::model::{self, ConfigError, ValidConfig};
use router_agent::reconcile::{self, Kernel};
use router_agent::router::{apply_both, LinuxRouter, Router, RouterError};
use router_agent::store::RouterId;

#[derive(Debug, Parser)]
#[command(version, about = "Declarative router config: TOML to kernel and back")]
struct Cli {
    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file; touches nothing.
    Check { file: String },
    /// Show what `apply` would change, without changing it.
    Plan {
        /// Act inside this network namespace (an `ip netns` name).
        #[arg(long)]
        netns: Option<String>,
        file: String,
    },
    /// Bring the kernel to the config; on any failure, back to where it was.
    Apply {
        #[arg(long)]
        netns: Option<String>,
        /// Undo this apply unless `router-agent confirm` runs within SECS seconds.
        #[arg(long, value_name = "SECS")]
        confirm: Option<u64>,
        #[arg(long, default_value = "/run/router-agent")]
        status_dir: std::path::PathBuf,
        file: String,
    },
    /// Keep the config of a pending `apply --confirm`.
    Confirm {
        #[arg(long, default_value = "/run/router-agent")]
        status_dir: std::path::PathBuf,
    },
    /// Waits for a confirmation and undoes the apply without one (started by
    /// `apply --confirm`).
    #[command(hide = true)]
    Rollback {
        #[arg(long)]
        netns: Option<String>,
        #[arg(long)]
        status_dir: std::path::PathBuf,
        #[arg(long)]
        token: String,
    },
    /// Print the running config as TOML, loadable by `apply` (with --secrets).
    Show {
        #[arg(long)]
        netns: Option<String>,
        /// Print WireGuard private and preshared keys instead of "(hidden)".
        #[arg(long)]
        secrets: bool,
    },
    /// Pull the config from the store, apply it, and snapshot every change back.
    Daemon(DaemonCli),
    /// The config store: the fleet's configs, history and status reports.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// BGP tasks for BIRD's unit.
    Bgp {
        #[command(subcommand)]
        command: BgpCommand,
    },
    /// Print the daemon's status line.
    Status {
        #[arg(long, default_value = "/run/router-agent")]
        status_dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BgpCommand {
    /// Announce GRACEFUL_SHUTDOWN to every peer and wait, so that they move their traffic
    /// away before BIRD stops (the image's bird.service runs this as ExecStop).
    Drain {
        /// Seconds to wait after the announcement.
        #[arg(long, default_value_t = 5)]
        wait: u64,
    },
}

#[derive(Debug, clap::Args)]
struct DaemonCli {
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
    console: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon's decisions are its log: info by default.
    let quiet = if matches!(cli.command, Command::Daemon(_)) {
        1
    } else {
        0
    };
    let console = match &cli.command {
        Command::Daemon(d) => d.console.as_deref(),
        _ => None,
    };
    init_logging(cli.verbose.max(quiet), console);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let code = e.downcast_ref::<Exit>().map_or(1, |x| x.0);
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            router_agent::console_log::fatal(&message);
            ExitCode::from(code)
        }
    }
}

/// Logs to stderr (the journal, for the daemon) and, with `console`, to that terminal too.
fn init_logging(verbose: u8, console: Option<&std::path::Path>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let (console, failed) = match console.map(|p| (p, router_agent::console_log::open(p))) {
        Some((_, Ok(file))) => (Some(router_agent::console_log::layer(file)), None),
        Some((path, Err(e))) => (None, Some(format!("--console {}: {e}", path.display()))),
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(console)
        .init();
    if let Some(problem) = failed {
        tracing::warn!("{problem}; logging to the journal only");
    }
}

type AnyError = Box<dyn std::error::Error>;

fn load(file: &str) -> Result<ValidConfig, ConfigError> {
    router_agent::config_file::load(file)
}

/// Enters the namespace (before anything else opens a socket) and opens the kernel. Inside
/// a namespace the hostname is the host's, so it is neither read nor set.
fn kernel(netns_name: Option<&str>) -> Result<LinuxKernel, AnyError> {
    if let Some(name) = netns_name {
        netns::enter(name)?;
    }
    Ok(LinuxKernel::open(netns_name.is_none())?)
}

/// What apply and plan need of a config; the parsed file is dropped on the loader thread
/// (with a million routes, freeing it takes as long as a kernel read).
#[derive(Debug)]
struct Desired {
    state: model::NetState,
    firewall: Option<model::firewall::Firewall>,
    bgp: Option<model::bgp::Bgp>,
}

fn desired(file: &str, netns_name: Option<&str>) -> Result<Desired, ConfigError> {
    let ValidConfig {
        mut state,
        firewall,
        bgp,
        ..
    } = load(file)?;
    if netns_name.is_some() && state.hostname.take().is_some() {
        tracing::info!("hostname not applied: it belongs to the host, not to the namespace");
    }
    Ok(Desired {
        state,
        firewall,
        bgp,
    })
}

/// nft's complaints placed at their lines in the config file.
fn locate_firewall_error(file: &str, e: firewall::FirewallError) -> AnyError {
    let firewall::FirewallError::Rejected { problems } = &e else {
        return e.into();
    };
    let Ok(text) = std::fs::read_to_string(file) else {
        return e.into();
    };
    if problems.iter().any(|p| p.origin.is_none()) {
        return e.into();
    }
    let located = problems
        .iter()
        .map(|p| model::Problem {
            path: p.origin.clone().unwrap_or_default(),
            message: format!("nft rejects this: {}", p.message),
        })
        .collect();
    ConfigError::invalid(file, &text, located).into()
}

/// Has nft check the firewall's transaction (`nft -c`: nothing is applied), so raw
/// nftables text is validated too, in an empty network namespace of its own (the host's
/// ruleset is none of the config's business). Needs nft, and root or user namespaces.
fn check_firewall(file: &str, fw: &model::firewall::Firewall) -> Result<(), AnyError> {
    let mut nft = NftBackend::scratch();
    let current = firewall::Current::default();
    let plan = firewall::plan(Some(fw), &current)?;
    firewall::check(&mut nft, &plan).map_err(|e| match e {
        firewall::FirewallError::Spawn(_) => {
            format!("{e}; the firewall's raw nftables text could not be checked").into()
        }
        e => locate_firewall_error(file, e),
    })
}

/// Loads the config on a second thread while this one reads the kernel: with a million
/// routes each takes about as long as the other. Returns (desired, current, read time).
fn load_and_read(
    file: &str,
    netns_name: Option<&str>,
    k: &mut LinuxKernel,
) -> Result<(Desired, model::NetState, std::time::Duration), AnyError> {
    std::thread::scope(|s| {
        let loader = s.spawn(|| desired(file, netns_name));
        let t = std::time::Instant::now();
        let current = k.read(&[]);
        let read = t.elapsed();
        let desired = loader.join().map_err(|_| "the config loader panicked")??;
        Ok((desired, current?, read))
    })
}

fn run_daemon(cli: DaemonCli) -> Result<(), AnyError> {
    let settings = daemon::Settings {
        periodic: (cli.snapshot_interval > 0).then(|| Duration::from_secs(cli.snapshot_interval)),
        poll: Duration::from_secs(cli.poll_interval.max(1)),
        hold: Some(confirm::pending_path(&cli.status_dir)),
        on_restore: cli.on_restore.clone(),
        edit_confirm: (cli.edit_confirm > 0).then(|| Duration::from_secs(cli.edit_confirm)),
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
        Box::new(Exit(code, e.to_string())) as AnyError
    })
}

/// An error with the exit status it calls for.
#[derive(Debug)]
struct Exit(u8, String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

fn run(command: Command) -> Result<(), AnyError> {
    match command {
        Command::Daemon(cli) => run_daemon(cli)?,
        Command::Store { command } => run_store(command)?,
        Command::Bgp {
            command: BgpCommand::Drain { wait },
        } => println!(
            "{}",
            router_agent::bgp::cli::drain(Duration::from_secs(wait))?
        ),
        Command::Status { status_dir } => {
            let path = status_dir.join("status");
            match std::fs::read_to_string(&path) {
                Ok(line) => print!("daemon: {line}"),
                Err(e) => println!("daemon: not running ({}: {e})", path.display()),
            }
            let bird = router_agent::bgp::cli::backend();
            if bird.socket.exists() {
                print_buffered(&router_agent::bgp::cli::status()?)?;
            }
        }
        Command::Check { file } => {
            let v = load(&file)?;
            if let Some(fw) = &v.firewall {
                check_firewall(&file, fw)?;
            }
            let bgp_note = router_agent::bgp::cli::check(&file, v.bgp.as_ref())?;
            println!(
                "{file}: ok ({} interfaces, {} routes, {} rules, {} firewall rules)",
                v.state.links.len(),
                v.state.routes.len(),
                v.state.rules.len(),
                v.firewall.as_ref().map_or(0, |f| f.rule_count())
            );
            if !bgp_note.is_empty() {
                println!("{bgp_note}");
            }
        }
        Command::Plan { netns, file } => {
            let mut k = kernel(netns.as_deref())?;
            let (desired, current, _) = load_and_read(&file, netns.as_deref(), &mut k)?;
            let net = reconcile::plan_from(&mut k, &desired.state, current)?;
            let mut nft = NftBackend::default();
            let before = firewall::read_for(&mut nft, desired.firewall.as_ref())?;
            let fw = firewall::plan(desired.firewall.as_ref(), &before)?;
            print_buffered(&net)?;
            print_buffered(&fw)?;
            print_buffered(&router_agent::bgp::cli::plan(desired.bgp.as_ref())?)?;
        }
        Command::Confirm { status_dir } => {
            confirm::confirm(&status_dir, &mut router_agent::bgp::cli::backend())?;
            eprintln!("confirmed: the applied config stays");
        }
        Command::Rollback {
            netns,
            status_dir,
            token,
        } => roll_back_unless_confirmed(netns.as_deref(), &status_dir, &token)?,
        Command::Apply {
            netns,
            confirm: confirm_secs,
            status_dir,
            file,
        } => {
            let mut k = kernel(netns.as_deref())?;
            let (desired, current, read) = load_and_read(&file, netns.as_deref(), &mut k)?;
            let deadline = confirm_secs.map(confirm::deadline_in);
            // BIRD's own timer: it goes back by itself should nothing else.
            let bird_timeout = confirm_secs.map(|s| u32::try_from(s).unwrap_or(u32::MAX));
            // BGP first: BIRD checks the new config before anything else is written.
            let bgp_plan =
                router_agent::bgp::cli::apply(&file, desired.bgp.as_ref(), bird_timeout)?;
            router_agent::kernel::modules::load_missing(
                std::path::Path::new("/sys/module"),
                &router_agent::kernel::modules::for_config(
                    &desired.state,
                    desired.firewall.as_ref(),
                ),
                &mut std::collections::HashSet::new(),
            );
            let mut nft = NftBackend::default();
            // What runs now, to go back to if the apply is not confirmed in time.
            let rollback = match confirm_secs {
                Some(_) => {
                    let mut running = model::to_config(&current);
                    running.firewall = nft.read(&[])?.firewall.map(|f| f.to_config());
                    Some(model::render_config(&running))
                }
                None => None,
            };
            let mut text = String::new();
            let applied = apply_both(
                &mut k,
                &mut nft,
                &desired.state,
                desired.firewall.as_ref(),
                current,
                read,
                |plan| text = plan.to_string(),
            );
            let (report, fw_report) = match applied {
                Ok(r) => r,
                Err(e) => {
                    if let Some(plan) = &bgp_plan {
                        if let Err(re) = router_agent::bgp::cli::revert(plan) {
                            eprintln!("error: putting BIRD's config back failed too: {re}");
                        }
                    }
                    return Err(match e {
                        RouterError::Firewall(e) => locate_firewall_error(&file, e),
                        e => e.into(),
                    });
                }
            };
            print_buffered(&text)?;
            if !fw_report.plan.is_empty() {
                print_buffered(&fw_report.plan)?;
                eprintln!(
                    "firewall: {} change(s) in one nft transaction",
                    fw_report.plan.changes.len()
                );
            }
            let (a, c, d) = report.plan.counts();
            eprintln!(
                "applied: {a} added, {c} changed, {d} removed (read {:?}, plan {:?}, write {:?}, verify {:?}; peak RSS {} MiB)",
                report.read,
                report.plan_time,
                report.write,
                report.verify,
                peak_rss_mib().map_or_else(|| "?".to_owned(), |m| m.to_string())
            );
            if let (Some(secs), Some(deadline), Some(config)) = (confirm_secs, deadline, rollback) {
                let rollback = confirm::Rollback {
                    config: &config,
                    bird: bgp_plan.as_ref().map(|p| p.before.as_deref()),
                };
                start_rollback_waiter(netns.as_deref(), &status_dir, rollback, deadline, secs)?;
            }
            // The process ends here: freeing millions of routes one by one would take
            // longer than verifying them did. The kernel reclaims it all at once.
            std::mem::forget((report, desired));
        }
        Command::Show { netns, secrets } => {
            if let Some(name) = &netns {
                netns::enter(name)?;
            }
            let config = LinuxRouter::open(netns.is_none())?.running()?;
            let text = model::render_config(&config);
            if secrets {
                print_buffered(&text)?;
            } else {
                print_buffered(&model::redact_secrets(&text))?;
            }
        }
    }
    Ok(())
}

fn run_store(command: StoreCommand) -> Result<(), AnyError> {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    let colour = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut io = router_agent::commands::store::Io {
        input: &mut std::io::stdin().lock(),
        out: &mut stdout.lock(),
        err: &mut std::io::stderr(),
        colour,
    };
    Ok(router_agent::commands::store::run(command, &mut io)?)
}

/// Records what to go back to and starts a waiter that outlives this process and the
/// operator's session (a new session: a hangup of the SSH connection does not reach it).
fn start_rollback_waiter(
    netns_name: Option<&str>,
    status_dir: &std::path::Path,
    rollback: confirm::Rollback,
    deadline: u64,
    secs: u64,
) -> Result<(), AnyError> {
    let pending = confirm::begin(status_dir, rollback, deadline)?;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new("setsid");
    cmd.arg("-f").arg(exe).arg("rollback");
    if let Some(n) = netns_name {
        cmd.args(["--netns", n]);
    }
    cmd.arg("--status-dir")
        .arg(status_dir)
        .args(["--token", &pending.token])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let status = cmd
        .status()
        .map_err(|e| format!("starting the rollback waiter (setsid, from util-linux): {e}"))?;
    if !status.success() {
        confirm::finish(status_dir)?;
        return Err(format!(
            "starting the rollback waiter failed ({status}); nothing will undo this apply"
        )
        .into());
    }
    eprintln!(
        "commit-confirm: run `router-agent confirm` within {secs} s, or this apply is undone"
    );
    Ok(())
}

/// The waiter: at the deadline, unless confirmed, applies the config that ran before.
fn roll_back_unless_confirmed(
    netns_name: Option<&str>,
    status_dir: &std::path::Path,
    token: &str,
) -> Result<(), AnyError> {
    if let Some(name) = netns_name {
        netns::enter(name)?;
    }
    loop {
        match confirm::due(status_dir, token)? {
            confirm::Due::Gone => return Ok(()),
            confirm::Due::Wait => std::thread::sleep(Duration::from_millis(500)),
            confirm::Due::RollBack => break,
        }
    }
    let path = confirm::rollback_path(status_dir);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config = model::load(&path.display().to_string(), &text)?;
    let net =
        router_agent::router::apply_caught(&mut LinuxRouter::open(netns_name.is_none())?, &config);
    // BIRD goes back even when the rest could not.
    let bird = confirm::roll_back_bird(status_dir, &mut router_agent::bgp::cli::backend());
    let result: Result<(), AnyError> = match (net, bird) {
        (Ok(_), Ok(())) => Ok(()),
        (Err(e), Ok(())) => Err(e.into()),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Err(b)) => Err(format!("{e}; and BIRD: {b}").into()),
    };
    confirm::finish(status_dir)?;
    // The operator's terminal may be gone: the outcome goes to a file beside the status.
    let outcome = match &result {
        Ok(_) => "not confirmed in time: the config before the apply is back".to_owned(),
        Err(e) => format!("not confirmed in time, and rolling back FAILED: {e}"),
    };
    if let Err(e) = confirm::record_result(status_dir, &outcome) {
        tracing::warn!("{outcome}; and recording it failed: {e}");
    }
    result
}

/// The process's peak resident set size, from /proc/self/status (VmHWM, in kB).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Prints through one buffer: stdout flushes at every newline, a syscall per line of a
/// million-line plan or config.
/// A reader that went away (`| head`) is not an error.
fn print_buffered(what: &dyn std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match write!(out, "{what}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}
