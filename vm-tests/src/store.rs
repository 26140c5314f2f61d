//! The store server on the host, as `router-store serve` (guests reach it at
//! 10.0.2.2 through qemu's user network).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use router_agent::store::{self, ConfigStore, StoreOptions};

#[derive(Debug)]
pub struct StoreServer {
    child: Option<Child>,
    pub dir: PathBuf,
    pub port: u16,
    log: PathBuf,
    /// More `store serve` arguments (--images ...).
    extra: Vec<String>,
}

pub fn store_binary() -> PathBuf {
    release_binary("router-store")
}

fn release_binary(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release")
        .join(name);
    assert!(
        p.is_file(),
        "{} missing: `cargo build --release`",
        p.display()
    );
    p
}

impl StoreServer {
    pub fn start(dir: &Path, port: u16) -> StoreServer {
        StoreServer::start_with(dir, port, &[])
    }

    /// With more `store serve` arguments.
    pub fn start_with(dir: &Path, port: u16, extra: &[String]) -> StoreServer {
        std::fs::create_dir_all(dir).expect("store dir");
        let log = dir.with_extension("log");
        let mut s = StoreServer {
            child: None,
            dir: dir.to_owned(),
            port,
            log,
            extra: extra.to_vec(),
        };
        s.up();
        s
    }

    /// Starts (again) the server process and waits until it answers.
    pub fn up(&mut self) {
        let child = Command::new(store_binary())
            .args(["serve", "--dir"])
            .arg(&self.dir)
            .args(["--listen", &format!("0.0.0.0:{}", self.port)])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).expect("store log"))
            .spawn()
            .expect("start the store server");
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "store server did not listen:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (the guests see a store that is down).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The URL guests use.
    pub fn guest_url(&self) -> String {
        format!("http://10.0.2.2:{}", self.port)
    }

    /// A client on the host side.
    pub fn client(&self) -> Box<dyn ConfigStore> {
        store::open(
            &format!("http://127.0.0.1:{}", self.port),
            &StoreOptions::default(),
        )
        .expect("open the store")
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        self.down();
    }
}
