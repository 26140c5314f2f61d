//! [`Backend`] on the `nft` command: JSON and text listings in, `nft -f -` transactions out.
//! (libnftables takes the same text; the process costs about 2 ms per call.)

use std::io::Write;
use std::process::{Command, Stdio};

use super::decompile::decompile;
use super::listing;
use super::script::Script;
use super::{Backend, Current, FirewallError, NftProblem, Transaction};
use crate::model::firewall::{KeptTable, Name, TableFamily, TABLE};

fn table_userdata() -> std::io::Result<Option<Vec<u8>>> {
    crate::kernel::nf_tables::table_userdata(crate::kernel::nf_tables::NFPROTO_INET, TABLE)
}

/// Whether netlink says the agent's table does not exist: then there is nothing to list
/// (an `nft` process less on every boot).
fn table_absent() -> bool {
    matches!(table_userdata(), Ok(None))
}

fn generation() -> Option<u32> {
    crate::kernel::nf_tables::generation().ok()
}

#[derive(Debug)]
pub struct NftBackend {
    program: String,
    /// The last read, the tables it was asked to keep, and the ruleset generation it was
    /// read at: while the generation stands, nothing changed and the read is not repeated
    /// (a long-lived agent re-reads on every snapshot).
    cache: Option<(u32, Vec<String>, Current)>,
}

impl Default for NftBackend {
    fn default() -> Self {
        NftBackend {
            program: "nft".into(),
            cache: None,
        }
    }
}

/// nft's answer: its output, or its complaint.
type Outcome = Result<String, String>;

impl NftBackend {
    fn nft(&self, args: &[&str], stdin: Option<&str>) -> Result<Outcome, FirewallError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(FirewallError::Spawn)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .map_err(FirewallError::Spawn)?;
        }
        let out = child.wait_with_output().map_err(FirewallError::Spawn)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(Ok(stdout))
        } else {
            Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()))
        }
    }

    /// A listing that must succeed.
    fn list(&self, args: &[&str]) -> Result<String, FirewallError> {
        self.nft(args, None)?.map_err(|e| {
            FirewallError::read(format!("nft {}", args.join(" ")), e.trim().to_owned())
        })
    }

    /// A listing of one table, or None when the table does not exist. (Asking for the table
    /// list first would cost as much as a full listing once a large set exists.)
    fn list_table(&self, args: &[&str]) -> Result<Option<String>, FirewallError> {
        match self.nft(args, None)? {
            Ok(out) => Ok(Some(out)),
            Err(e) if e.contains("No such file or directory") => Ok(None),
            Err(e) => Err(FirewallError::read(
                format!("nft {}", args.join(" ")),
                e.trim().to_owned(),
            )),
        }
    }

    fn run_script(&self, script: &Script, check: bool) -> Result<(), FirewallError> {
        let args: &[&str] = if check {
            &["-c", "-f", "-"]
        } else {
            &["-f", "-"]
        };
        match self.nft(args, Some(&script.text))? {
            Ok(_) => Ok(()),
            Err(stderr) => Err(FirewallError::Rejected {
                problems: problems(&stderr, script),
            }),
        }
    }
}

/// nft's errors (`/dev/stdin:LINE:COLS: Error: ...`), placed at the config entry the
/// transaction's line came from.
fn problems(stderr: &str, script: &Script) -> Vec<NftProblem> {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some((place, msg)) = l.split_once(": Error: ") else {
            continue;
        };
        let line: usize = place
            .split(':')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let source = lines.get(i + 1).map(|s| s.trim()).unwrap_or_default();
        let mut message = msg.trim().to_owned();
        if !source.is_empty() && source.len() < 300 {
            message.push_str(&format!(" (in: {source})"));
        }
        out.push(NftProblem {
            line,
            origin: script.origin(line).cloned(),
            message,
        });
    }
    if out.is_empty() {
        out.push(NftProblem {
            line: 0,
            origin: None,
            message: stderr.trim().to_owned(),
        });
    }
    out
}

fn family(word: &str) -> Option<TableFamily> {
    serde_json::from_value(serde_json::Value::String(word.to_owned())).ok()
}

impl NftBackend {
    fn read_listing(&mut self, keep: &[String]) -> Result<Current, FirewallError> {
        let mut current = Current::default();
        // Protocols as numbers: names come from /etc/protocols, which differs between hosts.
        let json = if table_absent() {
            None
        } else {
            self.list_table(&["-s", "-p", "-j", "list", "table", "inet", TABLE])?
        };
        if let Some(json) = json {
            let text = self.list(&["-s", "-p", "-t", "-a", "list", "table", "inet", TABLE])?;
            let listing = listing::parse(&text);
            let mut fetch = |kind: &str, name: &str| -> Result<String, FirewallError> {
                let mut args = vec!["-s", "-p", "list"];
                args.extend(kind.split(' '));
                args.extend(["inet", TABLE, name]);
                let full = listing::parse(&self.list(&args)?);
                full.block(kind, name)
                    .map(|b| b.text.clone())
                    .ok_or_else(|| FirewallError::changed(format!("{kind} {name}")))
            };
            let mut fw = decompile(&json, &listing, &mut fetch)?;
            let (_, ids) = super::compile::parse_comment(listing.comment.as_deref());
            for id in &ids {
                let Some((fam, name)) = id.split_once(' ') else {
                    continue;
                };
                let (Some(family), Ok(name)) = (family(fam), name.parse::<Name>()) else {
                    continue;
                };
                let args = ["-s", "list", "table", fam, name.as_str()];
                if let Some(ruleset) = self.list_table(&args)? {
                    fw.tables.push(KeptTable {
                        family,
                        name,
                        ruleset: ruleset.trim().to_owned(),
                    });
                }
            }
            for t in &fw.tables {
                current.tables.insert(t.id(), t.ruleset.clone());
            }
            current.firewall = Some(fw);
        }
        for id in keep {
            if current.tables.contains_key(id) {
                continue;
            }
            let args: Vec<&str> = ["-s", "list", "table"]
                .into_iter()
                .chain(id.split(' '))
                .collect();
            if let Some(text) = self.list_table(&args)? {
                current.tables.insert(id.clone(), text.trim().to_owned());
            }
        }
        Ok(current)
    }
}

impl Backend for NftBackend {
    fn read(&mut self, keep: &[String]) -> Result<Current, FirewallError> {
        let before = generation();
        if let (Some(g), Some((at, kept, current))) = (before, &self.cache) {
            if *at == g && kept == keep {
                tracing::debug!("nftables generation {g} unchanged: the last read stands");
                return Ok(current.clone());
            }
        }
        let current = self.read_listing(keep)?;
        // Cached only if nothing committed while it was being listed.
        self.cache = match before {
            Some(g) if generation() == Some(g) => Some((g, keep.to_vec(), current.clone())),
            _ => None,
        };
        Ok(current)
    }

    fn check(&mut self, tx: &Transaction) -> Result<(), FirewallError> {
        self.run_script(&tx.script, true)
    }

    fn run(&mut self, tx: &Transaction) -> Result<(), FirewallError> {
        self.run_script(&tx.script, false)
    }

    fn committed(&mut self, marker: &str) -> Result<bool, FirewallError> {
        let userdata = table_userdata().map_err(|e| {
            FirewallError::read("reading the agent's table over netlink", e.to_string())
        })?;
        let needle = format!("gen={marker}");
        Ok(userdata.is_some_and(|u| u.windows(needle.len()).any(|w| w == needle.as_bytes())))
    }
}
