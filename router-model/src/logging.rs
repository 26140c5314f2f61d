//! `[logging]`: where the router's journal is forwarded (a syslog collector, RFC 5424).
//! Not kernel state: the agent runs it, a snapshot keeps the previous text's section.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::types::string_serde;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// The collector, `HOST:PORT` (an IPv6 address in brackets).
    pub collector: Collector,
    /// `tcp` (RFC 5424 with RFC 6587 octet counting, the default) or `udp` (RFC 5426).
    #[serde(default, skip_serializing_if = "LogTransport::is_default")]
    pub transport: LogTransport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTransport {
    #[default]
    Tcp,
    Udp,
}

impl LogTransport {
    fn is_default(&self) -> bool {
        *self == LogTransport::Tcp
    }
}

/// A collector's address: a host name or IP address, and a port (1..=65535).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Collector {
    host: String,
    port: u16,
}

impl Collector {
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn port(&self) -> u16 {
        self.port
    }
}

const COLLECTOR_FORM: &str =
    "expected HOST:PORT, e.g. \"192.0.2.1:514\", \"[2001:db8::1]:6514\" or \"logs.example.net:514\"";

impl FromStr for Collector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: {COLLECTOR_FORM}");
        let (host, port) = match s.strip_prefix('[') {
            Some(rest) => {
                let (ip, port) = rest.split_once("]:").ok_or_else(bad)?;
                match ip.parse::<IpAddr>() {
                    Ok(IpAddr::V6(_)) => (ip, port),
                    _ => return Err(bad()),
                }
            }
            None => s.rsplit_once(':').ok_or_else(bad)?,
        };
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 || !(s.starts_with('[') || is_host(host)) {
            return Err(bad());
        }
        Ok(Collector {
            host: host.to_owned(),
            port,
        })
    }
}

/// An IPv4 address or a DNS name: letters, digits and '-' in dot-separated labels.
fn is_host(h: &str) -> bool {
    h.len() <= 253
        && h.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for Collector {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

string_serde!(Collector, "a collector address HOST:PORT");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collectors_parse_and_print_back() {
        for s in [
            "192.0.2.1:514",
            "[2001:db8::1]:6514",
            "logs.example.net:514",
        ] {
            let c: Collector = s.parse().expect(s);
            assert_eq!(c.to_string(), s);
        }
        let c: Collector = "[2001:db8::1]:6514".parse().expect("v6");
        assert_eq!((c.host(), c.port()), ("2001:db8::1", 6514));
    }

    #[test]
    fn malformed_collectors_are_refused() {
        for s in [
            "192.0.2.1",
            "192.0.2.1:0",
            "192.0.2.1:70000",
            "2001:db8::1:514",
            "[192.0.2.1]:514",
            "a b:514",
            "-x.example:514",
            ":514",
            "host:514; rm -rf /",
        ] {
            assert!(s.parse::<Collector>().is_err(), "{s}");
        }
    }
}
