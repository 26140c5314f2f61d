//! The store server's own [`ConfigStore`]: configs in a bare git repository, one branch per
//! router and one commit per write (the commit id is the version), archived versions on a
//! ref of their own; files beside them in plain files. Layout in docs/store.md.

use std::collections::HashMap;
use std::fs::{DirBuilder, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::cache::ReadCache;
use super::error::ServeError;
use super::files::FileDir;
use super::git::{is_oid, Git, GitError};
use super::setup::{clear_stale_locks, init, lock, repository};
use super::status::StatusDir;
use router_store_client::polling::{self, Polled};
use router_store_client::{
    ConfigStore, Expect, FileName, HistoryEntry, RouterId, StoreError, Stored, Version, Watch,
};

/// The file a commit's tree holds.
const CONFIG: &str = "config.toml";
/// Longer history messages are cut (they come from clients).
const MAX_MESSAGE: usize = 4096;

/// A directory served by `router-store serve`; one server per directory (a lock
/// file says so).
#[derive(Debug, Clone)]
pub struct GitStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    git: Git,
    files: FileDir,
    status: StatusDir,
    shown: String,
    /// Configs and histories read before, keyed by the commits they were read from.
    cache: ReadCache,
    /// Writes to one router are serialized here; `update-ref`'s compare-and-swap still
    /// guards against writers outside this process (an operator's `git push`).
    writers: Mutex<HashMap<RouterId, Arc<tokio::sync::Mutex<()>>>>,
    /// Held (flock) while the server runs.
    _lock: File,
}

/// A router's two refs: its current config, and versions kept without being current.
struct Refs {
    head: String,
    archive: String,
}

impl GitStore {
    /// Opens (or makes) the store in `dir`: `configs.git` (bare) and `files/`.
    pub async fn open(dir: &Path) -> Result<Self, ServeError> {
        let dir_err = |what: &str| {
            let what = format!("{what} {}", dir.display());
            move |source| ServeError::Dir { what, source }
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(dir_err("creating"))?;
        let lock = lock(dir)?;
        let repo = repository(dir);
        if !repo.join("HEAD").exists() {
            init(dir, &repo).await?;
        }
        clear_stale_locks(&repo.join("refs")).map_err(dir_err("clearing stale ref locks in"))?;
        let files = FileDir::open(&dir.join("files")).map_err(dir_err("opening files in"))?;
        let status =
            StatusDir::open(&dir.join("status")).map_err(dir_err("opening status records in"))?;
        tracing::info!(
            "store in {}: configs in {} (git), files in {}",
            dir.display(),
            repo.display(),
            dir.join("files").display()
        );
        Ok(GitStore {
            inner: Arc::new(Inner {
                git: Git::new(&repo),
                files,
                status,
                shown: format!("git store {}", repo.display()),
                cache: ReadCache::default(),
                writers: Mutex::default(),
                _lock: lock,
            }),
        })
    }
}

/// What a client sent as a message, made fit for a commit (no NUL, bounded, one final
/// newline).
fn commit_message(message: &str) -> String {
    let mut text: String = message.chars().filter(|&c| c != '\0').collect();
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let mut text = text.trim_end().to_owned();
    text.push('\n');
    text
}

impl Inner {
    fn io(&self, what: String, e: GitError) -> StoreError {
        StoreError::Io {
            store: self.shown.clone(),
            what,
            source: std::io::Error::other(e),
        }
    }

    /// The refs of `id`; some ids are not valid branch names.
    fn refs(&self, id: &RouterId) -> Result<Refs, StoreError> {
        let s = id.as_str();
        if s.ends_with(".lock") || s.ends_with('.') || s.contains("..") {
            return Err(StoreError::Refused {
                store: self.shown.clone(),
                detail: format!(
                    "router id {s:?} cannot name a git branch: no \"..\", and no \".\" or \".lock\" at the end"
                ),
            });
        }
        Ok(Refs {
            head: format!("refs/heads/{s}"),
            archive: format!("refs/archive/{s}"),
        })
    }

    /// The commit a ref points to, if it exists. A loose ref (what `update-ref` writes,
    /// replaced by a rename) is read from its file: a router's poll, the most frequent
    /// request, then runs one git process instead of two, and a write four instead of five.
    /// A packed ref (after `git gc`) or anything else is left to git.
    async fn tip(&self, name: &str) -> Result<Option<String>, StoreError> {
        match tokio::fs::read_to_string(self.git.dir().join(name)).await {
            Ok(text) => {
                if let Some(oid) = text.strip_suffix('\n').filter(|oid| is_oid(oid)) {
                    return Ok(Some(oid.to_owned()));
                }
            }
            // Neither loose nor packed: no ref (a router without archive, the usual case).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let packed = self.git.dir().join("packed-refs");
                if !tokio::fs::try_exists(&packed).await.unwrap_or(true) {
                    return Ok(None);
                }
            }
            Err(_) => {}
        }
        let out = self
            .git
            .ok(&["for-each-ref", "--format=%(objectname)", name], None)
            .await
            .map_err(|e| self.io(format!("reading {name}"), e))?;
        let text = String::from_utf8_lossy(&out);
        match text.lines().next() {
            None => Ok(None),
            Some(oid) if is_oid(oid) => Ok(Some(oid.to_owned())),
            Some(other) => Err(self.io(
                format!("reading {name}"),
                GitError::Output {
                    args: "for-each-ref".into(),
                    detail: format!("{other:?} is not an object id"),
                },
            )),
        }
    }

    /// The commits both of a router's refs point to (those that exist), head first.
    async fn tips(&self, refs: &Refs) -> Result<Vec<String>, StoreError> {
        let head = self.tip(&refs.head).await?;
        let archive = self.tip(&refs.archive).await?;
        Ok(head.into_iter().chain(archive).collect())
    }

    /// The config in `commit`'s tree, or `None` if it has none.
    async fn read_config(&self, commit: &str) -> Result<Option<String>, StoreError> {
        let what = || format!("reading {CONFIG} of {commit}");
        let query = format!("{commit}:{CONFIG}\n");
        let out = self
            .git
            .ok(&["cat-file", "--batch"], Some(query.as_bytes()))
            .await
            .map_err(|e| self.io(what(), e))?;
        let bad = |detail: String| {
            self.io(
                what(),
                GitError::Output {
                    args: "cat-file --batch".into(),
                    detail,
                },
            )
        };
        let end_of_header = out.iter().position(|&b| b == b'\n').unwrap_or(out.len());
        let (header, rest) = out.split_at(end_of_header);
        let header = String::from_utf8_lossy(header);
        if header.ends_with(" missing") {
            return Ok(None);
        }
        let size = match header.split(' ').collect::<Vec<_>>()[..] {
            [_, "blob", size] => size.parse::<usize>().ok(),
            _ => None,
        }
        .ok_or_else(|| bad(format!("header {header:?}")))?;
        let content = rest
            .get(1..1 + size)
            .ok_or_else(|| bad(format!("{} bytes of a {size}-byte blob", rest.len())))?;
        String::from_utf8(content.to_vec())
            .map(Some)
            .map_err(|_| bad(format!("{CONFIG} is not UTF-8 text")))
    }

    /// Writes `text` as a new commit on top of `parent`; not yet on any ref.
    async fn commit(
        &self,
        text: &str,
        parent: Option<&str>,
        message: &str,
    ) -> Result<String, StoreError> {
        let err = |e| self.io("writing a commit".into(), e);
        let blob = self
            .git
            .oid(&["hash-object", "-w", "--stdin"], Some(text.as_bytes()))
            .await
            .map_err(err)?;
        let entry = format!("100644 blob {blob}\t{CONFIG}\n");
        let tree = self
            .git
            .oid(&["mktree"], Some(entry.as_bytes()))
            .await
            .map_err(err)?;
        let mut args = vec!["commit-tree", tree.as_str()];
        if let Some(p) = parent {
            args.extend(["-p", p]);
        }
        self.git
            .oid(&args, Some(commit_message(message).as_bytes()))
            .await
            .map_err(err)
    }

    /// Moves `name` from `old` (`None`: it must not exist) to `new`, atomically. `Ok(false)`
    /// if `name` is no longer at `old`.
    async fn swap(&self, name: &str, new: &str, old: Option<&str>) -> Result<bool, StoreError> {
        let command = match old {
            None => format!("create {name} {new}\n"),
            Some(old) => format!("update {name} {new} {old}\n"),
        };
        let ran = self
            .git
            .run(&["update-ref", "--stdin"], Some(command.as_bytes()))
            .await
            .map_err(|e| self.io(format!("updating {name}"), e))?;
        if ran.status.success() {
            return Ok(true);
        }
        let now = self.tip(name).await?;
        if now.as_deref() != old {
            return Ok(false);
        }
        Err(self.io(
            format!("updating {name}"),
            GitError::Failed {
                args: "update-ref --stdin".into(),
                status: ran.status,
                stderr: ran.stderr,
            },
        ))
    }

    fn writer(&self, id: &RouterId) -> Arc<tokio::sync::Mutex<()>> {
        // A panic while holding this lock left the map intact.
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers.entry(id.clone()).or_default().clone()
    }

    fn conflict(&self, id: &RouterId, current: Option<String>) -> StoreError {
        StoreError::Conflict {
            store: self.shown.clone(),
            id: id.to_string(),
            current: current.map(Version),
        }
    }

    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        let refs = self.refs(id)?;
        let Some(tip) = self.tip(&refs.head).await? else {
            return Ok(None);
        };
        if let Some(text) = self.cache.config(id, &tip) {
            return Ok(Some(Stored {
                text,
                version: Version(tip),
            }));
        }
        match self.read_config(&tip).await? {
            Some(text) => {
                self.cache.keep_config(id, &tip, &text);
                Ok(Some(Stored {
                    text,
                    version: Version(tip),
                }))
            }
            None => {
                tracing::warn!("{}: commit {tip} has no {CONFIG}", refs.head);
                Ok(None)
            }
        }
    }

    async fn put(
        &self,
        id: &RouterId,
        text: &str,
        expect: &Expect,
        message: &str,
    ) -> Result<Version, StoreError> {
        let refs = self.refs(id)?;
        let writer = self.writer(id);
        let _one_writer = writer.lock().await;
        let head = self.tip(&refs.head).await?;
        let holds = match expect {
            Expect::Absent => head.is_none(),
            Expect::Version(v) => head.as_deref() == Some(v.0.as_str()),
        };
        if !holds {
            return Err(self.conflict(id, head));
        }
        let commit = self.commit(text, head.as_deref(), message).await?;
        if !self.swap(&refs.head, &commit, head.as_deref()).await? {
            return Err(self.conflict(id, self.tip(&refs.head).await?));
        }
        tracing::debug!("{}: {} -> {commit}", self.shown, refs.head);
        Ok(Version(commit))
    }

    async fn archive(&self, id: &RouterId, text: &str, message: &str) -> Result<(), StoreError> {
        let refs = self.refs(id)?;
        let writer = self.writer(id);
        let _one_writer = writer.lock().await;
        let tip = self.tip(&refs.archive).await?;
        let commit = self.commit(text, tip.as_deref(), message).await?;
        if !self.swap(&refs.archive, &commit, tip.as_deref()).await? {
            return Err(self.io(
                format!("updating {}", refs.archive),
                GitError::Output {
                    args: "update-ref".into(),
                    detail: "moved by someone else meanwhile".into(),
                },
            ));
        }
        tracing::debug!("{}: {} -> {commit}", self.shown, refs.archive);
        Ok(())
    }

    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        let refs = self.refs(id)?;
        let tips = self.tips(&refs).await?;
        if tips.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(history) = self.cache.history(id, &tips) {
            return Ok(history);
        }
        let history = self.read_history(id, &tips).await?;
        self.cache.keep_history(id, &tips, &history);
        Ok(history)
    }

    async fn read_history(
        &self,
        id: &RouterId,
        tips: &[String],
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut args = vec!["log", "-z", "--date-order", "--format=%H %ct%n%B"];
        args.extend(tips.iter().map(String::as_str));
        let out = self
            .git
            .ok(&args, None)
            .await
            .map_err(|e| self.io(format!("history of {id}"), e))?;
        let text = String::from_utf8_lossy(&out);
        text.split('\0')
            .filter(|r| !r.is_empty())
            .map(|record| {
                let (first, message) = record.split_once('\n').unwrap_or((record, ""));
                let (oid, time) = first.split_once(' ').unwrap_or((first, ""));
                if !is_oid(oid) {
                    return Err(self.io(
                        format!("history of {id}"),
                        GitError::Output {
                            args: "log".into(),
                            detail: format!("record {first:?}"),
                        },
                    ));
                }
                Ok(HistoryEntry {
                    version: Version(oid.to_owned()),
                    unix_time: time.parse().ok(),
                    message: message.trim_end().to_owned(),
                })
            })
            .collect()
    }

    /// Whether `commit` is in `id`'s history (its ids name objects of every router).
    async fn reaches(&self, tips: &[String], commit: &str) -> Result<bool, StoreError> {
        for tip in tips {
            if tip == commit {
                return Ok(true);
            }
            let ran = self
                .git
                .run(&["merge-base", "--is-ancestor", commit, tip], None)
                .await
                .map_err(|e| self.io(format!("looking for {commit}"), e))?;
            if ran.status.success() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn get_version(&self, id: &RouterId, version: &Version) -> Result<String, StoreError> {
        let refs = self.refs(id)?;
        let missing = || StoreError::NoSuchVersion {
            store: self.shown.clone(),
            id: id.to_string(),
            version: version.clone(),
        };
        if !is_oid(&version.0) {
            return Err(missing());
        }
        let tips = self.tips(&refs).await?;
        if !self.reaches(&tips, &version.0).await? {
            return Err(missing());
        }
        self.read_config(&version.0).await?.ok_or_else(missing)
    }

    async fn poll(&self, id: &RouterId, since: Option<&Version>) -> Result<Polled, StoreError> {
        let tip = self.tip(&self.refs(id)?.head).await?;
        if tip.is_some() && tip.as_deref() == since.map(|v| v.0.as_str()) {
            return Ok(Polled::Unchanged);
        }
        Ok(Polled::Now(self.get(id).await?))
    }

    /// Branches named like router ids (an operator's own branches may be named otherwise).
    async fn branches(&self) -> Result<Vec<RouterId>, StoreError> {
        let out = self
            .git
            .ok(
                &["for-each-ref", "--format=%(refname:strip=2)", "refs/heads/"],
                None,
            )
            .await
            .map_err(|e| self.io("listing the routers".into(), e))?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| RouterId::new(l).ok())
            .collect())
    }

    fn file_err(&self, what: String) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            store: self.shown.clone(),
            what,
            source,
        }
    }
}

#[async_trait]
impl ConfigStore for GitStore {
    fn describe(&self) -> String {
        self.inner.shown.clone()
    }

    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        self.inner.get(id).await
    }

    async fn put(
        &self,
        id: &RouterId,
        text: &str,
        expect: &Expect,
        message: &str,
    ) -> Result<Version, StoreError> {
        self.inner.put(id, text, expect, message).await
    }

    async fn archive(&self, id: &RouterId, text: &str, message: &str) -> Result<(), StoreError> {
        self.inner.archive(id, text, message).await
    }

    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.history(id).await
    }

    async fn get_version(&self, id: &RouterId, version: &Version) -> Result<String, StoreError> {
        self.inner.get_version(id, version).await
    }

    async fn get_file(
        &self,
        id: &RouterId,
        name: &FileName,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.inner.clone();
        let (id, name) = (id.clone(), name.clone());
        let what = format!("reading file {name} of {id}");
        run_blocking(move || inner.files.get(&id, &name))
            .await
            .map_err(self.inner.file_err(what))
    }

    async fn put_file(
        &self,
        id: &RouterId,
        name: &FileName,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        let (id, name, bytes) = (id.clone(), name.clone(), bytes.to_vec());
        let what = format!("writing file {name} of {id}");
        run_blocking(move || inner.files.put(&id, &name, &bytes))
            .await
            .map_err(self.inner.file_err(what))
    }

    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError> {
        let mut ids = self.inner.branches().await?;
        let inner = self.inner.clone();
        let with_status = run_blocking(move || inner.status.list())
            .await
            .map_err(self.inner.file_err("listing the status records".into()))?;
        ids.extend(with_status);
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    async fn put_status(&self, id: &RouterId, record: &[u8]) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        let (id, record) = (id.clone(), record.to_vec());
        let what = format!("writing the status record of {id}");
        run_blocking(move || inner.status.put(&id, &record))
            .await
            .map_err(self.inner.file_err(what))
    }

    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.inner.clone();
        let id = id.clone();
        let what = format!("reading the status record of {id}");
        run_blocking(move || inner.status.get(&id))
            .await
            .map_err(self.inner.file_err(what))
    }

    async fn watch(
        &self,
        id: &RouterId,
        since: Option<Version>,
        poll: Duration,
    ) -> Result<Watch, StoreError> {
        let since = polling::start_version(since, || self.inner.get(id)).await?;
        let inner = self.inner.clone();
        let id = id.clone();
        let what = format!("{} {id}", inner.shown);
        Ok(polling::spawn(what, since, poll, move |since| {
            let (inner, id) = (inner.clone(), id.clone());
            async move { inner.poll(&id, since.as_ref()).await }
        }))
    }
}

/// File system work off the async threads.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}
