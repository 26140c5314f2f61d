//! The fleet dashboard: `GET /` (the fleet table), `GET /routers/{id}` (history, diff of
//! two versions, rollback buttons) and `POST /routers/{id}/rollback`. Server-rendered
//! HTML from templates/*.html with a few lines of plain JavaScript. Reading needs no
//! token (config texts are shown with their secrets hidden); the one write, a rollback,
//! needs an operator token (rollback.rs).

mod check;
mod fleet;
mod history;
mod pages;
mod rollback;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use serde::Deserialize;

use crate::tokens::Access;
use router_store_client::fleet::{row, rows_of};
use router_store_client::status::unix_now;
use router_store_client::{ConfigStore, RouterId, StoreError, Version};

pub(crate) use check::ModelCheck;
use pages::Pages;
pub use pages::RenderError;

#[derive(Debug, Clone)]
struct Dash {
    store: Arc<dyn ConfigStore>,
    access: Arc<Access>,
    pages: Arc<Pages>,
}

/// A page that cannot be shown as asked; rendered as error.html with its status.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// Validation refused a rollback: nothing written.
    #[error("{0}")]
    Invalid(String),
    #[error("the store failed: {0}")]
    Store(String),
    #[error("{0}")]
    Render(#[from] pages::RenderError),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchVersion { id, version, .. } => {
                PageError::NotFound(format!("router {id} has no version {version}"))
            }
            e => {
                tracing::error!("dashboard: {e}");
                PageError::Store(e.to_string())
            }
        }
    }
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::Bad(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PageError::Store(_) | PageError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Errors are pages too; [`Dash::page`] renders them (a failing error page: plain text).
struct Failed(Arc<Pages>, PageError);

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        let Failed(pages, error) = self;
        let status = error.status();
        let title = status.canonical_reason().unwrap_or("error");
        let context = context! { title, message => error.to_string() };
        match pages.render("error.html", context) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => (status, format!("{error}\n({e})\n")).into_response(),
        }
    }
}

type PageResult = Result<Html<String>, Failed>;

impl Dash {
    fn fail(&self, e: impl Into<PageError>) -> Failed {
        Failed(self.pages.clone(), e.into())
    }

    fn page(&self, result: Result<String, PageError>) -> PageResult {
        result.map(Html).map_err(|e| self.fail(e))
    }
}

/// The dashboard's routes over `store`; `access` says who may roll back.
pub(super) fn router(
    store: Arc<dyn ConfigStore>,
    access: Arc<Access>,
) -> Result<Router, RenderError> {
    let pages = Arc::new(Pages::new()?);
    Ok(Router::new()
        .route("/", get(fleet_page))
        .route("/routers/{id}", get(router_page))
        .route("/routers/{id}/rollback", post(rollback::post))
        .route("/dashboard.js", get(script))
        .route("/dashboard.css", get(style))
        // A rollback form is a few short fields.
        .layer(DefaultBodyLimit::max(16 << 10))
        // Logged (path only: no query, no form, so never a token) and bounded like the API.
        .layer(axum::middleware::from_fn(crate::api::log_and_bound))
        .with_state(Dash {
            store,
            access,
            pages,
        }))
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        pages::SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::STYLE,
    )
}

/// A router id from a URL; `..`, `/` and the like are refused (RouterId's rules).
fn router_id(raw: &str) -> Result<RouterId, PageError> {
    RouterId::new(raw).map_err(|e| PageError::Bad(format!("not a router id: {e}")))
}

async fn fleet_page(State(dash): State<Dash>, Query(raw): Query<fleet::RawQuery>) -> PageResult {
    dash.page(fleet_html(&dash, fleet::Params::from(raw)).await)
}

async fn fleet_html(dash: &Dash, params: fleet::Params) -> Result<String, PageError> {
    let store = dash.store.as_ref();
    let now = unix_now();
    let ids = fleet::filter_ids(store.list_routers().await?, &params.q);
    let (rows, paging) = if params.needs_all_rows() {
        let mut rows = rows_of(store, &ids, &ModelCheck, now).await;
        if !params.health.is_empty() {
            rows.retain(|r| fleet::health_name(r.health) == params.health);
        }
        fleet::sort_rows(&mut rows, params.sort, params.desc);
        fleet::page_of(rows, params.page, params.per)
    } else {
        let mut ids = ids;
        if params.desc {
            ids.reverse();
        }
        let (ids, paging) = fleet::page_of(ids, params.page, params.per);
        (rows_of(store, &ids, &ModelCheck, now).await, paging)
    };
    let rows: Vec<fleet::RowView> = rows.iter().map(|r| fleet::view(r, now)).collect();
    Ok(dash.pages.render(
        "fleet.html",
        context! { rows, paging, params, healths => fleet::HEALTHS },
    )?)
}

/// `?a=&b=`: the two versions to compare.
#[derive(Debug, Default, Deserialize)]
struct Compare {
    a: Option<String>,
    b: Option<String>,
}

async fn router_page(
    State(dash): State<Dash>,
    Path(raw): Path<String>,
    Query(compare): Query<Compare>,
) -> PageResult {
    dash.page(router_html(&dash, &raw, compare).await)
}

/// `v` if it is one of `history`'s versions (anything else is refused, so that no text
/// from a URL reaches the store as a version).
fn known_version(
    history: &[router_store_client::HistoryEntry],
    v: &str,
) -> Result<Version, PageError> {
    history
        .iter()
        .find(|h| h.version.0 == v)
        .map(|h| h.version.clone())
        .ok_or_else(|| PageError::Bad("not a version of this router's history".into()))
}

async fn router_html(dash: &Dash, raw: &str, compare: Compare) -> Result<String, PageError> {
    let id = router_id(raw)?;
    let store = dash.store.as_ref();
    let history = store.history(&id).await?;
    let now = unix_now();
    let fleet_row = row(store, &id, &ModelCheck, now).await;
    if history.is_empty() && fleet_row.status.is_none() {
        return Err(PageError::NotFound(format!("no router {id} in this store")));
    }
    let current = fleet_row.current_version.clone().map(Version);
    let log = history::lines(store, &id, &history, current.as_ref()).await;
    // By default the current version against the one before it.
    let newest = current
        .clone()
        .or_else(|| history.first().map(|h| h.version.clone()));
    let b = match compare.b.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => Some(known_version(&history, v)?),
        None => newest,
    };
    let a = match compare.a.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => Some(known_version(&history, v)?),
        None => b.as_ref().and_then(|b| {
            let at = history.iter().position(|h| &h.version == b)?;
            history.get(at + 1).map(|h| h.version.clone())
        }),
    };
    let diff = match (&a, &b) {
        (Some(a), Some(b)) => Some(history::diff(store, &id, a, b).await?),
        _ => None,
    };
    let report = fleet_row
        .status
        .as_ref()
        .map(|s| serde_json::to_string_pretty(s).unwrap_or_default());
    Ok(dash.pages.render(
        "router.html",
        context! {
            id => id.as_str(),
            row => fleet::view(&fleet_row, now),
            log,
            shown => history::SHOWN,
            total => history.len(),
            a => a.map(|v| v.0),
            b => b.map(|v| v.0),
            diff,
            report,
        },
    )?)
}
