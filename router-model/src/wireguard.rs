//! `kind = "wireguard"`: keys, endpoints and peers, each checked while parsing, and the
//! difference between two device configs as the kernel takes it (only the peers that
//! change). Pure: nothing here talks to the kernel.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ipnet::IpNet;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::types::string_serde;

const KEY_LEN: usize = 32;

fn decode_key(s: &str, what: &str) -> Result<[u8; KEY_LEN], String> {
    let bad = || {
        format!(
            "not a WireGuard {what}: expected 32 bytes in base64 (44 characters ending in '=', as `wg genkey` prints)"
        )
    };
    let bytes = B64.decode(s.trim()).map_err(|_| bad())?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| bad())
}

/// A WireGuard public key (Curve25519), written in base64.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WgKey(pub [u8; KEY_LEN]);

impl FromStr for WgKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        decode_key(s, "public key").map(WgKey)
    }
}

impl fmt::Display for WgKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&B64.encode(self.0))
    }
}

impl fmt::Debug for WgKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WgKey({self})")
    }
}
string_serde!(WgKey, "a WireGuard public key in base64");

/// A private or preshared key. It serialises in clear (the snapshot must restore it), but
/// never shows in `Debug`, logs or plans; `show` hides it unless asked (see
/// [`super::redact_secrets`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WgSecret(pub [u8; KEY_LEN]);

impl WgSecret {
    /// The private key as the kernel keeps it: Curve25519 clamping (RFC 7748) applied, so
    /// a key written unclamped reads back equal instead of differing on every apply.
    pub fn clamped(mut self) -> WgSecret {
        self.0[0] &= 248;
        self.0[31] = (self.0[31] & 127) | 64;
        self
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; KEY_LEN]
    }
}

impl fmt::Debug for WgSecret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("WgSecret(hidden)")
    }
}

impl<'de> Deserialize<'de> for WgSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        decode_key(&s, "private or preshared key")
            .map(WgSecret)
            .map_err(|e| {
                let hint = if s.starts_with(HIDDEN) {
                    "; `router-agent show` hides keys: `show --secrets` prints them"
                } else {
                    ""
                };
                de::Error::custom(format!("{e}{hint}"))
            })
    }
}

impl Serialize for WgSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(self.0))
    }
}

/// What `show` prints in place of a private or preshared key.
pub const HIDDEN: &str = "(hidden)";

/// A peer's UDP endpoint: an address and a port. Names are not resolved: the config must
/// read back from the kernel exactly as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint(pub SocketAddr);

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let a: SocketAddr = s.parse().map_err(|_| {
            format!("{s:?} is not an endpoint; expected ADDRESS:PORT, e.g. \"192.0.2.1:51820\" or \"[2001:db8::1]:51820\" (host names are not resolved)")
        })?;
        if a.port() == 0 {
            return Err(format!("{s:?}: the endpoint needs a port (1-65535)"));
        }
        Ok(Endpoint(a))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}
string_serde!(Endpoint, "ADDRESS:PORT");

/// `wireguard = { ... }` of an interface; also its resolved state (peers sorted by public
/// key, allowed IPs sorted, zero values as `None`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WireguardOpts {
    /// Left out: the interface keeps the key it has (a new one has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<WgSecret>,
    /// Left out: the port the interface has (a new one: random).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// Mark of the tunnel's own UDP packets (policy routing); 0 or left out: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, rename = "peer", skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<WgPeer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WgPeer {
    pub public_key: WgKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preshared_key: Option<WgSecret>,
    /// Left out: the peer's address is learnt from its handshakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    #[serde(
        default,
        deserialize_with = "crate::types::deserialize_nets",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_ips: Vec<IpNet>,
    /// Seconds between keepalives; 0 or left out: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_keepalive: Option<u16>,
}

impl WireguardOpts {
    /// The canonical form the kernel reads back as: clamped private key, zero values as
    /// `None`, peers by public key, allowed IPs sorted.
    pub fn normalized(mut self) -> WireguardOpts {
        self.private_key = self.private_key.map(WgSecret::clamped);
        self.fwmark = self.fwmark.filter(|m| *m != 0);
        for p in &mut self.peers {
            p.preshared_key = p.preshared_key.filter(|k| !k.is_zero());
            p.persistent_keepalive = p.persistent_keepalive.filter(|k| *k != 0);
            p.allowed_ips.sort();
            p.allowed_ips.dedup();
        }
        self.peers.sort_by_key(|p| p.public_key);
        self
    }

    /// `self` with what `desired` leaves to the kernel (port, key, learnt endpoints) taken
    /// from `current`: the device `desired` asks for, given what runs now.
    pub fn merged_onto(&self, current: &WireguardOpts) -> WireguardOpts {
        let mut m = self.clone();
        m.private_key = m.private_key.or(current.private_key);
        m.listen_port = m.listen_port.or(current.listen_port);
        for p in &mut m.peers {
            if p.endpoint.is_none() {
                p.endpoint = current
                    .peers
                    .iter()
                    .find(|c| c.public_key == p.public_key)
                    .and_then(|c| c.endpoint);
            }
        }
        m
    }
}

/// What one set-device request changes: device settings that differ, peers removed, and
/// peers added or changed (each sent whole, its allowed IPs replaced). Unchanged peers are
/// not touched, so their sessions go on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WgChange<'a> {
    pub private_key: Option<WgSecret>,
    pub listen_port: Option<u16>,
    pub fwmark: Option<u32>,
    pub removed: Vec<&'a WgKey>,
    pub added: Vec<&'a WgPeer>,
    pub changed: Vec<&'a WgPeer>,
}

impl WgChange<'_> {
    pub fn is_empty(&self) -> bool {
        *self == WgChange::default()
    }
}

/// The change from `from` to `to`; a new device diffs from `WireguardOpts::default()`.
pub fn wg_change<'a>(from: &'a WireguardOpts, to: &'a WireguardOpts) -> WgChange<'a> {
    let find = |peers: &'a [WgPeer], k: &WgKey| peers.iter().find(|p| p.public_key == *k);
    let mut c = WgChange {
        private_key: to.private_key.filter(|k| Some(*k) != from.private_key),
        listen_port: to.listen_port.filter(|p| Some(*p) != from.listen_port),
        fwmark: (to.fwmark != from.fwmark).then(|| to.fwmark.unwrap_or(0)),
        ..WgChange::default()
    };
    for p in &from.peers {
        if find(&to.peers, &p.public_key).is_none() {
            c.removed.push(&p.public_key);
        }
    }
    for p in &to.peers {
        match find(&from.peers, &p.public_key) {
            None => c.added.push(p),
            Some(old) if old != p => c.changed.push(p),
            Some(_) => {}
        }
    }
    c
}

impl fmt::Display for WgChange<'_> {
    /// In plan words; keys that are secret show only that they change.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.private_key.is_some() {
            f.write_str(" private_key (new)")?;
        }
        if let Some(p) = self.listen_port {
            write!(f, " listen_port {p}")?;
        }
        if let Some(m) = self.fwmark {
            write!(f, " fwmark {m:#x}")?;
        }
        for k in &self.removed {
            write!(f, " peer -{k}")?;
        }
        for (sign, peers) in [('+', &self.added), ('~', &self.changed)] {
            for p in peers {
                write!(f, " peer {sign}{}", PeerText(p))?;
            }
        }
        Ok(())
    }
}

/// A peer in plan words: key, endpoint, allowed IPs, keepalive; a preshared key only as
/// "psk".
#[derive(Debug)]
pub struct PeerText<'a>(pub &'a WgPeer);

impl fmt::Display for PeerText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let p = self.0;
        write!(f, "{}", p.public_key)?;
        if let Some(e) = p.endpoint {
            write!(f, " endpoint {e}")?;
        }
        let ips: Vec<String> = p.allowed_ips.iter().map(ToString::to_string).collect();
        write!(f, " allowed_ips [{}]", ips.join(","))?;
        if let Some(k) = p.persistent_keepalive {
            write!(f, " keepalive {k}")?;
        }
        if p.preshared_key.is_some() {
            f.write_str(" psk")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB_A: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
    const PUB_B: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

    fn peer(key: &str, ips: &[&str]) -> WgPeer {
        WgPeer {
            public_key: key.parse().unwrap(),
            preshared_key: None,
            endpoint: None,
            allowed_ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            persistent_keepalive: None,
        }
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes_only() {
        let k: WgKey = PUB_A.parse().unwrap();
        assert_eq!(k.to_string(), PUB_A);
        let short = "AAAA".parse::<WgKey>().unwrap_err();
        assert!(short.contains("32 bytes in base64"), "{short}");
        assert!("not base64!".parse::<WgKey>().is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_and_clamp_like_the_kernel() {
        let s = WgSecret([0xff; 32]);
        assert_eq!(format!("{s:?}"), "WgSecret(hidden)");
        let c = s.clamped();
        assert_eq!((c.0[0], c.0[31]), (0xf8, 0x7f));
        assert_eq!(c.clamped(), c);
    }

    #[test]
    fn endpoints_need_an_address_and_a_port() {
        assert_eq!(
            "[2001:db8::1]:51820"
                .parse::<Endpoint>()
                .unwrap()
                .to_string(),
            "[2001:db8::1]:51820"
        );
        assert!("vpn.example.net:51820"
            .parse::<Endpoint>()
            .unwrap_err()
            .contains("not resolved"));
        assert!("192.0.2.1:0".parse::<Endpoint>().is_err());
    }

    #[test]
    fn a_peer_change_touches_only_that_peer() {
        let from = WireguardOpts {
            listen_port: Some(51820),
            peers: vec![peer(PUB_A, &["10.0.0.2/32"]), peer(PUB_B, &["10.0.0.3/32"])],
            ..WireguardOpts::default()
        };
        let mut to = from.clone();
        to.peers[1].allowed_ips.push("10.9.0.0/16".parse().unwrap());
        let c = wg_change(&from, &to);
        assert_eq!(c.changed, [&to.peers[1]]);
        assert!(c.added.is_empty() && c.removed.is_empty() && c.listen_port.is_none());
        to.peers.remove(0);
        let c = wg_change(&from, &to);
        assert_eq!(c.removed.len(), 1);
        assert!(wg_change(&from, &from).is_empty());
    }

    #[test]
    fn what_the_config_leaves_out_is_taken_from_the_kernel() {
        let mut cur = WireguardOpts {
            listen_port: Some(40000),
            peers: vec![peer(PUB_A, &["10.0.0.2/32"])],
            ..WireguardOpts::default()
        };
        cur.peers[0].endpoint = Some("192.0.2.7:1234".parse().unwrap());
        let want = WireguardOpts {
            peers: vec![peer(PUB_A, &["10.0.0.2/32"])],
            ..WireguardOpts::default()
        };
        assert_eq!(want.merged_onto(&cur), cur);
    }

    #[test]
    fn a_tunnel_renders_back_to_the_same_state_and_show_hides_its_keys() {
        let text = r#"version = 1
[[interface]]
name = "wg0"
kind = "wireguard"
addresses = ["10.99.0.1/24"]
wireguard = { private_key = "//////////////////////////////////////////8=", listen_port = 51820, peer = [
  { public_key = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=", preshared_key = "sh8Ah+X6TJisMZ2sf04sameFtcy0oqXA+GqmIVQz7i0=", allowed_ips = ["10.99.0.2/32", "10.20.0.0/16"] },
] }
"#;
        let first = crate::load("a.toml", text).unwrap();
        let rendered = crate::render(&first.state);
        let again = crate::load("b.toml", &rendered).unwrap();
        assert_eq!(first.state, again.state, "{rendered}");
        // Clamped as the kernel keeps it.
        assert!(
            rendered.contains("+P///////////////////////////////////////38="),
            "{rendered}"
        );
        let shown = crate::redact_secrets(&rendered);
        assert!(
            !shown.contains("sh8Ah") && !shown.contains("38="),
            "{shown}"
        );
        assert_eq!(shown.matches(HIDDEN).count(), 2, "{shown}");
        let err = crate::load("c.toml", &shown).unwrap_err().to_string();
        assert!(err.contains("show --secrets"), "{err}");
    }

    #[test]
    fn peers_are_checked_where_they_are_written() {
        let text = r#"version = 1
[[interface]]
name = "wg0"
kind = "wireguard"
[[interface.wireguard.peer]]
public_key = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
allowed_ips = ["10.99.0.1/24"]
[[interface.wireguard.peer]]
public_key = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
allowed_ips = ["10.20.0.0/16"]
[[interface.wireguard.peer]]
public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
allowed_ips = ["10.20.0.0/16"]
"#;
        let err = crate::load("w.toml", text).unwrap_err().to_string();
        assert!(
            err.contains("w.toml:7:15") && err.contains("write 10.99.0.0/24"),
            "{err}"
        );
        assert!(err.contains("already declared (peer 0)"), "{err}");
        assert!(err.contains("already allowed for peer 1"), "{err}");
    }
}
