//! `router-agent status`.

use super::{print_buffered, AnyError, Io};

#[derive(Debug, clap::Args)]
pub struct Status {
    #[arg(long, default_value = "/run/router-agent")]
    status_dir: std::path::PathBuf,
}

impl Status {
    pub fn exec(self, io: &mut Io<'_>) -> Result<(), AnyError> {
        let Status { status_dir } = self;
        let path = status_dir.join("status");
        match std::fs::read_to_string(&path) {
            Ok(line) => write!(io.out, "daemon: {line}")?,
            Err(e) => writeln!(io.out, "daemon: not running ({}: {e})", path.display())?,
        }
        let bird = crate::bgp::cli::backend();
        if bird.socket.exists() {
            print_buffered(io.out, &crate::bgp::cli::status()?)?;
        }
        Ok(())
    }
}
