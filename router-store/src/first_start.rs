//! The first start of a packaged server: with `--tokens FILE --admin-token FILE` and no
//! tokens file yet, a new admin token is made, written for the operator (mode 0600) and its
//! SHA-256 listed in the tokens file. The server does it, not the package's postinst: the
//! files are created by the service's own user with their final mode from the first byte
//! (`atomic::write_file`), so there is no window of a root-owned or wider file to chown or
//! chmod, and a server started without the package gets the same.

use std::fmt::Write as _;
use std::path::Path;

use router_store_client::atomic;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum FirstStartError {
    #[error("drawing a random admin token")]
    Random(#[source] std::io::Error),
    #[error("writing {path} (its directory must exist and be writable by the server)")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Makes the admin token and the tokens file when the tokens file is missing; returns
/// whether it did. An existing tokens file is never touched, nor is the token file then.
pub fn ensure_admin_token(tokens: &Path, token_file: &Path) -> Result<bool, FirstStartError> {
    if tokens.exists() {
        return Ok(false);
    }
    let token = random_token()?;
    let write = |path: &Path, bytes: &[u8]| {
        atomic::write_file(path, bytes, 0o600).map_err(|source| FirstStartError::Write {
            path: path.display().to_string(),
            source,
        })
    };
    // The token first: a kill between the two writes leaves no tokens file, so the next
    // start makes both again, and a tokens file never lists a token nobody holds.
    write(token_file, format!("{token}\n").as_bytes())?;
    write(tokens, tokens_file_text(&token).as_bytes())?;
    tracing::warn!(
        "first start: a new admin token is in {} (mode 0600), its SHA-256 in {}",
        token_file.display(),
        tokens.display()
    );
    Ok(true)
}

/// 32 random bytes from the kernel, as 64 hex digits.
pub(crate) fn random_token() -> Result<String, FirstStartError> {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        let n =
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(|e| FirstStartError::Random(e.into()))?;
        filled += n;
    }
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn tokens_file_text(token: &str) -> String {
    format!(
        "# Made by router-store at its first start; the token itself is in --admin-token.\n\
         # Add one [[token]] per router (docs/store.md).\n\
         [[token]]\nsha256 = \"{}\"\nrouter = \"*\"\n",
        hex(&Sha256::digest(token.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{Access, Caller, Tokens};
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn a_missing_tokens_file_gets_an_admin_token_only_its_owner_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tokens, token) = (
            dir.path().join("tokens.toml"),
            dir.path().join("admin.token"),
        );
        assert!(ensure_admin_token(&tokens, &token).expect("first start"));
        assert_eq!((mode(&tokens), mode(&token)), (0o600, 0o600));
        let secret = std::fs::read_to_string(&token).expect("token");
        let secret = secret.trim();
        assert_eq!(secret.len(), 64);
        let access = Access::Tokens(Tokens::load(&tokens).expect("tokens file parses"));
        let header = format!("Bearer {secret}");
        assert_eq!(access.caller(Some(header.as_bytes())), Ok(Caller::Admin));
        // A second start keeps both.
        assert!(!ensure_admin_token(&tokens, &token).expect("second start"));
        assert_eq!(
            std::fs::read_to_string(&token).expect("token").trim(),
            secret
        );
    }

    #[test]
    fn an_existing_tokens_file_is_kept_and_no_token_is_made() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tokens, token) = (
            dir.path().join("tokens.toml"),
            dir.path().join("admin.token"),
        );
        std::fs::write(&tokens, "[[token]]\n").expect("write");
        assert!(!ensure_admin_token(&tokens, &token).expect("start"));
        assert!(!token.exists());
        assert_eq!(
            std::fs::read_to_string(&tokens).expect("read"),
            "[[token]]\n"
        );
    }

    #[test]
    fn two_first_starts_draw_different_tokens() {
        assert_ne!(random_token().expect("a"), random_token().expect("b"));
    }
}
