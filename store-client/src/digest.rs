//! Versions named by content, for stores that keep no version of their own (TFTP, a
//! config found on a write-protected stick).

use sha2::{Digest, Sha256};

use super::Version;

/// `sha256-` and the first 16 hex digits of the content's SHA-256: equal texts, equal
/// versions, across processes and reboots.
pub(crate) fn content_version(bytes: &[u8]) -> Version {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Version(format!("sha256-{hex}"))
}
