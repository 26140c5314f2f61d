//! The image versions a store server boots routers from: `--images DIR` holds one
//! directory per version with the build's `vmlinuz`, `initrd.img`, optionally
//! `router.efi`, `cmdline` (the image's own kernel arguments) and `SHA256SUMS`. A version
//! whose kernel or initramfs is missing, or whose files do not match its SHA256SUMS, is
//! reported when the server starts (or rescans) and not offered.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

pub use router_store_client::ImageVersion;

/// The files of a version that are served; nothing else in its directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    Kernel,
    Initrd,
    Uki,
    Sums,
}

impl Asset {
    pub const ALL: [Asset; 4] = [Asset::Kernel, Asset::Initrd, Asset::Uki, Asset::Sums];

    pub fn file_name(self) -> &'static str {
        match self {
            Asset::Kernel => "vmlinuz",
            Asset::Initrd => "initrd.img",
            Asset::Uki => "router.efi",
            Asset::Sums => "SHA256SUMS",
        }
    }

    pub fn from_name(name: &str) -> Option<Asset> {
        Asset::ALL.into_iter().find(|a| a.file_name() == name)
    }
}

/// One bootable version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image's own kernel arguments (its `cmdline` file), checked to be one line of
    /// printable ASCII without iPXE's `$`.
    pub cmdline: String,
    /// SHA-256 of the initramfs, when SHA256SUMS lists it.
    pub initrd_sha256: Option<String>,
}

/// The versions found under `--images`, and what was wrong with the others.
#[derive(Debug, Clone, Default)]
pub struct Images {
    pub root: PathBuf,
    pub versions: BTreeMap<ImageVersion, ImageInfo>,
    /// One line per version left out, saying why.
    pub problems: Vec<String>,
}

impl Images {
    pub fn path(&self, version: &ImageVersion, asset: Asset) -> PathBuf {
        self.root.join(version.as_str()).join(asset.file_name())
    }
}

/// Digests already computed, by (path, length, modification time): a rescan after a
/// mapping change hashes only what changed.
#[derive(Debug, Default)]
pub struct DigestCache(Mutex<Digests>);

type Digests = HashMap<(PathBuf, u64, SystemTime), String>;

impl DigestCache {
    fn locked(&self) -> std::sync::MutexGuard<'_, Digests> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sha256(&self, path: &Path) -> std::io::Result<String> {
        let meta = std::fs::metadata(path)?;
        let key = (path.to_owned(), meta.len(), meta.modified()?);
        if let Some(d) = self.locked().get(&key) {
            return Ok(d.clone());
        }
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let digest = hex(&hasher.finalize());
        self.locked().insert(key, digest.clone());
        Ok(digest)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Scans `root`: blocking (it hashes the files), run it off the async threads.
pub fn scan(root: &Path, digests: &DigestCache) -> std::io::Result<Images> {
    let mut images = Images {
        root: root.to_owned(),
        ..Images::default()
    };
    let mut entries: Vec<_> = std::fs::read_dir(root)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let Ok(version) = ImageVersion::new(&name) else {
            images
                .problems
                .push(format!("{name:?}: not a version name (A-Z a-z 0-9 . _ -)"));
            continue;
        };
        match check_version(&entry.path(), digests) {
            Ok(info) => {
                images.versions.insert(version, info);
            }
            Err(why) => images.problems.push(format!("{version}: {why}")),
        }
    }
    Ok(images)
}

/// A version's directory checked: its kernel and initramfs present, its cmdline sane,
/// every served file SHA256SUMS lists matching.
fn check_version(dir: &Path, digests: &DigestCache) -> Result<ImageInfo, String> {
    for asset in [Asset::Kernel, Asset::Initrd] {
        if !dir.join(asset.file_name()).is_file() {
            return Err(format!("no {}", asset.file_name()));
        }
    }
    let cmdline = match std::fs::read_to_string(dir.join("cmdline")) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cmdline: {e}")),
    };
    if let Some(bad) = cmdline
        .chars()
        .find(|c| !(' '..='~').contains(c) || *c == '$')
    {
        return Err(format!(
            "cmdline: {bad:?} is not allowed (one line of printable ASCII without '$')"
        ));
    }
    let sums = match std::fs::read_to_string(dir.join(Asset::Sums.file_name())) {
        Ok(text) => parse_sums(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(format!("SHA256SUMS: {e}")),
    };
    for (file, want) in &sums {
        // SHA256SUMS of a build lists the ISO and iPXE script too; only served files count.
        let Some(asset) = Asset::from_name(file) else {
            continue;
        };
        let path = dir.join(asset.file_name());
        if !path.is_file() {
            continue;
        }
        let got = digests
            .sha256(&path)
            .map_err(|e| format!("{}: {e}", asset.file_name()))?;
        if &got != want {
            return Err(format!(
                "{} does not match SHA256SUMS (a truncated or replaced file?)",
                asset.file_name()
            ));
        }
    }
    Ok(ImageInfo {
        cmdline,
        initrd_sha256: sums.get(Asset::Initrd.file_name()).cloned(),
    })
}

/// `sha256sum`'s output: `HEX  NAME` (or `HEX *NAME`) per line.
fn parse_sums(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut sums = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line.split_once(' ').and_then(|(digest, name)| {
            let name = name.trim_start_matches([' ', '*']);
            let ok = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
            (ok && !name.is_empty()).then(|| (name.to_owned(), digest.to_ascii_lowercase()))
        });
        let (name, digest) =
            parsed.ok_or_else(|| format!("SHA256SUMS line {}: expected HEX  NAME", n + 1))?;
        sums.insert(name, digest);
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_version(root: &Path, name: &str, initrd: &[u8]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("vmlinuz"), b"kernel").expect("write");
        std::fs::write(dir.join("initrd.img"), initrd).expect("write");
        std::fs::write(dir.join("cmdline"), "rootfstype=ramfs console=ttyS0\n").expect("write");
        dir
    }

    #[test]
    fn versions_are_checked_against_their_sums() {
        let tmp = tempfile::tempdir().expect("tmp");
        let good = write_version(tmp.path(), "v1", b"root");
        let sums = format!(
            "{}  vmlinuz\n{}  initrd.img\n{}  router.iso\n",
            hex(&Sha256::digest(b"kernel")),
            hex(&Sha256::digest(b"root")),
            hex(&Sha256::digest(b"not here")),
        );
        std::fs::write(good.join("SHA256SUMS"), &sums).expect("write");
        let bad = write_version(tmp.path(), "v2", b"truncated");
        std::fs::write(bad.join("SHA256SUMS"), &sums).expect("write");
        let missing = tmp.path().join("v3");
        std::fs::create_dir_all(&missing).expect("mkdir");
        std::fs::write(missing.join("vmlinuz"), b"k").expect("write");
        std::fs::create_dir_all(tmp.path().join(".hidden")).expect("mkdir");
        let images = scan(tmp.path(), &DigestCache::default()).expect("scan");
        let v1 = ImageVersion::new("v1").expect("name");
        assert_eq!(images.versions.keys().collect::<Vec<_>>(), [&v1]);
        assert_eq!(
            images.versions[&v1].cmdline,
            "rootfstype=ramfs console=ttyS0"
        );
        assert_eq!(
            images.versions[&v1].initrd_sha256.as_deref(),
            Some(hex(&Sha256::digest(b"root")).as_str())
        );
        let problems = images.problems.join("\n");
        assert!(
            problems.contains("\".hidden\": not a version name"),
            "{problems}"
        );
        assert!(
            problems.contains("v2: initrd.img does not match SHA256SUMS"),
            "{problems}"
        );
        assert!(problems.contains("v3: no initrd.img"), "{problems}");
    }

    #[test]
    fn a_cmdline_with_ipxe_expansions_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = write_version(tmp.path(), "v1", b"root");
        std::fs::write(dir.join("cmdline"), "quiet ${net0/ip}").expect("write");
        let images = scan(tmp.path(), &DigestCache::default()).expect("scan");
        assert!(images.versions.is_empty());
        assert!(
            images.problems[0].contains("'$' is not allowed"),
            "{:?}",
            images.problems
        );
    }

    #[test]
    fn version_names() {
        for ok in ["2026-12-01", "v1.2_rc3"] {
            assert!(ImageVersion::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", ".x", "a/b", "a%2fb", "a b", &"x".repeat(65)] {
            assert!(ImageVersion::new(bad).is_err(), "{bad}");
        }
    }
}
