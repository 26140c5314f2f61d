//! What the `router-agent` subcommands do about BGP, one function each, on the BIRD named
//! by `ROUTER_AGENT_BIRD_CONF` (default /etc/bird/bird.conf) and `ROUTER_AGENT_BIRD_CTL`
//! (default /run/bird/bird.ctl).

use std::fmt::Write;

use super::{file, BgpError, BgpPlan, Bird, BirdCli};
use crate::model::bgp::Bgp;
use crate::model::{ConfigError, Problem, Seg};

type AnyError = Box<dyn std::error::Error>;

pub const CONF_ENV: &str = "ROUTER_AGENT_BIRD_CONF";
pub const CTL_ENV: &str = "ROUTER_AGENT_BIRD_CTL";

/// The BIRD this process talks to.
pub fn backend() -> BirdCli {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    BirdCli::new(
        var(CONF_ENV, "/etc/bird/bird.conf"),
        var(CTL_ENV, "/run/bird/bird.ctl"),
    )
}

/// BIRD's complaint about `[bgp].raw` placed at that key in the config file; other
/// complaints (about generated text) stay as they are: they are the agent's bug.
pub fn locate(file: &str, bgp: &Bgp, e: BgpError) -> AnyError {
    let BgpError::Rejected { message } = &e else {
        return e.into();
    };
    let rendered = file::render_file(bgp);
    let raw_from = rendered.lines().count() - bgp.raw.as_ref().map_or(0, |r| r.lines().count());
    let line = message
        .split("bird.conf:")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse::<usize>().ok());
    match (line, std::fs::read_to_string(file)) {
        (Some(l), Ok(text)) if bgp.raw.is_some() && l > raw_from => ConfigError::invalid(
            file,
            &text,
            vec![Problem {
                path: vec![Seg::Key("bgp".into()), Seg::Key("raw".into())],
                message: format!("BIRD rejects line {} of this text: {message}", l - raw_from),
            }],
        )
        .into(),
        _ => e.into(),
    }
}

/// `check`: BIRD parses the generated bird.conf (`bird -p`), when it is installed.
/// Returns a line for the summary.
pub fn check(file: &str, bgp: Option<&Bgp>) -> Result<String, AnyError> {
    let Some(bgp) = bgp else {
        return Ok(String::new());
    };
    let mut bird = backend();
    match bird.parse_check(&file::render_file(bgp)) {
        Ok(()) => Ok(format!(
            "bgp: {} peers, bird.conf accepted by `bird -p`",
            bgp.peer_count()
        )),
        Err(BgpError::Spawn { .. }) => Ok(format!(
            "bgp: {} peers; bird is not installed, so bird.conf was not checked by BIRD (install bird2)",
            bgp.peer_count()
        )),
        Err(e) => Err(locate(file, bgp, e)),
    }
}

/// `plan`: the bird.conf diff, or nothing when BGP is not in the config.
pub fn plan(bgp: Option<&Bgp>) -> Result<String, AnyError> {
    let Some(bgp) = bgp else {
        return Ok(String::new());
    };
    let plan = BgpPlan::new(&mut backend(), bgp)?;
    Ok(plan.to_string())
}

/// `bgp drain`: GRACEFUL_SHUTDOWN announced (unless the bird.conf the agent wrote says
/// `graceful_shutdown_on_stop = false`), then `wait` for peers to move their traffic
/// away before the caller stops BIRD. For BIRD's unit, which stops before the agent.
pub fn drain(wait: std::time::Duration) -> Result<String, AnyError> {
    let mut bird = backend();
    let Some((origin, read)) = bird.read_back()? else {
        return Ok("no bird.conf: nothing to drain".into());
    };
    let file::Read::Agent(bgp) = read else {
        return Ok(format!(
            "{origin} was not written by router-agent: not drained"
        ));
    };
    if !super::announce_shutdown(&mut bird, &bgp)? {
        return Ok("GRACEFUL_SHUTDOWN not announced (off in the config, already on, or BIRD is not running)".into());
    }
    std::thread::sleep(wait);
    Ok(format!("GRACEFUL_SHUTDOWN announced; waited {wait:?}"))
}

/// `status`: one line per BGP session, with prefix counts.
pub fn status() -> Result<String, AnyError> {
    let mut bird = backend();
    let sessions = super::parse_protocols(&bird.protocols()?);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<6} {:<19} {:>9} {:>9} {:>9}  info",
        "session", "state", "since", "imported", "filtered", "exported"
    );
    for s in sessions {
        let total = s.total();
        let _ = writeln!(
            out,
            "{:<24} {:<6} {:<19} {:>9} {:>9} {:>9}  {}",
            s.name, s.state, s.since, total.imported, total.filtered, total.exported, s.info
        );
    }
    Ok(out)
}
