//! `[sysctl]`: the forwarding and filtering knobs a router needs, typed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlConfig {
    /// net.ipv4.ip_forward
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_forwarding: Option<bool>,
    /// net.ipv6.conf.all.forwarding
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_forwarding: Option<bool>,
    /// net.ipv4.conf.{all,default}.rp_filter
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_filter: Option<RpFilter>,
    /// Any other `net.*` sysctl by its dotted name, e.g. "net.ipv4.tcp_syncookies" = "1".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<SysctlKey, String>,
}

impl SysctlConfig {
    pub fn is_empty(&self) -> bool {
        *self == SysctlConfig::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RpFilter {
    Off = 0,
    Strict = 1,
    Loose = 2,
}

impl RpFilter {
    pub fn from_kernel(v: u8) -> Option<RpFilter> {
        [RpFilter::Off, RpFilter::Strict, RpFilter::Loose]
            .into_iter()
            .find(|r| *r as u8 == v)
    }
}

/// A sysctl under `net.`: dotted, no path tricks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SysctlKey(String);

impl SysctlKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The file under /proc/sys.
    pub fn proc_path(&self) -> String {
        format!("/proc/sys/{}", self.0.replace('.', "/"))
    }
}

impl std::str::FromStr for SysctlKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s.starts_with("net.")
            && s.split('.').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        if ok {
            Ok(SysctlKey(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a network sysctl; expected a dotted name under net., like net.ipv4.tcp_syncookies"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for SysctlKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
