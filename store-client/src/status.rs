//! A router's status record: small, rewritten in place (never in the config's history),
//! at boot, on every change of the daemon's state and as a heartbeat. JSON, so that the
//! store server and scripts read it without this crate. Stores keep it as bytes: a
//! garbled record is shown as such by its reader, it never breaks a listing.

use serde::{Deserialize, Serialize};

/// Larger records are refused (a real one is a few hundred bytes).
pub const MAX_STATUS: usize = 16 << 10;

/// A heartbeat older than this many intervals makes a router stale.
pub const STALE_AFTER_BEATS: u64 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// `router-agent --version` of the writer.
    pub agent_version: String,
    /// When this record was written (seconds since the Unix epoch, the router's clock).
    pub unix_time: u64,
    /// When the router booted.
    pub boot_unix_time: u64,
    /// How often the router rewrites this record.
    pub heartbeat_secs: u64,
    /// `starting`, `waiting`, `running`, `degraded`, `failed` or `stopped`.
    pub phase: String,
    /// Why it is degraded or failed (or what it waits for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_version: Option<String>,
    pub snapshot_pending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// BGP sessions; absent when the router runs no BGP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_apply: Option<LastApply>,
    /// What the running config makes the agent own.
    #[serde(default)]
    pub owned: Owned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpCount {
    pub up: u32,
    pub total: u32,
    /// BIRD did not answer at the last readout.
    #[serde(default)]
    pub bird_unreachable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastApply {
    pub unix_time: u64,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub ok: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owned {
    pub routes: u64,
    pub links: u64,
    pub rules: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("status record of {len} bytes (at most {MAX_STATUS})")]
    TooLarge { len: usize },
    /// serde_json's message (line, column, what was expected).
    #[error("status record is not valid: {0}")]
    Invalid(String),
}

impl StatusReport {
    pub fn parse(bytes: &[u8]) -> Result<StatusReport, StatusError> {
        if bytes.len() > MAX_STATUS {
            return Err(StatusError::TooLarge { len: bytes.len() });
        }
        serde_json::from_slice(bytes).map_err(|e| StatusError::Invalid(e.to_string()))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and numbers always serialises.
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    pub fn uptime_secs(&self) -> u64 {
        self.unix_time.saturating_sub(self.boot_unix_time)
    }

    /// Whether the record is older than [`STALE_AFTER_BEATS`] heartbeats at `now`.
    pub fn stale(&self, now: u64) -> bool {
        let beat = self.heartbeat_secs.max(1);
        now.saturating_sub(self.unix_time) > STALE_AFTER_BEATS * beat
    }

    /// Degraded, failed, or running without its store's newest version.
    pub fn degraded(&self) -> bool {
        matches!(self.phase.as_str(), "degraded" | "failed")
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> StatusReport {
        StatusReport {
            agent_version: "0.1.0".into(),
            unix_time: 1000,
            boot_unix_time: 400,
            heartbeat_secs: 60,
            phase: "running".into(),
            reason: None,
            running_version: Some("v1".into()),
            store_version: Some("v1".into()),
            snapshot_pending: false,
            last_error: None,
            bgp: Some(BgpCount {
                up: 1,
                total: 2,
                bird_unreachable: false,
            }),
            last_apply: None,
            owned: Owned {
                routes: 3,
                links: 2,
                rules: 1,
            },
        }
    }

    #[test]
    fn round_trip_stale_and_garbled() {
        let s = sample();
        assert_eq!(StatusReport::parse(&s.to_bytes()).expect("parses"), s);
        assert_eq!(s.uptime_secs(), 600);
        assert!(!s.stale(1000 + 180));
        assert!(s.stale(1000 + 181));
        assert!(StatusReport::parse(b"{\"agent_version\":").is_err());
        assert!(StatusReport::parse(&vec![b' '; MAX_STATUS + 1]).is_err());
    }
}
