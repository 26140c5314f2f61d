//! The Linux router: netlink for interfaces, addresses, routes and rules; nftables for the
//! firewall.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Applied, BgpApplied, Outcome, Router, RouterError, Target};
use crate::bgp::{self, BgpPlan, BirdCli};
use crate::firewall::{self, Backend, NftBackend};
use crate::kernel::{modules, LinuxKernel};
use crate::model::bgp::Bgp;
use crate::model::firewall::Firewall;
use crate::model::{self, Config, NetState, ValidConfig};
use crate::plan::Plan;
use crate::reconcile::{self, Kernel};

#[derive(Debug)]
pub struct LinuxRouter {
    kernel: LinuxKernel,
    nft: NftBackend,
    bird: BirdCli,
    /// False inside a network namespace: the hostname is the host's.
    manage_hostname: bool,
    /// Kernel modules already asked for: one that failed is left to the kernel after.
    modules_tried: HashSet<&'static str>,
    /// The kernel's state as first read, before the agent wrote anything.
    before: Option<Config>,
}

impl LinuxRouter {
    /// Opens the kernel of the namespace this thread is in.
    pub fn open(manage_hostname: bool) -> Result<LinuxRouter, RouterError> {
        Ok(LinuxRouter {
            kernel: LinuxKernel::open(manage_hostname).map_err(RouterError::Read)?,
            nft: NftBackend::default(),
            bird: bgp::cli::backend(),
            manage_hostname,
            modules_tried: HashSet::new(),
            before: None,
        })
    }
}

/// Applies the firewall first (planned before anything is written; one atomic nft
/// transaction), then the interfaces from `current` (read by the caller, `read` long ago);
/// if those fail the firewall is put back. `alongside` gets the netlink plan on a second
/// thread while it is written.
#[allow(clippy::too_many_arguments)]
pub fn apply_both(
    kernel: &mut dyn Kernel,
    nft: &mut dyn Backend,
    state: &NetState,
    firewall: Option<&Firewall>,
    current: NetState,
    read: Duration,
    alongside: impl FnOnce(&Plan) + Send,
) -> Result<(reconcile::Report, firewall::Report), RouterError> {
    let fw_before = firewall::read_for(nft, firewall).map_err(RouterError::ReadFirewall)?;
    let fw_plan = firewall::plan(firewall, &fw_before).map_err(RouterError::Firewall)?;
    // `nft -f` is atomic: a rejected transaction changes nothing, so no `nft -c` first.
    let fw_report =
        firewall::apply(nft, firewall, fw_plan, fw_before).map_err(RouterError::Firewall)?;
    // A panic in the netlink part (apply_from puts the kernel back from one in its write)
    // is a failed step like any other: the firewall goes back too.
    let net = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reconcile::apply_from(kernel, state, current, read, alongside)
    }))
    .unwrap_or_else(|p| {
        // Outside the write: before anything was written.
        Err(reconcile::ApplyError::Panicked {
            message: reconcile::panic_text(&*p),
            revert_failed: Vec::new(),
            recreated: Vec::new(),
        })
    });
    match net {
        Ok(report) => Ok((report, fw_report)),
        Err(e) => {
            if let Err(re) = firewall::revert(nft, &fw_report.plan) {
                tracing::error!("reverting the firewall failed too: {re}");
            }
            Err(RouterError::Net(e))
        }
    }
}

impl LinuxRouter {
    /// A router on `kernel`, opened by the caller (who may have read it already).
    pub fn with_kernel(kernel: LinuxKernel, manage_hostname: bool) -> LinuxRouter {
        LinuxRouter {
            kernel,
            nft: NftBackend::default(),
            bird: bgp::cli::backend(),
            manage_hostname,
            modules_tried: HashSet::new(),
            before: None,
        }
    }

    /// Reads the kernel, keeping the first read as the state before the agent.
    fn read_kernel(&mut self) -> Result<NetState, RouterError> {
        let state = self.kernel.read(&[]).map_err(RouterError::Read)?;
        if self.before.is_none() {
            // Snapshots compare sysctls and interfaces with it, nothing else: routes are
            // not kept (a daemon started over a million routes would copy them on every
            // snapshot).
            let first = model::to_config(&state);
            self.before = Some(Config {
                sysctl: first.sysctl,
                interfaces: first.interfaces,
                ..Config::default()
            });
        }
        Ok(state)
    }

    /// The one apply, for the daemon and the CLI alike: kernel modules, then BGP (BIRD
    /// checks its new config before anything else is written; `on_bgp` hears of it when
    /// bird.conf changed), then firewall and interfaces from `current` (read `read` long
    /// ago; `alongside` gets the netlink plan while it is written). If those fail, BIRD's
    /// config is put back too.
    pub fn apply_target(
        &mut self,
        target: &Target<'_>,
        current: NetState,
        read: Duration,
        on_bgp: impl FnOnce(&BgpApplied),
        alongside: impl FnOnce(&Plan) + Send,
    ) -> Result<Outcome, RouterError> {
        let wanted = modules::for_config(target.state, target.firewall);
        modules::load_missing(Path::new("/sys/module"), &wanted, &mut self.modules_tried);
        let bgp = match target.bgp {
            Some(b) => self.apply_bgp(b, target.bird_timeout)?,
            None => {
                tracing::info!("no [bgp] in the config: BIRD left as it is");
                None
            }
        };
        if let Some(b) = &bgp {
            on_bgp(b);
        }
        let both = apply_both(
            &mut self.kernel,
            &mut self.nft,
            target.state,
            target.firewall,
            current,
            read,
            alongside,
        );
        match both {
            Ok((net, firewall)) => Ok(Outcome { net, firewall, bgp }),
            Err(e) => {
                if let Some(b) = &bgp {
                    if let Err(re) = bgp::revert(&mut self.bird, b.plan.before.as_deref()) {
                        tracing::error!("putting BIRD's config back failed too: {re}");
                    }
                }
                Err(e)
            }
        }
    }

    /// Writes bird.conf and has BIRD load it; None when it already said this.
    fn apply_bgp(
        &mut self,
        b: &Bgp,
        timeout: Option<u32>,
    ) -> Result<Option<BgpApplied>, RouterError> {
        let plan = BgpPlan::new(&mut self.bird, b).map_err(RouterError::Bgp)?;
        let t = Instant::now();
        let report = bgp::apply(&mut self.bird, &plan, timeout).map_err(RouterError::Bgp)?;
        Ok(report.changed.then(|| BgpApplied {
            plan,
            reconfigured: report.reconfigured,
            took: t.elapsed(),
        }))
    }
}

impl Router for LinuxRouter {
    fn apply(&mut self, config: &ValidConfig) -> Result<Applied, RouterError> {
        let mut state = config.state.clone();
        if !self.manage_hostname {
            state.hostname = None;
        }
        let t = Instant::now();
        let current = self.read_kernel()?;
        let target = Target {
            state: &state,
            firewall: config.firewall.as_ref(),
            bgp: config.bgp.as_ref(),
            bird_timeout: None,
        };
        let outcome = self.apply_target(&target, current, t.elapsed(), |_| {}, |_| {})?;
        Ok(outcome.applied())
    }

    fn running(&mut self) -> Result<Config, RouterError> {
        let state = self.read_kernel()?;
        let mut config = model::to_config(&state);
        let fw = self.nft.read(&[]).map_err(RouterError::ReadFirewall)?;
        config.firewall = fw.firewall.map(|f| f.to_config());
        if let Some((origin, read)) = self.bird.read_back().map_err(RouterError::Bgp)? {
            match read {
                bgp::Read::Agent(b) => config.bgp = Some(b.to_config()),
                bgp::Read::Foreign => {
                    tracing::warn!(
                        "{origin} was not written by router-agent; it is not part of the config"
                    )
                }
            }
        }
        Ok(config)
    }

    fn before_agent(&self) -> Option<Config> {
        self.before.clone()
    }

    fn stopping(&mut self, config: &ValidConfig) {
        if let Some(b) = &config.bgp {
            match bgp::announce_shutdown(&mut self.bird, b) {
                Ok(true) => tracing::info!("BGP: GRACEFUL_SHUTDOWN announced before stopping"),
                Ok(false) => {}
                Err(e) => tracing::error!("BGP: announcing GRACEFUL_SHUTDOWN: {e}"),
            }
        }
    }
}
