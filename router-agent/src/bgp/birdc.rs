//! [`Bird`] on the `bird` and `birdc` programs, for one BIRD: its config file and its
//! control socket. Nothing here starts or stops BIRD.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::file::{self, Read};
use super::{BgpError, Bird};

#[derive(Debug, Clone)]
pub struct BirdCli {
    pub conf: PathBuf,
    pub socket: PathBuf,
    pub bird: String,
    pub birdc: String,
}

impl BirdCli {
    /// bird.conf read back into the model, with its path (for messages); None without one.
    pub fn read_back(&mut self) -> Result<Option<(String, Read)>, BgpError> {
        let Some(text) = self.read_conf()? else {
            return Ok(None);
        };
        let origin = self.conf.display().to_string();
        let read = file::parse_file(&origin, &text)?;
        Ok(Some((origin, read)))
    }

    pub fn new(conf: impl Into<PathBuf>, socket: impl Into<PathBuf>) -> BirdCli {
        BirdCli {
            conf: conf.into(),
            socket: socket.into(),
            bird: "bird".into(),
            birdc: "birdc".into(),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<Output, BgpError> {
        Command::new(program)
            .args(args)
            .output()
            .map_err(|source| BgpError::Spawn {
                program: program.to_owned(),
                source,
            })
    }

    /// One birdc command, with BIRD's reply codes (`-v`): a code 8xxx or 9xxx is an error.
    fn birdc(&self, command: &str) -> Result<String, BgpError> {
        let socket = self.socket.to_string_lossy();
        let mut args = vec!["-v", "-s", &socket];
        args.extend(command.split(' '));
        let out = self.run(&self.birdc, &args)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let failed = text.lines().find(|l| {
            l.len() > 5
                && l.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && matches!(l.as_bytes()[0], b'8' | b'9')
        });
        if !out.status.success() || failed.is_some() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let message = failed
                .map(|l| l[5..].trim().to_owned())
                .unwrap_or_else(|| format!("{}{}", stderr.trim(), text.trim()));
            return Err(BgpError::Birdc {
                command: command.to_owned(),
                message,
            });
        }
        Ok(text)
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BgpError + '_ {
        move |source| BgpError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The mode and owner a new bird.conf gets: the old file's, or else 0640 owned like its
    /// directory. BIRD rereads it on `configure` as its own user (Debian's `bird -u bird`
    /// owns /etc/bird), and it may hold BGP passwords, so it is not world-readable.
    fn conf_mode(&self) -> std::io::Result<(u32, (u32, u32))> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.conf) {
            Ok(m) => Ok((m.mode() & 0o7777, (m.uid(), m.gid()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = (self.conf.parent())
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                let m = std::fs::metadata(dir)?;
                Ok((0o640, (m.uid(), m.gid())))
            }
            Err(e) => Err(e),
        }
    }

    /// A file beside bird.conf (same filesystem, so rename is atomic).
    fn beside(&self, suffix: &str) -> PathBuf {
        let mut name = self.conf.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.{suffix}", std::process::id()));
        self.conf.with_file_name(name)
    }
}

impl Bird for BirdCli {
    fn read_conf(&mut self) -> Result<Option<String>, BgpError> {
        match std::fs::read_to_string(&self.conf) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&self.conf)(e)),
        }
    }

    fn parse_check(&mut self, text: &str) -> Result<(), BgpError> {
        let path = self.beside("check");
        crate::store::atomic::write_file(&path, text.as_bytes(), crate::store::atomic::PRIVATE)
            .map_err(Self::io(&path))?;
        let out = self.run(&self.bird, &["-p", "-c", &path.to_string_lossy()]);
        let _ = std::fs::remove_file(&path);
        let out = out?;
        if out.status.success() {
            return Ok(());
        }
        // BIRD names the file it was given; the operator knows it as bird.conf.
        let message = String::from_utf8_lossy(&out.stderr)
            .replace(&*path.to_string_lossy(), "bird.conf")
            .trim()
            .to_owned();
        Err(BgpError::Rejected { message })
    }

    fn write_conf(&mut self, text: Option<&str>) -> Result<(), BgpError> {
        let Some(text) = text else {
            return match std::fs::remove_file(&self.conf) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Self::io(&self.conf)(e)),
                _ => Ok(()),
            };
        };
        let (mode, owner) = self.conf_mode().map_err(Self::io(&self.conf))?;
        crate::store::atomic::write_file_owned(&self.conf, text.as_bytes(), mode, Some(owner))
            .map_err(Self::io(&self.conf))
    }

    fn running(&mut self) -> bool {
        self.socket.exists() && self.birdc("show status").is_ok()
    }

    fn configure(&mut self, timeout: Option<u32>) -> Result<(), BgpError> {
        let conf = format!("\"{}\"", self.conf.display());
        let command = match timeout {
            Some(t) => format!("configure {conf} timeout {t}"),
            None => format!("configure {conf}"),
        };
        self.birdc(&command).map(drop)
    }

    fn confirm(&mut self) -> Result<bool, BgpError> {
        // 0018 Reconfiguration confirmed; 0019 Nothing to do.
        let reply = self.birdc("configure confirm")?;
        Ok(reply.lines().any(|l| l.starts_with("0018")))
    }

    fn undo(&mut self) -> Result<(), BgpError> {
        self.birdc("configure undo").map(drop)
    }

    fn protocols(&mut self) -> Result<String, BgpError> {
        let out = self.birdc("show protocols all")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_bird_conf_is_not_world_readable_and_a_rewrite_keeps_the_operators_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("bird.conf");
        let mut bird = BirdCli::new(&conf, dir.path().join("bird.ctl"));
        bird.write_conf(Some("router id 192.0.2.1;\n"))
            .expect("write");
        // It may hold BGP passwords; BIRD's own user reads it through the group.
        assert_eq!(mode(&conf), 0o640);
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        bird.write_conf(Some("router id 192.0.2.2;\n"))
            .expect("rewrite");
        assert_eq!(mode(&conf), 0o600);
        assert_eq!(
            bird.read_conf().expect("read").as_deref(),
            Some("router id 192.0.2.2;\n")
        );
    }
}
