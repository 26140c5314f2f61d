//! `router-agent status`.

use super::{print_buffered, AnyError};

#[derive(Debug, clap::Args)]
pub struct Status {
    #[arg(long, default_value = "/run/router-agent")]
    status_dir: std::path::PathBuf,
}

impl Status {
    pub fn exec(self) -> Result<(), AnyError> {
        let Status { status_dir } = self;
        let path = status_dir.join("status");
        match std::fs::read_to_string(&path) {
            Ok(line) => print!("daemon: {line}"),
            Err(e) => println!("daemon: not running ({}: {e})", path.display()),
        }
        let bird = router_agent::bgp::cli::backend();
        if bird.socket.exists() {
            print_buffered(&router_agent::bgp::cli::status()?)?;
        }
        Ok(())
    }
}
