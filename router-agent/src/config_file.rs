//! A config file from disk, with the list files it names read from its directory.

use std::path::Path;

use crate::model::{self, ConfigError, ValidConfig};

/// Loads and validates `file`; a list file that cannot be read is reported at the line
/// naming it.
pub fn load(file: &str) -> Result<ValidConfig, ConfigError> {
    let bytes = std::fs::read(file).map_err(|error| ConfigError::Read {
        origin: file.to_owned(),
        error,
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| ConfigError::not_utf8(file, e.as_bytes(), &e.utf8_error()))?;
    let mut config = model::parse(file, &text)?;
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    for name in config.list_files() {
        let path = dir.join(name.as_str());
        tracing::debug!("list file {}", path.display());
        let read = read_list_file(&path).map_err(|e| format!("{}: {e}", path.display()));
        config.set_file(name, read);
    }
    model::validate_text(config, file, &text)
}

/// Reads a list file that is a regular file of its own: a symbolic link is not followed
/// (it could make an error quote any file on the router), and a FIFO or a device is not
/// opened for reading (it could hang the agent or never end).
fn read_list_file(path: &Path) -> Result<String, String> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| match e {
        rustix::io::Errno::LOOP => {
            "is a symbolic link; a list file must be a regular file beside the config, not a link"
                .to_owned()
        }
        e => format!("cannot open: {}", std::io::Error::from(e)),
    })?;
    let mut f = std::fs::File::from(fd);
    let meta = f.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(
            "is not a regular file; a list file must be a regular file beside the config".into(),
        );
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut f, &mut text).map_err(|e| format!("cannot read: {e}"))?;
    Ok(text)
}
