//! Liveness and readiness for load balancers and orchestrators, open without a token.

use crate::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

/// What `/health` and `/ready` say.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`, or what is not ready (`draining`, `sip_not_ready`, `store_unavailable`).
    status: &'static str,
}

#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "The process is alive", body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/ready", tag = "operations", security(()),
    responses(
        (status = 200, description = "SIP is bound, the store answers, the bridge is not draining", body = Health),
        (status = 503, description = "Not ready: starting, draining, or the store does not answer", body = Health),
    ))]
pub(crate) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if state.inner.metrics.draining.get() == 1 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "draining" }),
        );
    }
    if state.inner.metrics.ready.get() != 1 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "sip_not_ready",
            }),
        );
    }
    let store = state.store(|store| store.conferences().is_ok()).await;
    if !matches!(store, Ok(true)) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "store_unavailable",
            }),
        );
    }
    (StatusCode::OK, Json(Health { status: "ok" }))
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}
