//! `router-agent apply`.

use crate::confirm;
use crate::firewall::{Backend, NftBackend};
use crate::model;
use crate::router::{BgpApplied, LinuxRouter, RouterError, Target};

use super::{kernel, load_and_read, locate_firewall_error, print_buffered, AnyError, Io};

#[derive(Debug, clap::Args)]
pub struct Apply {
    #[arg(long)]
    netns: Option<String>,
    /// Undo this apply unless `router-agent confirm` runs within SECS seconds.
    #[arg(long, value_name = "SECS")]
    confirm: Option<u64>,
    #[arg(long, default_value = "/run/router-agent")]
    status_dir: std::path::PathBuf,
    file: String,
}

impl Apply {
    pub fn exec(self, io: &mut Io<'_>) -> Result<(), AnyError> {
        let Apply {
            netns,
            confirm: confirm_secs,
            status_dir,
            file,
        } = self;
        let mut k = kernel(netns.as_deref())?;
        let (desired, current, read) = load_and_read(&file, netns.as_deref(), &mut k)?;
        let deadline = confirm_secs.map(confirm::deadline_in);
        // What runs now, to go back to if the apply is not confirmed in time.
        let rollback = match confirm_secs {
            Some(_) => {
                let mut running = model::to_config(&current);
                running.firewall = NftBackend::default()
                    .read(&[])?
                    .firewall
                    .map(|f| f.to_config());
                Some(model::render_config(&running))
            }
            None => None,
        };
        let target = Target {
            state: &desired.state,
            firewall: desired.firewall.as_ref(),
            bgp: desired.bgp.as_ref(),
            // BIRD's own timer: it goes back by itself should nothing else.
            bird_timeout: confirm_secs.map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
        };
        let mut text = String::new();
        let mut router = LinuxRouter::with_kernel(k, netns.is_none());
        let outcome = router
            .apply_target(
                &target,
                current,
                read,
                |b| print_bgp(io, b, target.bird_timeout),
                |plan| text = plan.to_string(),
            )
            .map_err(|e| match e {
                RouterError::Firewall(e) => locate_firewall_error(&file, e),
                RouterError::Bgp(e) => match &desired.bgp {
                    Some(bgp) => crate::bgp::cli::locate(&file, bgp, e),
                    None => e.into(),
                },
                e => e.into(),
            })?;
        print_buffered(io.out, &text)?;
        let fw_report = &outcome.firewall;
        if !fw_report.plan.is_empty() {
            print_buffered(io.out, &fw_report.plan)?;
            writeln!(
                io.err,
                "firewall: {} change(s) in one nft transaction",
                fw_report.plan.changes.len()
            )?;
        }
        let report = &outcome.net;
        let (a, c, d) = report.plan.counts();
        writeln!(
            io.err,
            "applied: {a} added, {c} changed, {d} removed (read {:?}, plan {:?}, write {:?}, verify {:?}; peak RSS {} MiB)",
            report.read,
            report.plan_time,
            report.write,
            report.verify,
            peak_rss_mib().map_or_else(|| "?".to_owned(), |m| m.to_string())
        )?;
        if let (Some(secs), Some(deadline), Some(config)) = (confirm_secs, deadline, rollback) {
            let rollback = confirm::Rollback {
                config: &config,
                bird: outcome.bgp.as_ref().map(|b| b.plan.before.as_deref()),
            };
            start_rollback_waiter(io, netns.as_deref(), &status_dir, rollback, deadline, secs)?;
        }
        // The process ends here: freeing millions of routes one by one would take
        // longer than verifying them did. The kernel reclaims it all at once.
        std::mem::forget((outcome, desired));
        Ok(())
    }
}

/// BIRD's part, said as soon as it is done (before the kernel's). A terminal gone away
/// does not stop the apply.
fn print_bgp(io: &mut Io<'_>, b: &BgpApplied, timeout: Option<u32>) {
    let _ = write!(io.out, "{}", b.plan).and_then(|()| io.out.flush());
    let _ = writeln!(
        io.err,
        "bgp: bird.conf written{} ({:?})",
        match (b.reconfigured, timeout) {
            (false, _) => "; BIRD is not running and reads it when it starts".to_owned(),
            (true, None) => ", BIRD reconfigured".to_owned(),
            (true, Some(t)) =>
                format!(", BIRD reconfigured; it goes back by itself in {t} s unless confirmed"),
        },
        b.took
    );
}

/// Records what to go back to and starts a waiter that outlives this process and the
/// operator's session (a new session: a hangup of the SSH connection does not reach it).
fn start_rollback_waiter(
    io: &mut Io<'_>,
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
    writeln!(
        io.err,
        "commit-confirm: run `router-agent confirm` within {secs} s, or this apply is undone"
    )?;
    Ok(())
}

/// The process's peak resident set size, from /proc/self/status (VmHWM, in kB).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
