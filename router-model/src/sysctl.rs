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

const IPV4_FORWARDING: &str = "net.ipv4.ip_forward";
const IPV6_FORWARDING: &str = "net.ipv6.conf.all.forwarding";
const RP_FILTER_ALL: &str = "net.ipv4.conf.all.rp_filter";
const RP_FILTER_DEFAULT: &str = "net.ipv4.conf.default.rp_filter";

/// The sysctls behind the typed settings, which `show` always reads.
pub const TYPED_SYSCTLS: [&str; 4] = [
    IPV4_FORWARDING,
    IPV6_FORWARDING,
    RP_FILTER_ALL,
    RP_FILTER_DEFAULT,
];

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

impl SysctlConfig {
    pub fn is_empty(&self) -> bool {
        *self == SysctlConfig::default()
    }

    /// Every sysctl this config sets, by dotted name.
    pub fn to_values(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .other
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), normalize_sysctl(v)))
            .collect();
        if let Some(b) = self.ipv4_forwarding {
            out.insert(IPV4_FORWARDING.into(), flag(b));
        }
        if let Some(b) = self.ipv6_forwarding {
            out.insert(IPV6_FORWARDING.into(), flag(b));
        }
        if let Some(r) = self.rp_filter {
            // The kernel uses the larger of `all` and the interface's own value, and new
            // interfaces copy `default`: both must be set for the mode to hold.
            out.insert(RP_FILTER_ALL.into(), (r as u8).to_string());
            out.insert(RP_FILTER_DEFAULT.into(), (r as u8).to_string());
        }
        out
    }

    /// The config that sets `values`, typed where a typed setting exists.
    pub fn from_values(values: &BTreeMap<String, String>) -> SysctlConfig {
        let mut rest = values.clone();
        let mut take_flag = |k: &str| match rest.get(k).map(String::as_str) {
            Some("0") => rest.remove(k).map(|_| false),
            Some("1") => rest.remove(k).map(|_| true),
            _ => None,
        };
        let ipv4_forwarding = take_flag(IPV4_FORWARDING);
        let ipv6_forwarding = take_flag(IPV6_FORWARDING);
        let rp_filter = match (rest.get(RP_FILTER_ALL), rest.get(RP_FILTER_DEFAULT)) {
            (Some(a), Some(d)) if a == d => {
                let r = a.parse().ok().and_then(RpFilter::from_kernel);
                if r.is_some() {
                    rest.remove(RP_FILTER_ALL);
                    rest.remove(RP_FILTER_DEFAULT);
                }
                r
            }
            _ => None,
        };
        let other = rest
            .into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect();
        SysctlConfig {
            ipv4_forwarding,
            ipv6_forwarding,
            rp_filter,
            other,
        }
    }
}

/// A sysctl value as the kernel prints it: fields separated by single spaces.
pub fn normalize_sysctl(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
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
}

/// The file under /proc/sys of a dotted sysctl name.
pub fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
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
