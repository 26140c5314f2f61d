//! The rollback button: what `router-agent store rollback` does (that version validated,
//! then written as the new current one with compare-and-swap; the one it replaces stays
//! in history), in two steps. The first POST asks "roll back X to version N?"; the second,
//! with `confirm=yes`, needs an operator token (the form's `token` field or a bearer
//! token) and writes. The token is never put back into a page nor logged; the write needs
//! the token itself, so a page of another site cannot make a browser do it (no cookies).

use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::{check, known_version, router_id, Dash, PageError, PageResult};
use crate::tokens::{Caller, Denied};
use router_model::human::short;
use router_model::summary::summarize;
use router_store_client::note::{compose, AUTHOR_TRAILER};
use router_store_client::{Expect, RouterId, StoreError, Version, WriteKind};

#[derive(Deserialize)]
pub struct RollbackForm {
    version: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    confirm: String,
}

// By hand: the token must not reach a log through a derived Debug.
impl std::fmt::Debug for RollbackForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollbackForm")
            .field("version", &self.version)
            .field("confirm", &self.confirm)
            .finish_non_exhaustive()
    }
}

pub async fn post(
    State(dash): State<Dash>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RollbackForm>,
) -> PageResult {
    dash.page(rollback(&dash, &raw, &headers, &form).await)
}

/// The caller the form's token (or else the `Authorization` header) names; only an
/// operator (the admin token, or anyone on a store without tokens) may roll back.
fn operator(dash: &Dash, headers: &HeaderMap, form: &RollbackForm) -> Result<Caller, PageError> {
    let token = form.token.trim();
    let bearer = format!("Bearer {token}");
    let authorization = if token.is_empty() {
        headers.get(header::AUTHORIZATION).map(|h| h.as_bytes())
    } else {
        Some(bearer.as_bytes())
    };
    match dash.access.caller(authorization) {
        Ok(caller @ (Caller::Admin | Caller::Anyone)) => Ok(caller),
        Ok(Caller::Router(_)) => Err(PageError::Forbidden(
            "refused: a router's token cannot roll back; an operator (admin) token is needed"
                .into(),
        )),
        Err(Denied::NoToken) => Err(PageError::Unauthorized(
            "refused: rolling back needs an operator token; enter it in the token field".into(),
        )),
        Err(Denied::UnknownToken) => Err(PageError::Unauthorized(
            "refused: that token is not one this store knows; nothing written".into(),
        )),
    }
}

async fn rollback(
    dash: &Dash,
    raw: &str,
    headers: &HeaderMap,
    form: &RollbackForm,
) -> Result<String, PageError> {
    let id = router_id(raw)?;
    let store = dash.store.as_ref();
    let history = store.history(&id).await?;
    let target = known_version(&history, &form.version)?;
    let confirmed = form.confirm == "yes";
    // Who asks is settled before anything about the version is said or done.
    let caller = if confirmed {
        Some(operator(dash, headers, form)?)
    } else {
        None
    };
    let text = store.get_version(&id, &target).await?;
    let origin = format!("{id}@{target}");
    check::validate(store, &id, &origin, &text)
        .await
        .map_err(|e| PageError::Invalid(format!("not rolled back (nothing written): {e}")))?;
    let current = store.get(&id).await?;
    let previous = current.as_ref().map(|s| s.version.clone());
    let change = summarize(current.as_ref().map(|s| s.text.as_str()), &text);
    let Some(caller) = caller else {
        return Ok(dash.pages.render(
            "confirm.html",
            context! {
                id => id.as_str(),
                version => target.0,
                short => short(&target.0),
                previous => previous.map(|v| v.0),
                change,
            },
        )?);
    };
    let written = write(dash, &id, &text, &target, previous.clone(), &caller).await?;
    tracing::info!("router {id}: rolled back to {target} as {written} by the {caller} (dashboard)");
    Ok(dash.pages.render(
        "done.html",
        context! {
            id => id.as_str(),
            version => written.0,
            target => target.0,
            previous => previous.map(|v| v.0),
            change,
        },
    )?)
}

/// Written as the CLI writes it: kind rollback, "rollback to N (from M)", and who.
async fn write(
    dash: &Dash,
    id: &RouterId,
    text: &str,
    target: &Version,
    previous: Option<Version>,
    caller: &Caller,
) -> Result<Version, PageError> {
    let summary = format!(
        "rollback to {target}{}",
        previous
            .as_ref()
            .map_or_else(String::new, |p| format!(" (from {p})"))
    );
    let author = format!("{caller} (dashboard)");
    let message = compose(
        &summary,
        Some(WriteKind::Rollback),
        &[(AUTHOR_TRAILER, &author)],
    );
    let expect = match previous {
        Some(v) => Expect::Version(v),
        None => Expect::Absent,
    };
    let store = dash.store.clone();
    let (id, text) = (id.clone(), text.to_owned());
    // In a task of its own: a browser that goes away must not cut a write in half.
    let put = tokio::spawn(async move { store.put(&id, &text, &expect, &message).await });
    match put.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(StoreError::Conflict { current, .. })) => Err(PageError::Conflict(format!(
            "the config changed meanwhile (now {}); nothing written: look again and retry",
            current.map_or_else(|| "deleted".into(), |v| v.0)
        ))),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(PageError::Store(format!("the write's task failed: {e}"))),
    }
}
