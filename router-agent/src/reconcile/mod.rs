//! apply = read, plan, execute, verify, and on any failure revert. Written against the
//! [`Kernel`] trait so the whole flow is tested with an in-memory fake.

mod fake;

use std::time::{Duration, Instant};

pub use fake::FakeKernel;

use crate::model::{IfName, NetState, Route, RouteKey, RouteMap};
use crate::plan::{diff, route_matches, Op, Plan, PlanError};

/// The kernel as the reconciler sees it.
pub trait Kernel {
    /// The running state: every link, config-owned routes and rules, the typed sysctls and
    /// those named in `sysctls`. A failed or interrupted read is an error, never a partial state.
    fn read(&mut self, sysctls: &[String]) -> Result<NetState, KernelError> {
        for _ in 0..READ_TRIES {
            let mut routes = Vec::new();
            let read = self.read_streaming(sysctls, &mut |r| routes.push(r))?;
            if let Some(mut state) = read {
                state.routes = routes.into_iter().collect();
                return Ok(state);
            }
            tracing::debug!("route dump interrupted by a concurrent change; reading again");
        }
        Err(KernelError {
            context: "reading routes".into(),
            message: format!(
                "the dump was interrupted {READ_TRIES} times by concurrent changes; try again"
            ),
            source: None,
        })
    }
    /// [`Kernel::read`], but each route goes to `each` as it is read, in the kernel's dump
    /// order, and the state returned has none: verification checks a million routes this way
    /// without keeping a second copy of them. `None` when a concurrent change interrupted
    /// the dump: `each` then saw an inconsistent one.
    fn read_streaming(
        &mut self,
        sysctls: &[String],
        each: &mut dyn FnMut(Route),
    ) -> Result<Option<NetState>, KernelError>;
    /// Just the sysctls named.
    fn read_sysctls(&mut self, keys: &[String]) -> Result<crate::model::Sysctls, KernelError>;
    /// Runs `ops` in order; one result per op that ran. It may stop after a failure (the ops
    /// past the returned results did not run), but ops it ran after a failure are reported.
    fn execute(&mut self, ops: &[Op]) -> Result<Vec<Result<(), String>>, KernelError>;
}

/// Reads of the routes a concurrent change may interrupt before [`Kernel::read`] gives up.
const READ_TRIES: usize = 3;

/// The kernel could not be read or written at all (as opposed to one operation failing).
#[derive(Debug, thiserror::Error)]
#[error("{context}: {message}")]
pub struct KernelError {
    pub context: String,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl KernelError {
    pub fn new(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> KernelError {
        KernelError {
            context: context.into(),
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("cannot plan: {0}")]
    Plan(PlanError),
    #[error("{}", failure_text(failed, revert_failed, recreated))]
    Failed {
        /// The operations that failed, with the kernel's reason.
        failed: Vec<(String, String)>,
        /// Revert operations that failed too: the kernel may differ from before the apply.
        revert_failed: Vec<(String, String)>,
        /// Links the apply deleted and the revert created again: the same settings, but
        /// not the same link (a new interface index).
        recreated: Vec<IfName>,
    },
    #[error("the kernel does not match the config after applying; reverted{}. Still different:\n{residual}", recreated_text(recreated))]
    NotConverged {
        residual: Plan,
        recreated: Vec<IfName>,
    },
    /// A bug: the apply panicked. The kernel was put back to the state before it.
    #[error(
        "the apply stopped on an internal error (a bug, please report it): {message}{}",
        revert_text(revert_failed, recreated)
    )]
    Panicked {
        message: String,
        revert_failed: Vec<(String, String)>,
        recreated: Vec<IfName>,
    },
}

// By hand, not `#[from]`: the cause is in the message, so it is no `source()`.
impl From<PlanError> for ApplyError {
    fn from(e: PlanError) -> ApplyError {
        ApplyError::Plan(e)
    }
}

fn failure_text(
    failed: &[(String, String)],
    revert_failed: &[(String, String)],
    recreated: &[IfName],
) -> String {
    let mut s = format!("{} operation(s) failed:", failed.len());
    for (op, e) in failed {
        s.push_str(&format!("\n  {op}: {e}"));
    }
    s.push_str(&revert_text(revert_failed, recreated));
    s
}

/// What a panic carries, as text.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The links a revert created again, said so: the kernel is not as it was for them.
fn recreated_text(recreated: &[IfName]) -> String {
    if recreated.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = recreated.iter().map(IfName::as_str).collect();
    format!(
        ", but {} {} deleted and created again: the same settings, a new interface index (what was bound to the old one, such as sockets, captures or other daemons' state, must bind again)",
        names.join(", "),
        if names.len() == 1 { "was" } else { "were" }
    )
}

fn revert_text(revert_failed: &[(String, String)], recreated: &[IfName]) -> String {
    let mut s = String::new();
    if revert_failed.is_empty() && recreated.is_empty() {
        s.push_str("\nall changes were reverted; the kernel is as it was before");
    } else if revert_failed.is_empty() {
        s.push_str("\nall changes were reverted");
        s.push_str(&recreated_text(recreated));
    } else {
        s.push_str("\nREVERT INCOMPLETE, the kernel differs from before the apply:");
        for (op, e) in revert_failed {
            s.push_str(&format!("\n  {op}: {e}"));
        }
        s.push_str(&recreated_text(recreated).replacen(", but", "\nand", 1));
    }
    s
}

/// What an apply did.
#[derive(Debug)]
pub struct Report {
    pub plan: Plan,
    /// The kernel state read whole: the state before, when nothing was to be done. After a
    /// write, verification compares routes as they stream in and keeps no copy of them, so
    /// there is none: a snapshot re-reads the kernel.
    pub state: Option<NetState>,
    pub read: Duration,
    pub plan_time: Duration,
    pub write: Duration,
    pub verify: Duration,
}

/// Plans the way from `current` (read without the config's own sysctls) to `desired`.
pub fn plan_from(
    kernel: &mut dyn Kernel,
    desired: &NetState,
    mut current: NetState,
) -> Result<Plan, ApplyError> {
    read_missing_sysctls(kernel, desired, &mut current)?;
    Ok(diff(desired, &current)?)
}

fn sysctl_keys(desired: &NetState) -> Vec<String> {
    desired.sysctl.keys().cloned().collect()
}

/// Reads the sysctls the config sets that `current` was read without.
fn read_missing_sysctls(
    kernel: &mut dyn Kernel,
    desired: &NetState,
    current: &mut NetState,
) -> Result<(), KernelError> {
    let missing: Vec<String> = desired
        .sysctl
        .keys()
        .filter(|k| !current.sysctl.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        current.sysctl.extend(kernel.read_sysctls(&missing)?);
    }
    Ok(())
}

/// Brings the kernel to `desired`, or leaves it as it was and says why.
pub fn apply(kernel: &mut dyn Kernel, desired: &NetState) -> Result<Report, ApplyError> {
    let t = Instant::now();
    let current = kernel.read(&sysctl_keys(desired))?;
    apply_from(kernel, desired, current, t.elapsed(), |_| {})
}

/// [`apply`] from a state the caller read already (while it was loading the config), with
/// the sysctls only the config names read now. `read` is how long that read took.
/// `alongside` gets the plan on a second thread while this one writes it, when a core
/// would otherwise wait on the kernel (the CLI renders the plan's text there); it does not
/// run when there is nothing to write.
pub fn apply_from(
    kernel: &mut dyn Kernel,
    desired: &NetState,
    mut current: NetState,
    read: Duration,
    alongside: impl FnOnce(&Plan) + Send,
) -> Result<Report, ApplyError> {
    let t = Instant::now();
    let keys = sysctl_keys(desired);
    read_missing_sysctls(kernel, desired, &mut current)?;
    let read = read + t.elapsed();
    let t = Instant::now();
    let plan = diff(desired, &current)?;
    let plan_time = t.elapsed();
    let mut report = Report {
        plan,
        state: None,
        read,
        plan_time,
        write: Duration::ZERO,
        verify: Duration::ZERO,
    };
    if report.plan.is_empty() {
        tracing::info!("kernel already matches the config; nothing to write");
        report.state = Some(current);
        return Ok(report);
    }
    let (a, c, d) = report.plan.counts();
    tracing::info!(add = a, change = c, remove = d, "applying");
    // There must be no panic in the write, but if one comes the kernel is put back all the
    // same: from whatever it is then, planned back to `current`.
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        write_and_verify(kernel, desired, &mut report, &current, &keys, alongside)
    }));
    match written {
        Ok(r) => r.map(|()| report),
        Err(panic) => Err(after_panic(kernel, &current, &keys, &*panic)),
    }
}

/// Puts the kernel back to `before` after a panic in the write; a panic in that too is
/// reported, not raised.
fn after_panic(
    kernel: &mut dyn Kernel,
    before: &NetState,
    keys: &[String],
    panic: &(dyn std::any::Any + Send),
) -> ApplyError {
    let message = panic_text(panic);
    tracing::error!("the apply panicked ({message}); putting the kernel back");
    let mend = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        revert(kernel, &Plan::default(), &[], before, keys)
    }));
    let reverted = match mend {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Reverted::failed("revert", e.to_string()),
        Err(p) => Reverted::failed("revert", format!("panicked too: {}", panic_text(&*p))),
    };
    ApplyError::Panicked {
        message,
        revert_failed: reverted.failed,
        recreated: reverted.recreated,
    }
}

/// Writes `report.plan`, verifies, and reverts on a failure.
fn write_and_verify(
    kernel: &mut dyn Kernel,
    desired: &NetState,
    report: &mut Report,
    current: &NetState,
    keys: &[String],
    alongside: impl FnOnce(&Plan) + Send,
) -> Result<(), ApplyError> {
    let t = Instant::now();
    let plan = &report.plan;
    let results = std::thread::scope(|s| {
        let beside = s.spawn(|| alongside(plan));
        let results = kernel.execute(&plan.ops);
        if let Err(panic) = beside.join() {
            std::panic::resume_unwind(panic);
        }
        results
    })?;
    report.write = t.elapsed();
    let done: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    let failed: Vec<(String, String)> = results
        .iter()
        .zip(&report.plan.ops)
        .filter_map(|(r, op)| r.as_ref().err().map(|e| (op.to_string(), e.clone())))
        .collect();
    if !failed.is_empty() {
        tracing::warn!(
            failed = failed.len(),
            "apply failed; reverting {} operations",
            done.len()
        );
        let reverted = revert(kernel, &report.plan, &done, current, keys)?;
        return Err(ApplyError::Failed {
            failed,
            revert_failed: reverted.failed,
            recreated: reverted.recreated,
        });
    }
    let t = Instant::now();
    let (residual, after) = verify(kernel, desired, keys)?;
    report.verify = t.elapsed();
    if !residual.is_empty() {
        tracing::warn!(
            left = residual.ops.len(),
            "kernel differs from the config after applying; reverting"
        );
        let reverted = revert(kernel, &report.plan, &done, current, keys)?;
        if !reverted.failed.is_empty() {
            return Err(ApplyError::Failed {
                failed: vec![("verify".into(), residual.to_string())],
                revert_failed: reverted.failed,
                recreated: reverted.recreated,
            });
        }
        return Err(ApplyError::NotConverged {
            residual,
            recreated: reverted.recreated,
        });
    }
    tracing::info!("applied and verified");
    report.state = after;
    Ok(())
}

/// Re-reads the kernel and plans from there to `desired`: the residual plan, empty when the
/// kernel matches. Routes are compared as the dump streams in; only when that finds a
/// difference is the state read again whole, to plan the residual exactly. Also returns the
/// state read whole, if it was.
fn verify(
    kernel: &mut dyn Kernel,
    desired: &NetState,
    keys: &[String],
) -> Result<(Plan, Option<NetState>), ApplyError> {
    let mut seen = 0usize;
    let mut same = true;
    let mut last: Option<RouteKey> = None;
    // The dump comes mostly in key order: walk the config's routes along with it, and look
    // routes up only once it does not.
    let mut wanted = desired.routes.values().peekable();
    let mut in_order = true;
    let after = kernel.read_streaming(keys, &mut |r| {
        // Routes with one key (`ip route append`) are dumped next to each other; a second
        // one is a difference, as the count alone would not tell.
        same &= last != Some(r.key);
        in_order &= last.is_none_or(|l| l < r.key);
        last = Some(r.key);
        seen += 1;
        let d = if in_order {
            while wanted.next_if(|d| d.key < r.key).is_some() {}
            wanted.next_if(|d| d.key == r.key)
        } else {
            desired.routes.get(&r.key)
        };
        same &= d.is_some_and(|d| route_matches(d, &r));
    })?;
    // An interrupted dump proves nothing either way: the full read below tries again.
    if let Some(after) = after.filter(|_| same && seen == desired.routes.len()) {
        let rest = NetState {
            routes: RouteMap::default(),
            hostname: desired.hostname.clone(),
            sysctl: desired.sysctl.clone(),
            links: desired.links.clone(),
            rules: desired.rules.clone(),
            table_names: desired.table_names.clone(),
        };
        let residual = diff(&rest, &after)?;
        if residual.is_empty() {
            return Ok((residual, None));
        }
    }
    let after = kernel.read(keys)?;
    Ok((diff(desired, &after)?, Some(after)))
}

/// What a revert left: differences that remain, and the links it had to create again.
#[derive(Debug, Default)]
struct Reverted {
    failed: Vec<(String, String)>,
    recreated: Vec<IfName>,
}

impl Reverted {
    fn failed(what: &str, why: String) -> Reverted {
        Reverted {
            failed: vec![(what.to_owned(), why)],
            recreated: Vec::new(),
        }
    }

    /// Notes the links the ops that succeeded created: all were there before the apply.
    fn note_created(&mut self, ops: &[Op], results: &[Result<(), String>]) {
        for (op, r) in ops.iter().zip(results) {
            if let (Op::CreateLink { link, peer }, Ok(())) = (op, r) {
                for l in std::iter::once(link).chain(peer) {
                    if !self.recreated.contains(&l.name) {
                        self.recreated.push(l.name.clone());
                    }
                }
            }
        }
    }
}

/// Undoes the operations `done`, last first, then mends what the kernel changed by itself
/// along the way (a lower MTU on a parent clamps the links stacked on it; a link going down
/// drops its IPv6 addresses), by planning from what is there back to `before`. Returns the
/// differences that remain and the links that are back, but as new links.
fn revert(
    kernel: &mut dyn Kernel,
    plan: &Plan,
    done: &[usize],
    before: &NetState,
    sysctls: &[String],
) -> Result<Reverted, KernelError> {
    let ops = plan.revert(done);
    let mut out = Reverted::default();
    let results = kernel.execute(&ops)?;
    for (op, r) in ops.iter().zip(&results) {
        if let Err(e) = r {
            tracing::debug!(%op, error = %e, "undo failed; the mend pass will retry");
        }
    }
    out.note_created(&ops, &results);
    let now = kernel.read(sysctls)?;
    let mend = match diff(before, &now) {
        Ok(p) => p,
        Err(e) => {
            out.failed.push(("revert".into(), e.to_string()));
            return Ok(out);
        }
    };
    if mend.is_empty() {
        return Ok(out);
    }
    tracing::info!(ops = mend.ops.len(), "mending side effects of the revert");
    let results = kernel.execute(&mend.ops)?;
    out.note_created(&mend.ops, &results);
    let ran = results.len();
    out.failed.extend(
        mend.ops
            .iter()
            .zip(results)
            .filter_map(|(op, r)| r.err().map(|e| (op.to_string(), e))),
    );
    out.failed.extend(mend.ops[ran..].iter().map(|op| {
        (
            op.to_string(),
            "not run after an earlier failure".to_owned(),
        )
    }));
    let left = diff(before, &kernel.read(sysctls)?)
        .map(|p| p.ops)
        .unwrap_or_default();
    if out.failed.is_empty() {
        out.failed.extend(
            left.iter()
                .map(|op| (op.to_string(), "still differs after the revert".to_owned())),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
