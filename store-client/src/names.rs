//! Router ids, file names and image versions: safe as a path component, a URL segment and an etcd key.

use std::fmt;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {given:?}: expected 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'")]
pub struct NameError {
    what: &'static str,
    given: String,
}

fn check(what: &'static str, s: &str) -> Result<(), NameError> {
    let ok = (1..=64).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(NameError {
            what,
            given: s.to_owned(),
        })
    }
}

macro_rules! safe_name {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: &str) -> Result<Self, NameError> {
                check($what, s).map(|()| $name(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $name::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

safe_name!(
    /// A router's name in the store.
    RouterId,
    "router id"
);
safe_name!(
    /// A file kept beside a router's config.
    FileName,
    "file name"
);
safe_name!(
    /// An image version the store server boots routers from (`images/<version>/`).
    ImageVersion,
    "image version"
);
