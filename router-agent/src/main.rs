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

fn desired(file: &str, netns_name: Option<&str>) -> Result<model::NetState, AnyError> {
    let mut state = load(file)?.state;
    if netns_name.is_some() && state.hostname.take().is_some() {
        tracing::info!("hostname not applied: it belongs to the host, not to the namespace");
    }
    Ok(state)
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
            let desired = desired(&file, netns.as_deref())?;
            let mut k = kernel(netns.as_deref())?;
            print!("{}", reconcile::plan(&mut k, &desired)?);
        }
        Command::Apply { netns, file } => {
            let desired = desired(&file, netns.as_deref())?;
            let mut k = kernel(netns.as_deref())?;
            let report = reconcile::apply(&mut k, &desired)?;
            if !report.plan.is_empty() {
                print!("{}", report.plan);
            }
            let (a, c, d) = report.plan.counts();
            eprintln!(
                "applied: {a} added, {c} changed, {d} removed (read {:?}, plan {:?}, write {:?}, verify {:?})",
                report.read, report.plan_time, report.write, report.verify
            );
        }
        Command::Show { netns } => {
            let mut k = kernel(netns.as_deref())?;
            let state = k.read(&[])?;
            print!("{}", model::render(&state));
        }
    }
    Ok(())
}
