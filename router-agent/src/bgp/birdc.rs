//! [`Bird`] on the `bird` and `birdc` programs, for one BIRD: its config file and its
//! control socket. Nothing here starts or stops BIRD.

use std::io::Write;
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
        std::fs::write(&path, text).map_err(Self::io(&path))?;
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
        let tmp = self.beside("new");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.conf)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Self::io(&self.conf)(e)
        })
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
