//! Who this router is: `--id`, else `router.id=`, else the machine's DMI UUID, else the
//! management NIC's MAC; and the `${...}` templates of store URLs. Pure: the caller reads
//! /sys and /proc.

use crate::store::RouterId;

/// Facts about the machine that can name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    /// /sys/class/dmi/id/product_uuid, if readable.
    pub dmi_uuid: Option<String>,
    /// The management NIC's MAC, lowercase with colons.
    pub mac: Option<String>,
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("no router id: give --id or router.id= on the kernel command line (no DMI UUID or MAC to fall back on)")]
    NoId,
    #[error("store URL {url:?}: ${{{var}}} is unknown here (known: ${{id}}, ${{mac}}, ${{uuid}}, ${{hostname}} when the machine has one)")]
    Template { url: String, var: String },
}

/// A DMI UUID that names one machine: firmware without one reports zeros or ones.
fn usable_uuid(raw: &str) -> Option<String> {
    let u = raw.trim().to_ascii_lowercase();
    let hex: String = u.chars().filter(|c| *c != '-').collect();
    let blank = hex.chars().all(|c| c == '0') || hex.chars().all(|c| c == 'f');
    (hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && !blank).then_some(u)
}

impl Machine {
    pub fn uuid(&self) -> Option<String> {
        self.dmi_uuid.as_deref().and_then(usable_uuid)
    }

    /// The MAC as a name: `52-54-00-12-34-56`.
    pub fn mac_name(&self) -> Option<String> {
        self.mac.as_ref().map(|m| m.replace(':', "-"))
    }
}

/// The router's id, by the order of precedence above.
pub fn router_id(
    flag: Option<&RouterId>,
    cmdline: Option<&RouterId>,
    machine: &Machine,
) -> Result<RouterId, IdentityError> {
    if let Some(id) = flag.or(cmdline) {
        return Ok(id.clone());
    }
    [machine.uuid(), machine.mac_name()]
        .into_iter()
        .flatten()
        .find_map(|s| RouterId::new(&s).ok())
        .ok_or(IdentityError::NoId)
}

/// Fills `${id}`, `${mac}`, `${uuid}`, `${hostname}` in a store URL.
pub fn expand(url: &str, id: &RouterId, machine: &Machine) -> Result<String, IdentityError> {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| IdentityError::Template {
            url: url.to_owned(),
            var: after.to_owned(),
        })?;
        let var = &after[..end];
        let value = match var {
            "id" => Some(id.to_string()),
            "mac" => machine.mac_name(),
            "uuid" => machine.uuid(),
            "hostname" => machine.hostname.clone().filter(|h| !h.is_empty()),
            _ => None,
        };
        out.push_str(&value.ok_or_else(|| IdentityError::Template {
            url: url.to_owned(),
            var: var.to_owned(),
        })?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            dmi_uuid: Some("4C4C4544-0042-3510-8056-B4C04F4E4A32\n".into()),
            mac: Some("52:54:00:12:34:56".into()),
            hostname: None,
        }
    }

    #[test]
    fn precedence() {
        let flag = RouterId::new("a").expect("id");
        let cmd = RouterId::new("b").expect("id");
        let m = machine();
        assert_eq!(
            router_id(Some(&flag), Some(&cmd), &m).expect("id").as_str(),
            "a"
        );
        assert_eq!(router_id(None, Some(&cmd), &m).expect("id").as_str(), "b");
        assert_eq!(
            router_id(None, None, &m).expect("id").as_str(),
            "4c4c4544-0042-3510-8056-b4c04f4e4a32"
        );
        let blank = Machine {
            dmi_uuid: Some("00000000-0000-0000-0000-000000000000".into()),
            ..m.clone()
        };
        assert_eq!(
            router_id(None, None, &blank).expect("id").as_str(),
            "52-54-00-12-34-56"
        );
        assert_eq!(
            router_id(None, None, &Machine::default()),
            Err(IdentityError::NoId)
        );
    }

    #[test]
    fn templates() {
        let id = RouterId::new("edge-1").expect("id");
        let m = machine();
        assert_eq!(
            expand("http://store/${mac}/${id}", &id, &m).expect("ok"),
            "http://store/52-54-00-12-34-56/edge-1"
        );
        let e = expand("http://store/${hostname}", &id, &m).expect_err("no hostname");
        assert!(e.to_string().contains("${hostname} is unknown"), "{e}");
        assert!(expand("http://store/${nope}", &id, &m).is_err());
        assert!(expand("http://store/${id", &id, &m).is_err());
    }
}
