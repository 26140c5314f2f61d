//! `router-agent apply`.

use router_agent::confirm;
use router_agent::firewall::{Backend, NftBackend};
use router_agent::model;
use router_agent::router::{apply_both, RouterError};

use super::{kernel, load_and_read, locate_firewall_error, print_buffered, AnyError};

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
    pub fn exec(self) -> Result<(), AnyError> {
        let Apply {
            netns,
            confirm: confirm_secs,
            status_dir,
            file,
        } = self;
        let mut k = kernel(netns.as_deref())?;
        let (desired, current, read) = load_and_read(&file, netns.as_deref(), &mut k)?;
        let deadline = confirm_secs.map(confirm::deadline_in);
        // BIRD's own timer: it goes back by itself should nothing else.
        let bird_timeout = confirm_secs.map(|s| u32::try_from(s).unwrap_or(u32::MAX));
        // BGP first: BIRD checks the new config before anything else is written.
        let bgp_plan = router_agent::bgp::cli::apply(&file, desired.bgp.as_ref(), bird_timeout)?;
        router_agent::kernel::modules::load_missing(
            std::path::Path::new("/sys/module"),
            &router_agent::kernel::modules::for_config(&desired.state, desired.firewall.as_ref()),
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
        Ok(())
    }
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

/// The process's peak resident set size, from /proc/self/status (VmHWM, in kB).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
