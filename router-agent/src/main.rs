//! `router-agent`: check, plan, apply and show the router's config.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use router_agent::commands::{self, store::StoreCommand, AnyError, Exit, Io};
use router_agent::store;

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
    Check(commands::check::Check),
    /// Show what `apply` would change, without changing it.
    Plan(commands::plan::Plan),
    /// Bring the kernel to the config; on any failure, back to where it was.
    Apply(commands::apply::Apply),
    /// Keep the config of a pending `apply --confirm`.
    Confirm(commands::confirm::Confirm),
    /// Waits for a confirmation and undoes the apply without one (started by
    /// `apply --confirm`).
    #[command(hide = true)]
    Rollback(commands::rollback::Rollback),
    /// Print the running config as TOML, loadable by `apply` (with --secrets).
    Show(commands::show::Show),
    /// Pull the config from the store, apply it, and snapshot every change back.
    Daemon(commands::daemon::DaemonCli),
    /// The config store: the fleet's configs, history and status reports.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// BGP tasks for BIRD's unit.
    Bgp {
        #[command(subcommand)]
        command: commands::bgp::BgpCommand,
    },
    /// Print the daemon's status line.
    Status(commands::status::Status),
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
            let code = e.downcast_ref::<Exit>().map_or(1, |x| x.0);
            for (i, cause) in store::causes(&*e).enumerate() {
                match i {
                    0 => eprintln!("error: {cause}"),
                    _ => eprintln!("  caused by: {cause}"),
                }
            }
            router_agent::console_log::fatal(&store::error_chain(&*e));
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
    // RUST_LOG as `target=level,...` (Targets: no regex engine in the router's binary).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(
                level
                    .parse::<tracing::Level>()
                    .unwrap_or(tracing::Level::WARN),
            )
        });
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

fn run(command: Command) -> Result<(), AnyError> {
    match command {
        Command::Daemon(cli) => cli.exec()?,
        Command::Rollback(c) => c.exec()?,
        Command::Store { command } => terminal(|io| commands::store::run(command, io))?,
        Command::Bgp { command } => terminal(|io| command.exec(io))?,
        Command::Status(c) => terminal(|io| c.exec(io))?,
        Command::Check(c) => terminal(|io| c.exec(io))?,
        Command::Plan(c) => terminal(|io| c.exec(io))?,
        Command::Confirm(c) => terminal(|io| c.exec(io))?,
        Command::Apply(c) => terminal(|io| c.exec(io))?,
        Command::Show(c) => terminal(|io| c.exec(io))?,
    }
    Ok(())
}

/// Runs `f` with the process's stdin, stdout and stderr (the daemon and the rollback
/// waiter run without: they write nothing there, and hold no lock on them for good).
fn terminal<T>(f: impl FnOnce(&mut Io<'_>) -> T) -> T {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    let colour = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    f(&mut Io {
        input: &mut std::io::stdin().lock(),
        out: &mut stdout.lock(),
        err: &mut std::io::stderr(),
        colour,
    })
}
