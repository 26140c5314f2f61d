//! Sessions and prefix counts from `birdc -v show protocols all`.

use super::Bird;

/// One BGP session as BIRD reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    pub name: String,
    /// BIRD's protocol state: up, start, down, ...
    pub state: String,
    /// BIRD's info column: the BGP state, or why the session is down.
    pub info: String,
    /// The `BGP state:` line: Established, Active, Connect, Idle, Down, ...
    pub bgp_state: String,
    pub description: Option<String>,
    pub since: String,
    /// Per channel (ipv4, ipv6): imported, filtered, exported, preferred.
    pub channels: Vec<(String, Counts)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub imported: u64,
    pub filtered: u64,
    pub exported: u64,
    pub preferred: u64,
}

/// Strips birdc's `-v` reply code: `1002-text`, `1006-text` or a continuation ` text`.
fn strip_code(line: &str) -> &str {
    let b = line.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && matches!(b[4], b'-' | b' ') {
        &line[5..]
    } else {
        line.strip_prefix(' ').unwrap_or(line)
    }
}

/// The BGP sessions in a `show protocols all` listing (other protocols left out).
pub fn parse_protocols(text: &str) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    let mut in_bgp = false;
    let mut in_channel = false;
    for raw in text.lines() {
        let line = strip_code(raw);
        if line.is_empty() || line.starts_with("BIRD ") || line.starts_with("Name ") {
            continue;
        }
        if !line.starts_with(' ') {
            let f: Vec<&str> = line.split_whitespace().collect();
            in_bgp = f.get(1) == Some(&"BGP");
            in_channel = false;
            if in_bgp {
                // `timeformat protocol iso long` (the agent's bird.conf) writes a date and
                // a time; BIRD's default, one word.
                let date = f
                    .get(4)
                    .is_some_and(|d| d.len() == 10 && d.as_bytes()[4] == b'-');
                let info_at = if date { 6 } else { 5 };
                out.push(Session {
                    name: f[0].to_owned(),
                    state: f.get(3).copied().unwrap_or_default().to_owned(),
                    since: f
                        .get(4..info_at.min(f.len()))
                        .map(|r| r.join(" "))
                        .unwrap_or_default(),
                    info: f.get(info_at..).map(|r| r.join(" ")).unwrap_or_default(),
                    ..Session::default()
                });
            }
            continue;
        }
        if !in_bgp {
            continue;
        }
        let t = line.trim();
        if let (Some(v), Some(s)) = (t.strip_prefix("BGP state:"), out.last_mut()) {
            s.bgp_state = v.trim().to_owned();
        } else if let (Some(v), Some(s)) = (t.strip_prefix("Description:"), out.last_mut()) {
            s.description = Some(v.trim().to_owned());
        } else if let (Some(c), Some(s)) = (t.strip_prefix("Channel "), out.last_mut()) {
            // A channel that is down has no Routes line: its counts are zero.
            s.channels.push((c.trim().to_owned(), Counts::default()));
            in_channel = true;
        } else if let Some(rest) = t.strip_prefix("Routes:").filter(|_| in_channel) {
            let Some((_, counts)) = out.last_mut().and_then(|s| s.channels.last_mut()) else {
                continue;
            };
            for part in rest.split(',') {
                let mut w = part.split_whitespace();
                let (Some(n), Some(what)) = (w.next(), w.next()) else {
                    continue;
                };
                let n = n.parse().unwrap_or(0);
                match what {
                    "imported" => counts.imported = n,
                    "filtered" => counts.filtered = n,
                    "exported" => counts.exported = n,
                    "preferred" => counts.preferred = n,
                    _ => {}
                }
            }
        }
    }
    out
}

impl Session {
    pub fn established(&self) -> bool {
        self.bgp_state == "Established"
    }
    /// Counts summed over the channels.
    pub fn total(&self) -> Counts {
        self.channels
            .iter()
            .fold(Counts::default(), |a, (_, c)| Counts {
                imported: a.imported + c.imported,
                filtered: a.filtered + c.filtered,
                exported: a.exported + c.exported,
                preferred: a.preferred + c.preferred,
            })
    }
}

/// What BIRD said about its sessions, or why it said nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readout {
    Sessions(Vec<Session>),
    /// BIRD did not answer on its control socket: why.
    Unreachable(String),
}

/// One `show protocols all`: the sessions, or why BIRD is not reachable.
pub fn read(bird: &mut dyn Bird) -> Readout {
    match bird.protocols() {
        Ok(text) => Readout::Sessions(parse_protocols(&text)),
        Err(e) => Readout::Unreachable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_birdc_v_listing() {
        let text = "0001 BIRD 2.0.12 ready.
2002-Name       Proto      Table      State  Since         Info
1002-device1    Device     ---        up     2026-11-25 23:13:07  
1006-
1002-p_c1       BGP        ---        up     2026-11-25 23:13:07  Established   
1006-  BGP state:          Established
     Description:    Member \"One\"
     Neighbor address: 192.0.2.1
   Channel ipv4
     State:          UP
     Routes:         7 imported, 1 filtered, 4 exported, 3 preferred
 
1002-p_c4       BGP        ---        down   2026-11-25 23:13:08  Automatic shutdown: Route limit exceeded
1006-  BGP state:          Down
   Channel ipv4
     State:          DOWN
0000 
";
        let s = parse_protocols(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "p_c1");
        assert_eq!(s[0].info, "Established");
        assert_eq!(s[0].since, "2026-11-25 23:13:07");
        assert_eq!(s[0].bgp_state, "Established");
        assert!(s[0].established() && !s[1].established());
        assert_eq!(s[0].description.as_deref(), Some("Member \"One\""));
        assert_eq!(
            s[0].channels,
            vec![(
                "ipv4".to_owned(),
                Counts {
                    imported: 7,
                    filtered: 1,
                    exported: 4,
                    preferred: 3
                }
            )]
        );
        assert_eq!(s[1].state, "down");
        assert_eq!(
            s[1].channels,
            vec![("ipv4".to_owned(), Counts::default())],
            "a channel that is down counts zero"
        );
        assert_eq!(s[1].info, "Automatic shutdown: Route limit exceeded");
    }
}
