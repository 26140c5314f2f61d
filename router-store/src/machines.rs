//! Which machine boots what: `machines.toml` in the store directory maps a MAC, system
//! UUID or serial number to a router id, an image version and its management setting;
//! `[default]` is for every machine not listed (the default image, no router id: the
//! router derives its own from DMI or its MAC, and never gets another router's).
//!
//! ```toml
//! [default]
//! image = "2026-12-01"
//!
//! [[machine]]
//! mac = "52:54:00:00:00:0b"
//! id = "r1"
//! image = "2026-11-20"   # pinned; without it, the default's
//! mgmt = "dhcp"          # router.mgmt= (default dhcp)
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use super::assets::{ImageVersion, Images};
use router_store_client::RouterId;

#[derive(Debug, thiserror::Error)]
pub enum MachinesError {
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// A MAC address; shown lowercase with colons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac([u8; 6]);

impl Mac {
    /// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (iPXE's `hexhyp`), any case.
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let p = parts.next()?;
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            *byte = u8::from_str_radix(p, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(out))
    }

    /// `aa-bb-cc-dd-ee-ff`, as in PXE's `BOOTIF=01-...`.
    pub fn hyphens(&self) -> String {
        self.to_string().replace(':', "-")
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Mac::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("{s:?}: expected a MAC such as 52:54:00:12:34:56"))
        })
    }
}

/// An SMBIOS system UUID, lowercase 8-4-4-4-12 hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uuid(String);

impl Uuid {
    pub fn parse(s: &str) -> Option<Uuid> {
        let groups: Vec<&str> = s.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        let hex = groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
        (lens == [8, 4, 4, 4, 12] && hex).then(|| Uuid(s.to_ascii_lowercase()))
    }

    /// All zeros or all ones: what firmware without a real UUID reports, shared by many
    /// machines, so never a way to tell one apart.
    pub fn is_placeholder(&self) -> bool {
        let digits: HashSet<char> = self.0.chars().filter(|c| *c != '-').collect();
        digits.len() == 1 && (digits.contains(&'0') || digits.contains(&'f'))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Uuid::parse(&s)
            .filter(|u| !u.is_placeholder())
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{s:?}: expected a system UUID such as 4c4c4544-0042-3510-8052-b4c04f4d4d31 (not all zeros or ones)"
                ))
            })
    }
}

/// A `router.mgmt=` value, checked with the agent's own parser and confined to the
/// characters that value uses (it goes into an iPXE script and a kernel command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MgmtArg(String);

impl MgmtArg {
    pub fn new(s: &str) -> Result<MgmtArg, String> {
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"./:,=_-".contains(&b))
        {
            return Err(format!(
                "mgmt {s:?}: expected dhcp or ADDRESS/PREFIX[,gw=IP][,dev=NAME|,mac=MAC]"
            ));
        }
        router_store_client::bootargs::parse(&format!("router.mgmt={s}")).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(MgmtArg(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for MgmtArg {
    fn default() -> Self {
        MgmtArg("dhcp".into())
    }
}

impl<'de> Deserialize<'de> for MgmtArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MgmtArg::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A serial number as SMBIOS gives it: printable ASCII, no spaces at the ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Serial(String);

impl TryFrom<String> for Serial {
    type Error = String;
    fn try_from(s: String) -> Result<Serial, String> {
        let ok = (1..=64).contains(&s.len())
            && s == s.trim()
            && s.chars().all(|c| (' '..='~').contains(&c));
        ok.then_some(Serial(s.clone()))
            .ok_or_else(|| format!("serial {s:?}: expected 1 to 64 printable ASCII characters"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub image: Option<ImageVersion>,
    #[serde(default)]
    pub mgmt: MgmtArg,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    pub mac: Option<Mac>,
    pub uuid: Option<Uuid>,
    pub serial: Option<Serial>,
    pub id: RouterId,
    pub image: Option<ImageVersion>,
    pub mgmt: Option<MgmtArg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machines {
    pub default: Option<Fallback>,
    #[serde(default, rename = "machine")]
    pub machines: Vec<Machine>,
}

/// What a booting machine told us about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    pub mac: Option<Mac>,
    pub uuid: Option<Uuid>,
    pub serial: Option<String>,
}

/// What a machine boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub id: Option<RouterId>,
    pub image: ImageVersion,
    pub mgmt: MgmtArg,
}

impl Machines {
    /// No mapping file: every machine boots the newest version (by name) with DHCP.
    pub fn empty() -> Machines {
        Machines {
            default: None,
            machines: Vec::new(),
        }
    }

    /// `path`, parsed and checked against the image versions there are.
    pub fn load(path: &Path, images: &Images) -> Result<Machines, MachinesError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MachinesError::Read {
            path: shown.clone(),
            source,
        })?;
        let machines: Machines = toml::from_str(&text).map_err(|e| MachinesError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        machines
            .validate(images)
            .map_err(|message| MachinesError::Invalid {
                path: shown,
                message,
            })?;
        Ok(machines)
    }

    /// Every router id, MAC, UUID and serial at most once; every image there.
    pub fn validate(&self, images: &Images) -> Result<(), String> {
        let mut seen: HashSet<String> = HashSet::new();
        let known = |v: &ImageVersion, whose: &str| {
            if images.versions.contains_key(v) {
                Ok(())
            } else {
                Err(format!(
                    "{whose}: image {v} is not among the bootable versions in {} ({})",
                    images.root.display(),
                    if images.versions.is_empty() {
                        "there are none".to_owned()
                    } else {
                        images
                            .versions
                            .keys()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ))
            }
        };
        if let Some(v) = self.default.as_ref().and_then(|d| d.image.as_ref()) {
            known(v, "[default]")?;
        }
        for (n, m) in self.machines.iter().enumerate() {
            let whose = format!("[[machine]] #{} (id {})", n + 1, m.id);
            if m.mac.is_none() && m.uuid.is_none() && m.serial.is_none() {
                return Err(format!(
                    "{whose}: needs a mac, uuid or serial to be matched by"
                ));
            }
            let keys = [
                Some(format!("id {}", m.id)),
                m.mac.map(|x| format!("mac {x}")),
                m.uuid.as_ref().map(|x| format!("uuid {x}")),
                m.serial.as_ref().map(|x| format!("serial {:?}", x.0)),
            ];
            for key in keys.into_iter().flatten() {
                if !seen.insert(key.clone()) {
                    return Err(format!("{whose}: {key} is listed twice"));
                }
            }
            if let Some(v) = &m.image {
                known(v, &whose)?;
            }
        }
        if self.default_image(images).is_none() && !self.machines.is_empty() {
            return Err("no bootable image version at all".into());
        }
        Ok(())
    }

    fn default_image(&self, images: &Images) -> Option<ImageVersion> {
        self.default
            .as_ref()
            .and_then(|d| d.image.clone())
            .or_else(|| images.versions.keys().next_back().cloned())
    }

    /// The machine listed for what it asked with (MAC first, then UUID, then serial),
    /// else the default without an id; `None` when there is no image to boot at all.
    pub fn choose(&self, asked: &Asked, images: &Images) -> Option<Choice> {
        let by_mac = |m: &&Machine| asked.mac.is_some() && m.mac == asked.mac;
        let by_uuid = |m: &&Machine| {
            asked.uuid.as_ref().is_some_and(|u| !u.is_placeholder()) && m.uuid == asked.uuid
        };
        let by_serial = |m: &&Machine| {
            asked.serial.as_ref().is_some_and(|s| !s.is_empty())
                && m.serial.as_ref().map(|s| &s.0) == asked.serial.as_ref()
        };
        let found = (self.machines.iter().find(by_mac))
            .or_else(|| self.machines.iter().find(by_uuid))
            .or_else(|| self.machines.iter().find(by_serial));
        let default_mgmt = self
            .default
            .as_ref()
            .map(|d| d.mgmt.clone())
            .unwrap_or_default();
        let default_image = self.default_image(images)?;
        Some(match found {
            Some(m) => Choice {
                id: Some(m.id.clone()),
                image: m.image.clone().unwrap_or(default_image),
                mgmt: m.mgmt.clone().unwrap_or(default_mgmt),
            },
            None => Choice {
                id: None,
                image: default_image,
                mgmt: default_mgmt,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::ImageInfo;

    fn images(names: &[&str]) -> Images {
        let mut images = Images::default();
        for n in names {
            images.versions.insert(
                ImageVersion::new(n).expect("name"),
                ImageInfo {
                    cmdline: String::new(),
                    initrd_sha256: None,
                },
            );
        }
        images
    }

    const MAPPING: &str = r#"
[default]
image = "v2"

[[machine]]
mac = "52:54:00:00:00:0B"
id = "r1"
image = "v1"
mgmt = "192.0.2.10/24,gw=192.0.2.1"

[[machine]]
uuid = "4C4C4544-0042-3510-8052-B4C04F4D4D31"
id = "r2"
"#;

    fn parse(text: &str) -> Result<Machines, String> {
        let m: Machines = toml::from_str(text).map_err(|e| e.to_string())?;
        m.validate(&images(&["v1", "v2"]))?;
        Ok(m)
    }

    #[test]
    fn machines_are_matched_by_mac_then_uuid_and_others_get_the_default() {
        let m = parse(MAPPING).expect("valid");
        let imgs = images(&["v1", "v2"]);
        let asked = |mac: &str, uuid: &str| Asked {
            mac: Mac::parse(mac),
            uuid: Uuid::parse(uuid),
            serial: None,
        };
        let r1 = m
            .choose(&asked("52-54-00-00-00-0b", ""), &imgs)
            .expect("image");
        assert_eq!(r1.id.as_ref().map(RouterId::as_str), Some("r1"));
        assert_eq!(r1.image.as_str(), "v1");
        assert_eq!(r1.mgmt.as_str(), "192.0.2.10/24,gw=192.0.2.1");
        let r2 = m
            .choose(
                &asked("52:54:00:00:00:99", "4c4c4544-0042-3510-8052-b4c04f4d4d31"),
                &imgs,
            )
            .expect("image");
        assert_eq!(r2.id.as_ref().map(RouterId::as_str), Some("r2"));
        assert_eq!((r2.image.as_str(), r2.mgmt.as_str()), ("v2", "dhcp"));
        let stranger = m
            .choose(
                &asked("52:54:00:00:00:99", "00000000-0000-0000-0000-000000000000"),
                &imgs,
            )
            .expect("image");
        assert_eq!(stranger.id, None, "an unknown machine gets no router's id");
        assert_eq!(stranger.image.as_str(), "v2");
    }

    #[test]
    fn without_a_mapping_the_newest_version_boots() {
        let c = Machines::empty()
            .choose(&Asked::default(), &images(&["2026-01-01", "2026-12-01"]))
            .expect("image");
        assert_eq!((c.image.as_str(), c.id), ("2026-12-01", None));
        assert_eq!(
            Machines::empty().choose(&Asked::default(), &images(&[])),
            None
        );
    }

    #[test]
    fn bad_mappings_are_refused_with_the_reason() {
        let cases = [
            ("[default]\nimage = \"v9\"", "image v9 is not among"),
            ("[default]\nimage = \"../x\"", "image version \"../x\""),
            ("[[machine]]\nmac = \"zz\"\nid = \"r1\"", "expected a MAC"),
            ("[[machine]]\nid = \"r1\"", "needs a mac, uuid or serial"),
            ("[[machine]]\nmac = \"52:54:00:00:00:01\"\nid = \"r1\"\ncolour = 1", "unknown field"),
            (
                "[[machine]]\nmac = \"52:54:00:00:00:01\"\nid = \"r1\"\n[[machine]]\nmac = \"52:54:00:00:00:01\"\nid = \"r2\"",
                "mac 52:54:00:00:00:01 is listed twice",
            ),
            (
                "[[machine]]\nmac = \"52:54:00:00:00:01\"\nid = \"r1\"\n[[machine]]\nmac = \"52:54:00:00:00:02\"\nid = \"r1\"",
                "id r1 is listed twice",
            ),
            ("[[machine]]\nuuid = \"00000000-0000-0000-0000-000000000000\"\nid = \"r1\"", "not all zeros"),
            ("[[machine]]\nmac = \"52:54:00:00:00:01\"\nid = \"r1\"\nmgmt = \"dhcp quiet\"", "mgmt \"dhcp quiet\""),
            ("[[machine]]\nmac = \"52:54:00:00:00:01\"\nid = \"r1\"\nmgmt = \"10.0.0.1\"", "expected dhcp or ADDRESS/PREFIX"),
            ("[[machine]]\nmac = \"52:54:00:00:00:01\"\nid = \"../r1\"", "router id"),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains(want), "{text}\n=> {err}");
        }
    }

    #[test]
    fn macs_and_uuids() {
        assert_eq!(
            Mac::parse("52-54-00-AB-cd-ef")
                .map(|m| m.to_string())
                .as_deref(),
            Some("52:54:00:ab:cd:ef")
        );
        assert_eq!(
            Mac::parse("52:54:00:ab:cd:ef")
                .map(|m| m.hyphens())
                .as_deref(),
            Some("52-54-00-ab-cd-ef")
        );
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:ef:01",
            "5:54:00:ab:cd:ef",
            "+5:54:00:ab:cd:ef",
        ] {
            assert_eq!(Mac::parse(bad), None, "{bad}");
        }
        assert!(
            Uuid::parse("ffffffff-ffff-ffff-ffff-ffffffffffff").is_some_and(|u| u.is_placeholder())
        );
        assert_eq!(Uuid::parse("4c4c4544-0042-3510-8052-b4c04f4d4d3"), None);
    }
}
