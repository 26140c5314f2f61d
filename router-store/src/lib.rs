//! `router-store`: the fleet's store server. Configs live in a bare git
//! repository (one branch per router, one commit per write), files beside it; the HTTP API,
//! layout, tokens file and TLS are described in docs/store.md.

mod api;
mod assets;
mod boot;
mod dashboard;
mod error;
mod files;
mod first_start;
mod git;
mod ipxe;
mod limits;
mod listen;
mod machines;
mod range;
mod repo;
mod setup;
mod status;
mod tokens;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use boot::{BootError, BootState};
pub use dashboard::RenderError;
pub use error::ServeError;
pub use git::GitError;
pub use limits::ConnLimits;
pub use repo::GitStore;
use router_store_client::ConfigStore;
pub use setup::repository;
pub use tokens::{Access, Tokens, TokensError};

/// Default request body limit: 64 MiB (a config of a million routes is about 30 MiB).
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// `router-store serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Directory of the store: configs.git (bare repository) and files/.
    #[arg(long)]
    pub dir: PathBuf,
    /// Address to listen on, e.g. 0.0.0.0:8080 (port 0: any free port, printed).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Certificate chain (PEM) for HTTPS; needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Tokens file (TOML: SHA-256 of each token and its router, or "*" for all).
    /// Without it, anyone who reaches the port reads and writes every router.
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// First start: when the --tokens file does not exist, make an admin token, write it
    /// to this file (mode 0600) and its SHA-256 to the --tokens file (mode 0600).
    #[arg(long, requires = "tokens")]
    pub admin_token: Option<PathBuf>,
    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// Network boot: a directory of image versions (VERSION/vmlinuz, initrd.img,
    /// cmdline, SHA256SUMS) served with /boot.ipxe and /ipxe (docs/netboot.md); machines
    /// are mapped in DIR/machines.toml.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// The URL booting machines reach this server at (router.store= of their scripts);
    /// without it, the Host header of each request.
    #[arg(long, requires = "images")]
    pub public_url: Option<String>,
    /// Connections held at once (lowered to what the open-file limit allows).
    #[arg(long, default_value_t = ConnLimits::default().max)]
    pub max_connections: usize,
    /// Connections held at once from one client address.
    #[arg(long, default_value_t = ConnLimits::default().per_client)]
    pub max_connections_per_client: usize,
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async {
        let access = match &args.tokens {
            Some(path) => {
                if let Some(token_file) = &args.admin_token {
                    first_start::ensure_admin_token(path, token_file)?;
                }
                let tokens = Tokens::load(path)?;
                tracing::info!("{tokens:?} from {}", path.display());
                Access::Tokens(tokens)
            }
            None => Access::Open,
        };
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
            _ => None,
        };
        let store = GitStore::open(&args.dir).await?;
        let boot = match args.images.clone() {
            Some(images) => {
                let (machines, public, tls) =
                    (args.dir.join("machines.toml"), args.public_url.clone(), tls.is_some());
                let state = tokio::task::spawn_blocking(move || {
                    BootState::load(images, machines, public, tls)
                })
                .await
                .map_err(|e| ServeError::Runtime(std::io::Error::other(e)))??;
                Some(Arc::new(state))
            }
            None => None,
        };
        let server = Server::start(ServerConfig {
            listen: args.listen,
            store: Arc::new(store),
            access,
            tls,
            max_body: args.max_body,
            boot,
            limits: ConnLimits {
                max: args.max_connections,
                per_client: args.max_connections_per_client,
            }
            .fitted_to(limits::raise_nofile()),
        })
        .await?;
        if args.tokens.is_none() {
            tracing::warn!(
                "NO --tokens: ANYONE who reaches {} reads and writes EVERY router's config and files (SSH host keys). Only for a closed network or a demo on localhost.",
                server.url()
            );
        }
        // Scripts and tests wait for this line (and learn a port 0 chose).
        println!("store: listening on {}", server.url());
        stop_signal().await;
        tracing::info!("stopping");
        server.stop().await;
        Ok(())
    })
}

/// SIGTERM or SIGINT; if neither can be watched, Ctrl-C alone.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM ({e}); stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A rustls server config from PEM files, with ring (no OpenSSL, no cmake).
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let file_err = |what, path: &Path| {
        let path = path.to_owned();
        move |e: rustls_pki_types::pem::Error| ServeError::TlsFile {
            what,
            path,
            source: match e {
                rustls_pki_types::pem::Error::Io(io) => io,
                other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
            },
        }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(file_err("reading the certificate chain", cert))?;
    if chain.is_empty() {
        return Err(ServeError::TlsFile {
            what: "no PEM certificate in",
            path: cert.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "empty"),
        });
    }
    warn_if_readable(key);
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(file_err("reading the private key", key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ServeError::Tls)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(ServeError::Tls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn warn_if_readable(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(key) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "{} can be read by other users (chmod 600 it)",
                key.display()
            );
        }
    }
}

/// What a server serves, and how.
#[derive(Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub store: Arc<dyn ConfigStore>,
    pub access: Access,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub max_body: usize,
    /// The network boot endpoints, when serving images.
    pub boot: Option<Arc<BootState>>,
    pub limits: ConnLimits,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    /// Listens and serves in the background of the current runtime.
    pub async fn start(config: ServerConfig) -> Result<Server, ServeError> {
        let listen_err = |source| ServeError::Listen {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(listen_err)?;
        let addr = listener.local_addr().map_err(listen_err)?;
        let access = Arc::new(config.access);
        let dashboard = dashboard::router(config.store.clone(), access.clone())
            .map_err(ServeError::Dashboard)?;
        let mut app = api::router(config.store, access, config.max_body).merge(dashboard);
        if let Some(boot) = config.boot {
            app = app.merge(boot::router(boot));
        }
        let (stop, stopped) = watch::channel(false);
        let tls = config.tls.is_some();
        tracing::info!(
            "holding at most {} connections, {} per client address",
            config.limits.max,
            config.limits.per_client
        );
        let tracker = limits::Tracker::new(config.limits);
        let task = tokio::spawn(listen::accept_loop(
            listener, app, config.tls, tracker, stopped,
        ));
        let server = Server {
            addr,
            tls,
            stop,
            task,
        };
        tracing::info!("serving the store on {}", server.url());
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting; requests in flight finish (within a grace period).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!("the server's task ended badly: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
