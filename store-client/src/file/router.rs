//! One router's directory, read and written under its lock (blocking calls: the store runs
//! them on tokio's blocking pool).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{flock, FlockOperation};

use super::layout::{entry_seq, Layout, Meta};
use crate::atomic;
use crate::digest::content_version;
use crate::{Expect, HistoryEntry, Version};

/// Written as an entry's message when `config.toml` is not the version the store wrote.
const FOUND_MESSAGE: &str =
    "config.toml changed outside the store (edited by hand, or a write was interrupted)";

/// Holds the router's lock until dropped.
#[derive(Debug)]
pub(super) struct Locked<'a> {
    layout: &'a Layout,
    /// `None` on a read-only file system, where no writer can race us.
    _lock: Option<File>,
}

pub(super) enum PutOutcome {
    Written(Version),
    Conflict(Option<Version>),
}

impl Layout {
    /// Locks for writing, creating the router's directory (not the store's root).
    pub fn lock_for_write(&self) -> io::Result<Locked<'_>> {
        atomic::ensure_dir(&self.router)?;
        let locked = Locked {
            layout: self,
            _lock: self.take_lock()?,
        };
        atomic::remove_stale_temps(&self.router)?;
        atomic::remove_stale_temps(&self.history())?;
        atomic::remove_stale_temps(&self.files())?;
        Ok(locked)
    }

    /// Locks for reading; `None` if the router has no directory yet.
    pub fn lock_for_read(&self) -> io::Result<Option<Locked<'_>>> {
        if !self.router.try_exists()? {
            return Ok(None);
        }
        Ok(Some(Locked {
            layout: self,
            _lock: self.take_lock()?,
        }))
    }

    /// Opens and flocks `.lock`; `None` on a read-only file system without one, where
    /// nobody writes and so nobody needs locking out.
    fn take_lock(&self) -> io::Result<Option<File>> {
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(atomic::PRIVATE)
            .open(self.lock());
        let file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::ReadOnlyFilesystem => {
                match File::open(self.lock()) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        flock(&file, FlockOperation::LockExclusive)?;
        Ok(Some(file))
    }

    /// Every history entry, newest first. No lock: entries appear by rename, whole, and
    /// their `.meta` is written before them.
    pub fn history_entries(&self) -> io::Result<Vec<HistoryEntry>> {
        let entries = match fs::read_dir(self.history()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut seqs = Vec::new();
        for entry in entries {
            if let Some(seq) = entry_seq(&entry?.file_name().to_string_lossy()) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.into_iter()
            .map(|seq| {
                let (unix_time, message) = match self.read_meta(seq)? {
                    Some(meta) => (Some(meta.unix_time), meta.message),
                    None => (None, String::new()),
                };
                Ok(HistoryEntry {
                    version: Version(seq.to_string()),
                    unix_time,
                    message,
                })
            })
            .collect()
    }

    /// The text of one version, `None` if there is no such entry.
    pub fn entry_text(&self, version: &Version) -> io::Result<Option<Vec<u8>>> {
        match version_seq(version) {
            Some(seq) => atomic::read_optional(&self.entry(seq)),
            None => Ok(None),
        }
    }

    fn read_meta(&self, seq: u64) -> io::Result<Option<Meta>> {
        let Some(bytes) = atomic::read_optional(&self.meta(seq))? else {
            return Ok(None);
        };
        match toml::from_str(&String::from_utf8_lossy(&bytes)) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) => {
                tracing::warn!(path = %self.meta(seq).display(), error = %e, "unreadable history message; listing the entry without it");
                Ok(None)
            }
        }
    }
}

impl Locked<'_> {
    /// The current config and its version. A `config.toml` that is not the version the
    /// store last wrote (a hand edit, or a crash between the two renames) is recorded in
    /// the history first, so it too has a version.
    pub fn current(&self) -> io::Result<Option<(Vec<u8>, Version)>> {
        let layout = self.layout;
        let Some(text) = atomic::read_optional(&layout.config())? else {
            return Ok(None);
        };
        if let Some(seq) = self.recorded_seq()? {
            if atomic::read_optional(&layout.entry(seq))?.as_deref() == Some(&text[..]) {
                return Ok(Some((text, Version(seq.to_string()))));
            }
        }
        match self.record(&text, FOUND_MESSAGE) {
            Ok(version) => {
                tracing::info!(path = %layout.config().display(), %version, "recorded a config.toml the store did not write as a new version");
                Ok(Some((text, version)))
            }
            // Nothing can be recorded on a write-protected stick: name it by its content.
            Err(e) if e.kind() == io::ErrorKind::ReadOnlyFilesystem => {
                let version = content_version(&text);
                Ok(Some((text, version)))
            }
            Err(e) => Err(e),
        }
    }

    pub fn put(&self, text: &[u8], expect: &Expect, message: &str) -> io::Result<PutOutcome> {
        let current = self.current()?.map(|(_, v)| v);
        let holds = match expect {
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current.as_ref() == Some(v),
        };
        if !holds {
            return Ok(PutOutcome::Conflict(current));
        }
        self.record(text, message).map(PutOutcome::Written)
    }

    /// Keeps `text` in the history only.
    pub fn archive(&self, text: &[u8], message: &str) -> io::Result<()> {
        let seq = self.next_seq()?;
        self.write_entry(seq, text, message)
    }

    /// Makes `text` the current config: history entry first (so the text is safe before
    /// it is current), then `config.toml`, then `version`.
    fn record(&self, text: &[u8], message: &str) -> io::Result<Version> {
        let layout = self.layout;
        let seq = self.next_seq()?;
        self.write_entry(seq, text, message)?;
        atomic::write_file(&layout.config(), text, atomic::PRIVATE)?;
        atomic::write_file(
            &layout.version(),
            format!("{seq}\n").as_bytes(),
            atomic::PRIVATE,
        )?;
        Ok(Version(seq.to_string()))
    }

    fn write_entry(&self, seq: u64, text: &[u8], message: &str) -> io::Result<()> {
        let layout = self.layout;
        atomic::ensure_dir(&layout.history())?;
        let unix_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let meta = toml::to_string(&Meta {
            unix_time,
            message: message.to_owned(),
        })
        .map_err(io::Error::other)?;
        atomic::write_file(&layout.meta(seq), meta.as_bytes(), atomic::PRIVATE)?;
        atomic::write_file(&layout.entry(seq), text, atomic::PRIVATE)?;
        tracing::debug!(path = %layout.entry(seq).display(), message, "history entry written");
        Ok(())
    }

    /// The first free history number after the current one (archives and interrupted
    /// writes may sit beyond it).
    fn next_seq(&self) -> io::Result<u64> {
        let mut seq = self.recorded_seq()?.unwrap_or(0) + 1;
        while self.layout.entry(seq).try_exists()? || self.layout.meta(seq).try_exists()? {
            seq += 1;
        }
        Ok(seq)
    }

    /// What `version` says; `None` if absent or garbled (then `config.toml` is re-recorded).
    fn recorded_seq(&self) -> io::Result<Option<u64>> {
        Ok(atomic::read_optional(&self.layout.version())?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|s| s.trim().parse().ok()))
    }

    pub fn put_file(&self, path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
        atomic::ensure_dir(&self.layout.files())?;
        atomic::write_file(path, bytes, atomic::PRIVATE)
    }
}

/// `Version("42")` -> 42; anything else names no entry.
fn version_seq(version: &Version) -> Option<u64> {
    let s = version.0.as_str();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
