//! Network boot from the store server (docs/netboot.md): `GET /boot.ipxe`, `GET
//! /ipxe?mac=&uuid=&serial=` (that machine's script, from `machines.toml`) and `GET
//! /images/VERSION/FILE` (streamed from the file, with ranges). Open to anyone who
//! reaches the port, tokens or not: firmware sends none, and nothing here is secret.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::assets::{self, Asset, DigestCache, ImageVersion, Images};
use super::enrol::Enrolments;
use super::ipxe;
use super::machines::{Asked, Mac, Machines, MachinesError, Uuid};
use super::range::{parse_range, RangeAnswer};

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("--images {}: cannot read it", dir.display())]
    Images {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Machines(#[from] MachinesError),
    #[error(
        "--public-url {0:?}: expected http:// or https:// and a host, e.g. http://192.0.2.1:8080"
    )]
    PublicUrl(String),
}

/// What the boot endpoints serve, reloaded when `machines.toml` changes.
#[derive(Debug)]
pub struct BootState {
    images_dir: PathBuf,
    machines_path: PathBuf,
    public_url: Option<String>,
    scheme: &'static str,
    digests: DigestCache,
    catalog: RwLock<Catalog>,
    /// With --tokens: a listed machine's script carries a fresh enrolment token.
    enrolments: Option<Enrolments>,
}

#[derive(Debug, Clone)]
struct Catalog {
    images: Arc<Images>,
    machines: Arc<Machines>,
    /// `machines.toml`'s length and modification time when read (None: absent).
    stamp: Option<(u64, SystemTime)>,
}

fn stamp(path: &std::path::Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

impl BootState {
    /// Scans the images and reads the mapping: blocking (hashes every image once).
    pub fn load(
        images_dir: PathBuf,
        machines_path: PathBuf,
        public_url: Option<String>,
        tls: bool,
    ) -> Result<BootState, BootError> {
        let public_url = public_url
            .map(|u| {
                let u = u.trim_end_matches('/').to_owned();
                let host = u
                    .strip_prefix("http://")
                    .or_else(|| u.strip_prefix("https://"));
                match host {
                    Some(h)
                        if valid_host(h.split('/').next().unwrap_or_default())
                            && !u.contains(char::is_whitespace) =>
                    {
                        Ok(u)
                    }
                    _ => Err(BootError::PublicUrl(u)),
                }
            })
            .transpose()?;
        let state = BootState {
            images_dir,
            machines_path,
            public_url,
            scheme: if tls { "https" } else { "http" },
            digests: DigestCache::default(),
            catalog: RwLock::new(Catalog {
                images: Arc::default(),
                machines: Arc::new(Machines::empty()),
                stamp: None,
            }),
            enrolments: None,
        };
        let catalog = state.read_catalog()?;
        for problem in &catalog.images.problems {
            tracing::error!("image {problem}: not served");
        }
        let versions: Vec<String> = catalog
            .images
            .versions
            .keys()
            .map(ToString::to_string)
            .collect();
        tracing::info!(
            "boot images in {}: {}",
            state.images_dir.display(),
            if versions.is_empty() {
                "NONE bootable".to_owned()
            } else {
                versions.join(", ")
            }
        );
        *state.catalog.write().unwrap_or_else(|p| p.into_inner()) = catalog;
        Ok(state)
    }

    /// Scripts of listed machines carry an enrolment token of `enrolments`.
    pub(crate) fn with_enrolment(mut self, enrolments: Enrolments) -> Self {
        self.enrolments = Some(enrolments);
        self
    }

    pub(crate) fn enrolments(&self) -> Option<Enrolments> {
        self.enrolments.clone()
    }

    fn read_catalog(&self) -> Result<Catalog, BootError> {
        let stamp = stamp(&self.machines_path);
        let images =
            assets::scan(&self.images_dir, &self.digests).map_err(|source| BootError::Images {
                dir: self.images_dir.clone(),
                source,
            })?;
        let machines = match stamp {
            Some(_) => Machines::load(&self.machines_path, &images)?,
            None => Machines::empty(),
        };
        Ok(Catalog {
            images: Arc::new(images),
            machines: Arc::new(machines),
            stamp,
        })
    }

    /// The current catalog; first re-read if `machines.toml` changed. A broken edit is
    /// logged and the previous mapping kept.
    async fn current(self: &Arc<Self>) -> Catalog {
        let now = self
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if stamp(&self.machines_path) == now.stamp {
            return now;
        }
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.read_catalog()).await {
            Ok(Ok(fresh)) => {
                tracing::info!("{} changed: re-read", self.machines_path.display());
                for problem in &fresh.images.problems {
                    tracing::error!("image {problem}: not served");
                }
                *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                fresh
            }
            Ok(Err(e)) => {
                tracing::error!("{e}; still booting from the previous mapping");
                let mut kept = self.catalog.write().unwrap_or_else(|p| p.into_inner());
                // Not again at every request: only at the next change.
                kept.stamp = stamp(&self.machines_path);
                kept.clone()
            }
            Err(e) => {
                tracing::error!("re-reading the mapping: {e}");
                now
            }
        }
    }

    /// The base URL machines reach this server at: --public-url, else the Host header.
    fn public(&self, headers: &HeaderMap) -> Result<String, String> {
        if let Some(u) = &self.public_url {
            return Ok(u.clone());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or("no Host header (or start the server with --public-url)")?;
        if !valid_host(host) {
            return Err(format!("Host {host:?} is not a host[:port]"));
        }
        Ok(format!("{}://{host}", self.scheme))
    }
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// The boot routes.
pub(super) fn router(state: Arc<BootState>) -> Router {
    Router::new()
        .route("/boot.ipxe", get(boot_ipxe))
        .route("/ipxe", get(machine_ipxe))
        .route("/images/{version}/{file}", get(image_file))
        .with_state(state)
}

fn script(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn boot_ipxe(State(state): State<Arc<BootState>>, headers: HeaderMap) -> Response {
    match state.public(&headers) {
        Ok(public) => script(StatusCode::OK, ipxe::boot_script(&public)),
        Err(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct IpxeQuery {
    mac: Option<String>,
    uuid: Option<String>,
    serial: Option<String>,
}

/// What the machine says, checked: a MAC is required, an empty UUID or serial (iPXE
/// expands an unset setting to nothing) is no UUID or serial.
fn asked(q: &IpxeQuery) -> Result<Asked, String> {
    let mac = q.mac.as_deref().unwrap_or_default();
    let mac = Mac::parse(mac).ok_or_else(|| format!("mac={mac:?} is not a MAC address"))?;
    let uuid = match q.uuid.as_deref().unwrap_or_default() {
        "" => None,
        u => Some(Uuid::parse(u).ok_or_else(|| format!("uuid={u:?} is not a UUID"))?),
    };
    let serial = q.serial.clone().filter(|s| !s.is_empty());
    Ok(Asked {
        mac: Some(mac),
        uuid,
        serial,
    })
}

async fn machine_ipxe(
    State(state): State<Arc<BootState>>,
    headers: HeaderMap,
    query: Result<Query<IpxeQuery>, QueryRejection>,
) -> Response {
    let public = match state.public(&headers) {
        Ok(p) => p,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    let bad = |status: StatusCode, why: String| {
        tracing::info!("boot script refused: {why}");
        script(status, ipxe::error_script(&public, &why))
    };
    let asked = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| asked(&q))
    {
        Ok(a) => a,
        Err(why) => return bad(StatusCode::BAD_REQUEST, why),
    };
    let catalog = state.current().await;
    let Some(choice) = catalog.machines.choose(&asked, &catalog.images) else {
        return bad(
            StatusCode::NOT_FOUND,
            "this server has no bootable image version".into(),
        );
    };
    let Some(info) = catalog.images.versions.get(&choice.image) else {
        return bad(
            StatusCode::NOT_FOUND,
            format!("image {} is not bootable on this server", choice.image),
        );
    };
    let mac = asked.mac.expect("asked() requires a MAC");
    // Only a listed machine enrols: an unknown MAC gets no router's token of any kind.
    let enrol = match (&state.enrolments, &choice.id) {
        (Some(enrolments), Some(id)) => match enrolments.mint(id, Some(format!("MAC {mac}"))) {
            Ok(token) => Some(token),
            Err(e) => {
                tracing::error!("router {id}: {}", router_store_client::error_chain(&e));
                return bad(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not make an enrolment token".into(),
                );
            }
        },
        _ => None,
    };
    tracing::info!(
        "boot script for {mac}: {} image {}",
        choice
            .id
            .as_ref()
            .map_or("unlisted machine".to_owned(), |id| format!("router {id}")),
        choice.image
    );
    script(
        StatusCode::OK,
        ipxe::machine_script(&ipxe::Boot {
            public: &public,
            image: &choice.image,
            image_args: &info.cmdline,
            id: choice.id.as_ref(),
            mgmt: &choice.mgmt,
            mac,
            enrol: enrol.as_deref(),
        }),
    )
}

async fn image_file(
    State(state): State<Arc<BootState>>,
    Path((version, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let plain = |status: StatusCode, text: String| (status, format!("{text}\n")).into_response();
    let version = match ImageVersion::new(&version) {
        Ok(v) => v,
        Err(e) => return plain(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let Some(asset) = Asset::from_name(&file) else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("an image has no file {file:?}"),
        );
    };
    let images = state
        .catalog
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .images
        .clone();
    if !images.versions.contains_key(&version) {
        return plain(
            StatusCode::NOT_FOUND,
            format!("no bootable image version {version}"),
        );
    }
    serve_file(images.path(&version, asset), &headers).await
}

/// A file streamed from disk (never read whole), with a single range if asked.
async fn serve_file(path: PathBuf, headers: &HeaderMap) -> Response {
    let opened = async {
        let file = tokio::fs::File::open(&path).await?;
        let meta = file.metadata().await?;
        Ok::<_, std::io::Error>((file, meta))
    };
    let (mut file, meta) = match opened.await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (StatusCode::NOT_FOUND, "not in this image\n").into_response()
        }
        Err(e) => {
            tracing::error!("{}: {e}", path.display());
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response();
        }
    };
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{len:x}-{mtime:x}\"");
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|h: &HeaderValue| h.to_str().ok())
    };
    if header_text(header::IF_NONE_MATCH)
        .is_some_and(|t| t.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    // If-Range with another version: the whole (new) file, not a piece of it.
    let range = match header_text(header::IF_RANGE) {
        Some(tag) if tag.trim() != etag => None,
        _ => header_text(header::RANGE),
    };
    let answer = parse_range(range, len);
    let (status, start, count) = match answer {
        RangeAnswer::Full => (StatusCode::OK, 0, len),
        RangeAnswer::Partial { start, end } => {
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeAnswer::Unsatisfiable => {
            let mut resp = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the file has {len} bytes\n"),
            )
                .into_response();
            if let Some(cr) = answer
                .content_range(len)
                .and_then(|c| HeaderValue::from_str(&c).ok())
            {
                resp.headers_mut().insert(header::CONTENT_RANGE, cr);
            }
            return resp;
        }
    };
    if start > 0 {
        if let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response();
        }
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(count)));
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if let Ok(tag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, tag);
    }
    if let Some(cr) = answer
        .content_range(len)
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        h.insert(header::CONTENT_RANGE, cr);
    }
    resp
}
