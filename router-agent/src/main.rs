//! `router-agent`: check, plan, apply and show the router's config.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
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

fn desired(file: &str, netns_name: Option<&str>) -> Result<model::NetState, ConfigError> {
    let mut state = load(file)?.state;
    if netns_name.is_some() && state.hostname.take().is_some() {
        tracing::info!("hostname not applied: it belongs to the host, not to the namespace");
    }
    Ok(state)
}

/// Loads the config on a second thread while this one reads the kernel: with a million
/// routes each takes about as long as the other. Returns (desired, current, read time).
fn load_and_read(
    file: &str,
    netns_name: Option<&str>,
    k: &mut LinuxKernel,
) -> Result<(model::NetState, model::NetState, std::time::Duration), AnyError> {
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
            println!(
                "{file}: ok ({} interfaces, {} routes, {} rules)",
                v.state.links.len(),
                v.state.routes.len(),
                v.state.rules.len()
            );
        }
        Command::Plan { netns, file } => {
            let mut k = kernel(netns.as_deref())?;
            let (desired, current, _) = load_and_read(&file, netns.as_deref(), &mut k)?;
            print_buffered(&reconcile::plan_from(&mut k, &desired, current)?)?;
        }
        Command::Apply { netns, file } => {
            let mut k = kernel(netns.as_deref())?;
            let (desired, current, read) = load_and_read(&file, netns.as_deref(), &mut k)?;
            let mut text = String::new();
            let report = reconcile::apply_from(&mut k, &desired, current, read, |plan| {
                text = plan.to_string();
            })?;
            print_buffered(&text)?;
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
            print_buffered(&model::render(&state))?;
        }
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
