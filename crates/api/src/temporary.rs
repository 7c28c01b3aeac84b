//! `/conference/`: temporary conferences created by operators (phones create theirs by
//! calling the factory URI). They live in the running bridge only, never in the store.

use crate::conference::{Conference, check_extension_id, extension_config, new_record};
use crate::{ApiError, AppState, error::ErrorBody};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::delete;
use axum::{Json, Router};
use chorus_engine::AdhocRefusal;
use chorus_net::Control;
use serde::Serialize;
use utoipa::ToSchema;

/// A temporary conference just created.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CreatedConference {
    /// Its id: `t-` and ten random characters. The live routes under
    /// `/extension/{id}/conference/` (members, mute, kick, lock) take it.
    id: String,
    /// The SIP URI callers dial to join.
    uri: String,
    /// Its properties.
    properties: Conference,
}

#[utoipa::path(post, path = "/conference/", tag = "live",
    request_body(content = Option<crate::conference::ConferencePatch>,
        description = "Any of the eight properties, checked as a PUT checks them; an empty body (or null) takes every default"),
    responses(
        (status = 201, description = "Created: it lives while someone is in it, and for the linger (--adhoc-linger) when empty", body = CreatedConference),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Fields break rules; every one is named", body = ErrorBody),
        (status = 503, description = "As many temporary conferences as allowed (--adhoc-max) exist", body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedConference>), ApiError> {
    let limits = state.inner.limits;
    let clips = state.clone();
    let (record, config) = state
        .store(move |store| {
            let exists = |id: i64| store.sound(id).ok().flatten().is_some();
            let record = new_record(&body, &limits, &exists)?;
            let mut clips = clips
                .inner
                .clips
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let config = extension_config(store, &mut clips, &record)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok::<_, ApiError>((record, config))
        })
        .await??;
    let created = state
        .inner
        .control
        .ask(|reply| Control::CreateTemporary {
            config: Box::new(config),
            reply,
        })
        .await?;
    match created {
        Ok((id, uri)) => Ok((
            StatusCode::CREATED,
            Json(CreatedConference {
                id,
                uri,
                properties: record.into(),
            }),
        )),
        Err(AdhocRefusal::TooMany | AdhocRefusal::TooFast) => Err(ApiError::client(
            StatusCode::SERVICE_UNAVAILABLE,
            "as many temporary conferences as allowed exist",
        )),
    }
}

#[utoipa::path(delete, path = "/conference/{conference_id}", tag = "live",
    params(("conference_id" = String, Path, description = "A temporary conference's id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 204, description = "Ended: everyone hears goodbye and is hung up on; its URI stops answering"),
        (status = 404, description = "No such temporary conference (a provisioned one is deleted under /extension/)", body = ErrorBody),
        (status = 422, description = "Bad conference_id", body = ErrorBody),
    ))]
pub(crate) async fn end(
    State(state): State<AppState>,
    Path(conference): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_extension_id(&conference)?;
    let ended = state
        .inner
        .control
        .ask(|reply| Control::EndTemporary {
            conference: conference.clone(),
            reply,
        })
        .await?;
    if ended {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no temporary conference {conference}"
        )))
    }
}

/// `POST /conference/` shares its path with the live list, so `live::routes` mounts it.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/conference/{conference_id}", delete(end))
}
