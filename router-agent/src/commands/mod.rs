//! The `router-agent` subcommands, one module each: its arguments and what runs it
//! (`main.rs` only parses and dispatches). Output goes to the [`Io`] given, not to the
//! process's stdout directly.

pub mod apply;
pub mod bgp;
pub mod check;
pub mod confirm;
pub mod daemon;
pub mod plan;
pub mod rollback;
pub mod show;
pub mod status;
pub mod store;

use std::io::Write;

use crate::firewall;
use crate::kernel::{netns, LinuxKernel};
use crate::model::{self, ConfigError, ValidConfig};
use crate::reconcile::Kernel;

pub use store::Io;

pub type AnyError = Box<dyn std::error::Error>;

fn load(file: &str) -> Result<ValidConfig, ConfigError> {
    crate::config_file::load(file)
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

/// An error with the exit status it calls for; said as the error itself, causes and all.
#[derive(Debug)]
pub struct Exit(pub u8, AnyError);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.1.fmt(f)
    }
}

impl std::error::Error for Exit {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.source()
    }
}

/// Writes through one buffer: stdout flushes at every newline, a syscall per line of a
/// million-line plan or config.
/// A reader that went away (`| head`) is not an error.
fn print_buffered(out: &mut dyn Write, what: &dyn std::fmt::Display) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    match write!(out, "{what}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}
