//! Files that must outlive a RAM-only root (SSH host keys, `--persist NAME=PATH`): restored
//! from the store at boot; a file the store lacks is uploaded from the router.

use std::path::{Path, PathBuf};

use crate::store::{ConfigStore, FileName, RouterId, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persisted {
    pub name: FileName,
    pub path: PathBuf,
}

impl std::str::FromStr for Persisted {
    type Err = String;
    /// `NAME=PATH`, e.g. `ssh_host_ed25519_key=/etc/ssh/ssh_host_ed25519_key`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, path) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected NAME=PATH"))?;
        let name = FileName::new(name).map_err(|e| e.to_string())?;
        if !path.starts_with('/') {
            return Err(format!("{s:?}: the path must be absolute"));
        }
        Ok(Persisted {
            name,
            path: path.into(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {what}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> PersistError + 'a {
    move |source| PersistError::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// Writes `bytes` to `path`, mode 0600 from the first byte (host keys are secrets).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir, "creating the directory"))?;
    }
    crate::store::atomic::write_file(path, bytes, crate::store::atomic::PRIVATE)
        .map_err(io(path, "writing"))
}

/// What happened to each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Restored,
    Uploaded,
    Unchanged,
    /// Neither the store nor the router has it.
    Missing,
}

/// Restores each file from the store, or uploads the router's copy if the store has none.
pub async fn sync(
    store: &dyn ConfigStore,
    id: &RouterId,
    files: &[Persisted],
) -> Result<Vec<Outcome>, PersistError> {
    let mut out = Vec::new();
    for f in files {
        let local = std::fs::read(&f.path).ok();
        let outcome = match (store.get_file(id, &f.name).await?, local) {
            (Some(stored), Some(local)) if stored == local => Outcome::Unchanged,
            (Some(stored), _) => {
                write_private(&f.path, &stored)?;
                Outcome::Restored
            }
            (None, Some(local)) => {
                store.put_file(id, &f.name, &local).await?;
                Outcome::Uploaded
            }
            (None, None) => Outcome::Missing,
        };
        if outcome == Outcome::Missing {
            tracing::debug!(
                "persisted file {} ({}): on neither side yet",
                f.name,
                f.path.display()
            );
        } else {
            tracing::info!(
                "persisted file {} ({}): {outcome:?}",
                f.name,
                f.path.display()
            );
        }
        out.push(outcome);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn restores_uploads_and_keeps_mode() {
        let dir = std::env::temp_dir().join(format!("ra-persist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = MemoryStore::default();
        let id = RouterId::new("r1").expect("id");
        let key: Persisted = format!("key={}/ssh/key", dir.display())
            .parse()
            .expect("valid");
        let other: Persisted = format!("other={}/other", dir.display())
            .parse()
            .expect("valid");
        // First boot: the router generated a key; the store has none.
        write_private(&key.path, b"generated").expect("write");
        let got = sync(&store, &id, &[key.clone(), other.clone()])
            .await
            .expect("sync");
        assert_eq!(got, [Outcome::Uploaded, Outcome::Missing]);
        // Next boot: a fresh root with a different key; the store's wins.
        std::fs::remove_dir_all(&dir).expect("wipe");
        write_private(&key.path, b"new one").expect("write");
        let got = sync(&store, &id, std::slice::from_ref(&key))
            .await
            .expect("sync");
        assert_eq!(got, [Outcome::Restored]);
        assert_eq!(std::fs::read(&key.path).expect("read"), b"generated");
        let mode = std::fs::metadata(&key.path)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!("key=relative".parse::<Persisted>().is_err());
        assert!("../x=/a".parse::<Persisted>().is_err());
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
