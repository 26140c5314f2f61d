//! A config file from disk, with the list files it names read from its directory.

use std::path::Path;

use crate::model::{self, ConfigError, ValidConfig};

/// Loads and validates `file`; a list file that cannot be read is reported at the line
/// naming it.
pub fn load(file: &str) -> Result<ValidConfig, ConfigError> {
    let bytes = std::fs::read(file).map_err(|source| ConfigError::Read {
        origin: file.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| ConfigError::not_utf8(file, e.as_bytes(), &e.utf8_error()))?;
    let mut config = model::parse(file, &text)?;
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    for name in config.list_files() {
        let path = dir.join(name.as_str());
        tracing::debug!("list file {}", path.display());
        let read = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()));
        config.set_file(name, read);
    }
    model::validate_text(config, file, &text)
}
