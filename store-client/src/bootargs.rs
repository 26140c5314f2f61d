//! The boot contract on the kernel command line: `router.store=`, `router.id=`,
//! `router.mgmt=`, `router.token=`, `router.image=`, `router.metrics=`, `router.log=`, and PXE's `BOOTIF=`. Pure: the caller reads
//! `/proc/cmdline`. Shared by the agent, which reads them, and the store server, which writes
//! them into boot scripts.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::RouterId;

/// How the management path comes up before the store can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mgmt {
    Dhcp,
    Static {
        address: IpNet,
        gateway: Option<IpAddr>,
    },
}

/// Which interface carries management.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MgmtDevice {
    Name(String),
    /// Lowercase, colon-separated.
    Mac(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootArgs {
    /// Store URLs, primary first, then fallbacks.
    pub stores: Vec<String>,
    pub id: Option<RouterId>,
    pub mgmt: Option<Mgmt>,
    pub mgmt_device: Option<MgmtDevice>,
    pub token: Option<String>,
    /// A single-use enrolment token (`router.enrol=`, from a boot script), exchanged at
    /// the store for the router's own token.
    pub enrol: Option<String>,
    /// The image version a network boot says it booted (`router.image=`, written by the
    /// store server's iPXE script).
    pub image: Option<String>,
    /// Where the agent serves Prometheus metrics (`router.metrics=ADDR:PORT` or `off`).
    pub metrics: Option<MetricsListen>,
    /// Where the journal goes before a config's `[logging]` says (`router.log=`).
    pub log: Option<LogTarget>,
}

/// `router.log=tcp://HOST:PORT` or `udp://HOST:PORT`: a syslog collector (RFC 5424).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub udp: bool,
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

const LOG_FORM: &str = "tcp://HOST:PORT or udp://HOST:PORT, e.g. router.log=tcp://192.0.2.1:514";

fn parse_log(value: &str) -> Option<LogTarget> {
    let (udp, rest) = match value.split_once("://")? {
        ("tcp", rest) => (false, rest),
        ("udp", rest) => (true, rest),
        _ => return None,
    };
    let (host, port) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, port) = r.split_once("]:")?;
            ip.parse::<std::net::Ipv6Addr>().ok()?;
            (ip, port)
        }
        None => {
            let (h, port) = rest.rsplit_once(':')?;
            let label = |l: &str| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            (h.split('.').all(label) && h.len() <= 253).then_some((h, port))?
        }
    };
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    Some(LogTarget {
        udp,
        host: host.to_owned(),
        port,
    })
}

/// `router.metrics=`: the exporter's address, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    Off,
    At(SocketAddr),
}

/// The exporter's port when `router.metrics=` names none (the default on the static
/// management address).
pub const METRICS_PORT: u16 = 9101;

impl BootArgs {
    /// Where the exporter listens: `router.metrics=`, else the static management address
    /// on [`METRICS_PORT`], else nowhere (a DHCP address is not known at boot).
    pub fn metrics_listen(&self) -> Option<SocketAddr> {
        match (self.metrics, &self.mgmt) {
            (Some(MetricsListen::At(addr)), _) => Some(addr),
            (Some(MetricsListen::Off), _) => None,
            (None, Some(Mgmt::Static { address, .. })) => {
                Some(SocketAddr::new(address.addr(), METRICS_PORT))
            }
            (None, _) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel command line: {param}={value:?}: {expected}")]
pub struct BootArgError {
    pub param: String,
    pub value: String,
    pub expected: String,
}

fn bad(param: &str, value: &str, expected: &str) -> BootArgError {
    BootArgError {
        param: param.to_owned(),
        value: value.to_owned(),
        expected: expected.to_owned(),
    }
}

/// Splits `a://x,b://y` into URLs, but keeps the commas inside one URL (etcd lists its
/// members as `etcd://h1:2379,h2:2379/prefix`): a piece starts a new URL only if it has
/// a scheme.
pub fn split_urls(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in value.split(',') {
        match out.last_mut() {
            Some(last) if !piece.contains("://") => {
                last.push(',');
                last.push_str(piece);
            }
            _ => out.push(piece.to_owned()),
        }
    }
    out.retain(|u| !u.is_empty());
    out
}

/// A MAC from `aa:bb:..`, `aa-bb-..` or PXE's `01-aa-bb-..` (hardware type 1 first).
fn parse_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let parts = match parts.len() {
        7 if parts[0] == "01" => &parts[1..],
        6 => &parts[..],
        _ => return None,
    };
    parts
        .iter()
        .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| parts.join(":").to_ascii_lowercase())
}

const MGMT_FORM: &str = "expected dhcp or ADDRESS/PREFIX[,gw=IP][,dev=NAME|,mac=MAC], \
     e.g. router.mgmt=192.0.2.10/24,gw=192.0.2.1";

fn parse_mgmt(value: &str) -> Result<(Mgmt, Option<MgmtDevice>), BootArgError> {
    let mut parts = value.split(',');
    let first = parts.next().unwrap_or_default();
    let mut device = None;
    let mut gateway: Option<IpAddr> = None;
    for opt in parts {
        match opt.split_once('=') {
            Some(("gw", g)) => {
                gateway = Some(
                    g.parse()
                        .map_err(|_| bad("router.mgmt", value, MGMT_FORM))?,
                )
            }
            Some(("dev", d)) if !d.is_empty() && d.len() < 16 => {
                device = Some(MgmtDevice::Name(d.to_owned()))
            }
            Some(("mac", m)) => {
                let mac = parse_mac(m).ok_or_else(|| bad("router.mgmt", value, MGMT_FORM))?;
                device = Some(MgmtDevice::Mac(mac))
            }
            _ => return Err(bad("router.mgmt", value, MGMT_FORM)),
        }
    }
    let mgmt = if first == "dhcp" {
        if gateway.is_some() {
            return Err(bad(
                "router.mgmt",
                value,
                "dhcp takes no gw= (DHCP gives it)",
            ));
        }
        Mgmt::Dhcp
    } else {
        let address: IpNet = first
            .parse()
            .map_err(|_| bad("router.mgmt", value, MGMT_FORM))?;
        if let Some(gw) = gateway {
            if gw.is_ipv4() != address.addr().is_ipv4() {
                return Err(bad(
                    "router.mgmt",
                    value,
                    "gw= must be of the address's family",
                ));
            }
        }
        Mgmt::Static { address, gateway }
    };
    Ok((mgmt, device))
}

/// Parses the `router.*` and `BOOTIF` parameters of a kernel command line; ignores the
/// rest. Every malformed value is reported, not just the first.
pub fn parse(cmdline: &str) -> Result<BootArgs, Vec<BootArgError>> {
    let mut args = BootArgs::default();
    let mut errors = Vec::new();
    let mut bootif = None;
    for word in cmdline.split_whitespace() {
        let Some((param, value)) = word.split_once('=') else {
            if word.starts_with("router.") {
                errors.push(bad(word, "", "a value after '='"));
            }
            continue;
        };
        match param {
            "router.store" => {
                let urls = split_urls(value);
                if urls.is_empty() || urls.iter().any(|u| !u.contains("://")) {
                    errors.push(bad(
                        param,
                        value,
                        "one or more URLs, e.g. http://192.0.2.1:8080",
                    ));
                }
                args.stores.extend(urls);
            }
            "router.id" => match RouterId::new(value) {
                Ok(id) => args.id = Some(id),
                Err(e) => errors.push(bad(param, value, &e.to_string())),
            },
            "router.mgmt" => match parse_mgmt(value) {
                Ok((m, d)) => {
                    args.mgmt = Some(m);
                    if d.is_some() {
                        args.mgmt_device = d;
                    }
                }
                Err(e) => errors.push(e),
            },
            "router.token" if !value.is_empty() => args.token = Some(value.to_owned()),
            "router.enrol" => {
                if (16..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    args.enrol = Some(value.to_owned());
                } else {
                    errors.push(bad(param, value, "an enrolment token: hex digits"));
                }
            }
            "router.image" => {
                let ok = (1..=64).contains(&value.len())
                    && !value.starts_with('.')
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
                if ok {
                    args.image = Some(value.to_owned());
                } else {
                    errors.push(bad(
                        param,
                        value,
                        "an image version: 1 to 64 of A-Z a-z 0-9 . _ -",
                    ));
                }
            }
            "router.metrics" => match value {
                "off" => args.metrics = Some(MetricsListen::Off),
                v => match v.parse() {
                    Ok(addr) => args.metrics = Some(MetricsListen::At(addr)),
                    Err(_) => errors.push(bad(
                        param,
                        value,
                        "ADDRESS:PORT (e.g. 192.0.2.10:9101, [2001:db8::1]:9101) or off",
                    )),
                },
            },
            "router.log" => match parse_log(value) {
                Some(t) => args.log = Some(t),
                None => errors.push(bad(param, value, LOG_FORM)),
            },
            "BOOTIF" => match parse_mac(value) {
                Some(mac) => bootif = Some(MgmtDevice::Mac(mac)),
                None => errors.push(bad(
                    param,
                    value,
                    "a MAC address such as 01-52-54-00-12-34-56",
                )),
            },
            p if p.starts_with("router.") => errors.push(bad(
                param,
                value,
                "one of router.store, router.id, router.mgmt, router.token, router.enrol, router.image, router.metrics, router.log",
            )),
            _ => {}
        }
    }
    // An explicit dev=/mac= in router.mgmt beats the NIC PXE booted from.
    if args.mgmt_device.is_none() {
        args.mgmt_device = bootif;
    }
    if errors.is_empty() {
        Ok(args)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_command_line() {
        let a = parse(
            "BOOT_IMAGE=/vmlinuz console=ttyS0 router.store=http://192.0.2.1:8080,etcd://h1:2379,h2:2379/routers \
             router.store=tftp://192.0.2.1/cfg router.id=edge-1 router.mgmt=192.0.2.10/24,gw=192.0.2.1 \
             BOOTIF=01-52-54-00-AB-CD-EF router.token=s3cret quiet",
        )
        .expect("valid");
        assert_eq!(
            a.stores,
            [
                "http://192.0.2.1:8080",
                "etcd://h1:2379,h2:2379/routers",
                "tftp://192.0.2.1/cfg"
            ]
        );
        assert_eq!(a.id.expect("id").as_str(), "edge-1");
        assert_eq!(
            a.mgmt,
            Some(Mgmt::Static {
                address: "192.0.2.10/24".parse().expect("net"),
                gateway: Some("192.0.2.1".parse().expect("ip")),
            })
        );
        assert_eq!(
            a.mgmt_device,
            Some(MgmtDevice::Mac("52:54:00:ab:cd:ef".into()))
        );
        assert_eq!(a.token.as_deref(), Some("s3cret"));
    }

    #[test]
    fn mgmt_device_named_beats_bootif() {
        let a = parse("router.mgmt=dhcp,dev=eth1 BOOTIF=01-52-54-00-ab-cd-ef").expect("valid");
        assert_eq!(a.mgmt, Some(Mgmt::Dhcp));
        assert_eq!(a.mgmt_device, Some(MgmtDevice::Name("eth1".into())));
    }

    #[test]
    fn every_malformed_value_is_reported() {
        let errs = parse(
            "router.mgmt=10.0.0.1 router.id=../x router.store=nope BOOTIF=zz router.color=red router.id",
        )
        .expect_err("malformed");
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 6, "{text:#?}");
        assert!(text[0].contains("router.mgmt=\"10.0.0.1\": expected dhcp or ADDRESS/PREFIX"));
        assert!(text[1].contains("router id"));
        assert!(text[4].contains("one of router.store"));
    }

    #[test]
    fn the_image_version_a_network_boot_names() {
        let a = parse("router.image=2026-12-01 router.mgmt=dhcp").expect("valid");
        assert_eq!(a.image.as_deref(), Some("2026-12-01"));
        let errs = parse("router.image=../x").expect_err("not a version");
        assert!(errs[0].expected.contains("image version"), "{errs:?}");
    }

    #[test]
    fn the_enrolment_token_of_a_boot_script() {
        let t = "ab".repeat(32);
        let a = parse(&format!("router.enrol={t} router.id=r1")).expect("valid");
        assert_eq!(a.enrol.as_deref(), Some(t.as_str()));
        assert_eq!(a.token, None);
        let errs = parse("router.enrol=x;reboot").expect_err("not hex");
        assert!(errs[0].expected.contains("enrolment token"), "{errs:?}");
    }

    #[test]
    fn gateway_family_must_match() {
        let errs = parse("router.mgmt=2001:db8::2/64,gw=192.0.2.1").expect_err("mixed");
        assert!(errs[0].expected.contains("family"));
    }

    #[test]
    fn the_exporter_listens_where_named_else_on_the_static_management_address() {
        let at = |c: &str| parse(c).expect("valid").metrics_listen();
        assert_eq!(
            at("router.metrics=192.0.2.10:9200 router.mgmt=dhcp"),
            Some("192.0.2.10:9200".parse().expect("addr"))
        );
        assert_eq!(
            at("router.mgmt=192.0.2.10/24,gw=192.0.2.1"),
            Some("192.0.2.10:9101".parse().expect("addr"))
        );
        assert_eq!(at("router.mgmt=192.0.2.10/24 router.metrics=off"), None);
        assert_eq!(at("router.mgmt=dhcp"), None);
        let e = parse("router.metrics=192.0.2.10").expect_err("no port");
        assert!(e[0].to_string().contains("ADDRESS:PORT"), "{}", e[0]);
    }

    #[test]
    fn the_log_collector_before_the_config() {
        let log = |c: &str| parse(c).expect("valid").log.expect("log");
        assert_eq!(
            log("router.log=tcp://192.0.2.1:514"),
            LogTarget {
                udp: false,
                host: "192.0.2.1".into(),
                port: 514
            }
        );
        let t = log("router.log=udp://[2001:db8::1]:514");
        assert_eq!((t.udp, t.host.as_str()), (true, "2001:db8::1"));
        assert_eq!(log("router.log=tcp://logs.example.net:6514").port, 6514);
        for bad in [
            "router.log=192.0.2.1:514",
            "router.log=tls://192.0.2.1:514",
            "router.log=tcp://192.0.2.1",
            "router.log=tcp://192.0.2.1:0",
            "router.log=tcp://a$b:514",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e[0].to_string().contains("tcp://HOST:PORT"), "{}", e[0]);
        }
    }
}
