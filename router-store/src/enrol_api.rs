//! The enrolment endpoints (docs/netboot.md, "Enrolment"): `POST /v1/enrol` (the body is
//! an enrolment token; the answer the router's own token) and `GET
//! /v1/routers/ID/enrolments` (what happened, for the admin token or that router's).

use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use router_store_client::http::wire::Enrolled;
use router_store_client::RouterId;

use super::enrol::Enrolments;
use super::tokens::{Access, Caller, Tokens};

#[derive(Debug, Clone)]
struct EnrolState {
    enrolments: Enrolments,
    access: std::sync::Arc<Access>,
}

pub(super) fn router(enrolments: Enrolments, tokens: Tokens) -> Router {
    Router::new()
        .route("/v1/enrol", post(exchange))
        .route("/v1/routers/{id}/enrolments", get(events))
        .with_state(EnrolState {
            enrolments,
            access: std::sync::Arc::new(Access::Tokens(tokens)),
        })
}

fn plain(status: StatusCode, text: impl std::fmt::Display) -> Response {
    (status, format!("{text}\n")).into_response()
}

async fn exchange(State(state): State<EnrolState>, body: String) -> Response {
    if body.len() > 256 {
        return plain(
            StatusCode::BAD_REQUEST,
            "an enrolment token is 64 hex digits",
        );
    }
    match state.enrolments.exchange(&body, None) {
        Ok(Ok((id, token))) => Json(Enrolled {
            router: id.to_string(),
            token,
        })
        .into_response(),
        Ok(Err(refused)) => plain(StatusCode::FORBIDDEN, refused),
        Err(e) => {
            tracing::error!("enrolment: {}", router_store_client::error_chain(&e));
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "enrolment failed on the server",
            )
        }
    }
}

async fn events(
    State(state): State<EnrolState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(id) = RouterId::new(&id) else {
        return plain(StatusCode::BAD_REQUEST, "not a router id");
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|h| h.as_bytes());
    match state.access.caller(authorization) {
        Ok(caller @ (Caller::Admin | Caller::Router(_))) if caller.may(&id) => {
            Json(state.enrolments.events(&id)).into_response()
        }
        Ok(caller) => plain(
            StatusCode::FORBIDDEN,
            format!("the {caller} may not see router {id}'s enrolments"),
        ),
        Err(denied) => plain(StatusCode::UNAUTHORIZED, denied),
    }
}
