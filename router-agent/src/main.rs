//! `router-agent`: check, plan, apply and show the router's config.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use router_agent::firewall::{self, Backend, NftBackend};
use router_agent::kernel::{netns, LinuxKernel};
use router_agent::model::{self, ConfigError, ValidConfig};
use router_agent::reconcile::{self, Kernel};

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
        file: String,
    },
    /// Print the running config as TOML, loadable by `apply`.
    Show {
        #[arg(long)]
        netns: Option<String>,
    },
    /// BGP sessions and prefix counts, from BIRD.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

type AnyError = Box<dyn std::error::Error>;

fn load(file: &str) -> Result<ValidConfig, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        origin: file.to_owned(),
        source,
    })?;
    model::load(file, &text)
}

/// Enters the namespace (before anything else opens a socket) and opens the kernel. Inside
/// a namespace the hostname is the host's, so it is neither read nor set.
fn kernel(netns_name: Option<&str>) -> Result<LinuxKernel, AnyError> {
    if let Some(name) = netns_name {
        netns::enter(name)?;
    }
    Ok(LinuxKernel::open(netns_name.is_none())?)
}

fn desired(file: &str, netns_name: Option<&str>) -> Result<ValidConfig, ConfigError> {
    let mut v = load(file)?;
    if netns_name.is_some() && v.state.hostname.take().is_some() {
        tracing::info!("hostname not applied: it belongs to the host, not to the namespace");
    }
    Ok(v)
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
/// nftables text is validated too. Needs nft and CAP_NET_ADMIN; says so when it cannot.
fn check_firewall(file: &str, fw: &model::firewall::Firewall) -> Result<(), AnyError> {
    let mut nft = NftBackend::default();
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
) -> Result<(ValidConfig, model::NetState, std::time::Duration), AnyError> {
    std::thread::scope(|s| {
        let loader = s.spawn(|| desired(file, netns_name));
        let t = std::time::Instant::now();
        let current = k.read(&[]);
        let read = t.elapsed();
        let desired = loader.join().map_err(|_| "the config loader panicked")??;
        Ok((desired, current?, read))
    })
}

fn run(command: Command) -> Result<(), AnyError> {
    match command {
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
        Command::Apply { netns, file } => {
            let mut k = kernel(netns.as_deref())?;
            let (desired, current, read) = load_and_read(&file, netns.as_deref(), &mut k)?;
            // BGP first: BIRD checks the new config before anything else is written.
            router_agent::bgp::cli::apply(&file, desired.bgp.as_ref())?;
            // The firewall is planned before anything is written, applied first (one atomic
            // transaction), and put back if the interfaces fail.
            let mut nft = NftBackend::default();
            let t = std::time::Instant::now();
            let fw_before = firewall::read_for(&mut nft, desired.firewall.as_ref())?;
            let fw_plan = firewall::plan(desired.firewall.as_ref(), &fw_before)?;
            // `nft -f` is atomic: a rejected transaction changes nothing, so no `nft -c` first.
            let fw_report =
                firewall::apply(&mut nft, desired.firewall.as_ref(), fw_plan, fw_before)
                    .map_err(|e| locate_firewall_error(&file, e))?;
            let fw_time = t.elapsed();
            let report = match reconcile::apply_from(&mut k, &desired.state, current, read) {
                Ok(r) => r,
                Err(e) => {
                    if let Err(re) = firewall::revert(&mut nft, &fw_report.plan) {
                        eprintln!("error: reverting the firewall failed too: {re}");
                    }
                    return Err(e.into());
                }
            };
            if !report.plan.is_empty() {
                print_buffered(&report.plan)?;
            }
            if !fw_report.plan.is_empty() {
                print_buffered(&fw_report.plan)?;
                eprintln!(
                    "firewall: {} change(s) in one nft transaction ({fw_time:?})",
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
            // The process ends here: freeing millions of routes one by one would take
            // longer than verifying them did. The kernel reclaims it all at once.
            std::mem::forget((report, desired));
        }
        Command::Show { netns } => {
            let mut k = kernel(netns.as_deref())?;
            let state = k.read(&[])?;
            let mut config = model::to_config(&state);
            let fw = NftBackend::default().read(&[])?;
            config.firewall = fw.firewall.map(|f| f.to_config());
            router_agent::bgp::cli::show(&mut config)?;
            print_buffered(&model::render_config(&config))?;
        }
        Command::Status => print_buffered(&router_agent::bgp::cli::status()?)?,
    }
    Ok(())
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
