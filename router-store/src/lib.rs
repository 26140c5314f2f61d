//! `router-store`: the fleet's store server. Configs live in a bare git
//! repository (one branch per router, one commit per write), files beside it; the HTTP API,
//! layout, tokens file and TLS are described in docs/store.md.

mod api;
mod assets;
mod boot;
mod cache;
mod dashboard;
mod enrol;
mod enrol_api;
mod error;
mod files;
mod first_start;
mod git;
mod ipxe;
mod limits;
mod listen;
mod machines;
mod metrics;
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
pub use enrol::{Clock, EnrolError, SystemClock, LIFETIME_SECS};
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
    #[arg(long, required_unless_present = "store", conflicts_with = "store")]
    pub dir: Option<PathBuf>,
    /// Serve only the dashboard, over another store (`etcd://HOST:PORT/PREFIX`,
    /// `http(s)://`, `file://`): no API, no network boot; a rollback is written to that
    /// store (docs/store.md, "The dashboard").
    #[arg(long, conflicts_with_all = ["images", "admin_token"])]
    pub store: Option<String>,
    /// With --store: a file holding the bearer token this server uses with an HTTP(S) store.
    #[arg(long, requires = "store")]
    pub store_token_file: Option<PathBuf>,
    /// With --store: a CA certificate (PEM) to trust for the store's TLS.
    #[arg(long, requires = "store")]
    pub store_ca_cert: Option<PathBuf>,
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
        let limits = ConnLimits {
            max: args.max_connections,
            per_client: args.max_connections_per_client,
        }
        .fitted_to(limits::raise_nofile());
        let server = match (&args.store, &args.dir) {
            (Some(url), _) => {
                let config = ServerConfig {
                    listen: args.listen,
                    store: open_store(url, &args)?,
                    access,
                    tls,
                    max_body: args.max_body,
                    boot: None,
                    limits,
                };
                Server::start_dashboard(config).await?
            }
            (None, Some(dir)) => {
                let boot = boot_state(&args, dir, tls.is_some(), &access).await?;
                let store = GitStore::open(dir).await?;
                let config = ServerConfig {
                    listen: args.listen,
                    store: Arc::new(store),
                    access,
                    tls,
                    max_body: args.max_body,
                    boot,
                    limits,
                };
                Server::start(config).await?
            }
            (None, None) => return Err(ServeError::NoStore),
        };
        if args.tokens.is_none() && args.store.is_some() {
            tracing::warn!(
                "NO --tokens: ANYONE who reaches {} rolls back EVERY router of the store.",
                server.url()
            );
        } else if args.tokens.is_none() {
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

/// The network boot endpoints' state, with --images.
async fn boot_state(
    args: &ServeArgs,
    dir: &Path,
    tls: bool,
    access: &Access,
) -> Result<Option<Arc<BootState>>, ServeError> {
    let Some(images) = args.images.clone() else {
        return Ok(None);
    };
    let (machines, public) = (dir.join("machines.toml"), args.public_url.clone());
    let state = tokio::task::spawn_blocking(move || BootState::load(images, machines, public, tls))
        .await
        .map_err(|e| ServeError::Runtime(std::io::Error::other(e)))??;
    let state = match access {
        Access::Tokens(tokens) => state.with_enrolment(enrol::Enrolments::open(
            Arc::new(SystemClock),
            tokens.enrolled(),
            Some(dir.join("enrolled.toml")),
        )?),
        Access::Open => state,
    };
    Ok(Some(Arc::new(state)))
}

/// The store of `--store URL`, reached as the agent reaches it.
fn open_store(url: &str, args: &ServeArgs) -> Result<Arc<dyn ConfigStore>, ServeError> {
    let failed = |source| ServeError::Store {
        url: url.to_owned(),
        source,
    };
    let token = match &args.store_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| ServeError::Dir {
                    what: format!("reading the store token {}", path.display()),
                    source,
                })?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let options = router_store_client::StoreOptions {
        token,
        ca_cert: args.store_ca_cert.clone(),
        ..Default::default()
    };
    let store = router_store_client::open(url, &options).map_err(failed)?;
    Ok(Arc::from(store))
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
    /// Listens and serves the API, the dashboard (and with `boot`, network boot) in the
    /// background of the current runtime.
    pub async fn start(config: ServerConfig) -> Result<Server, ServeError> {
        let access = Arc::new(config.access);
        let dashboard = dashboard::router(config.store.clone(), access.clone())
            .map_err(ServeError::Dashboard)?;
        let metrics = metrics::router(config.store.clone());
        let mut app = api::router(config.store, access.clone(), config.max_body)
            .merge(dashboard)
            .merge(metrics);
        if let Some(boot) = config.boot {
            if let (Some(enrolments), Access::Tokens(tokens)) = (boot.enrolments(), &*access) {
                app = app.merge(enrol_api::router(enrolments, tokens.clone()));
            }
            app = app.merge(boot::router(boot));
        }
        Server::serve(config.listen, app, config.tls, config.limits).await
    }

    /// Listens and serves the dashboard alone (and /healthz), over a store another
    /// server serves (etcd, another store server): `router-store serve --store URL`.
    pub async fn start_dashboard(config: ServerConfig) -> Result<Server, ServeError> {
        let metrics = metrics::router(config.store.clone());
        let app = dashboard::router(config.store, Arc::new(config.access))
            .map_err(ServeError::Dashboard)?
            .merge(metrics)
            .route("/healthz", axum::routing::get(|| async { "ok\n" }));
        Server::serve(config.listen, app, config.tls, config.limits).await
    }

    async fn serve(
        listen: SocketAddr,
        app: axum::Router,
        tls: Option<Arc<rustls::ServerConfig>>,
        limits: ConnLimits,
    ) -> Result<Server, ServeError> {
        let listen_err = |source| ServeError::Listen {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).await.map_err(listen_err)?;
        let addr = listener.local_addr().map_err(listen_err)?;
        let (stop, stopped) = watch::channel(false);
        tracing::info!(
            "holding at most {} connections, {} per client address",
            limits.max,
            limits.per_client
        );
        let tracker = limits::Tracker::new(limits);
        let server = Server {
            addr,
            tls: tls.is_some(),
            stop,
            task: tokio::spawn(listen::accept_loop(listener, app, tls, tracker, stopped)),
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
