//! `/sound/`: uploaded WAV files, converted once to 8 kHz mono.

use crate::{ApiError, AppState, Limits, error::ErrorBody};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chorus_store::{SoundRecord, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An uploaded sound.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Sound {
    /// The id conference properties refer to.
    id: i64,
    /// The name given at upload.
    name: String,
    /// Length in milliseconds.
    duration_ms: u64,
    /// Upload time, RFC 3339.
    created_at: String,
}

impl From<SoundRecord> for Sound {
    fn from(r: SoundRecord) -> Self {
        let when =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(r.created_at.max(0) as u64);
        Sound {
            id: r.id,
            name: r.name,
            duration_ms: r.duration_ms,
            created_at: humantime::format_rfc3339_seconds(when).to_string(),
        }
    }
}

/// Query of an upload.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct UploadQuery {
    /// A name for the sound (1-100 characters).
    name: Option<String>,
}

#[utoipa::path(post, path = "/sound/", operation_id = "upload_sound", tag = "sound",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A WAV file of any rate and channel count (sent as audio/wav or application/octet-stream)"),
    responses(
        (status = 201, description = "Stored; its id", body = Sound),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 422, description = "Not a WAV file, too long, or a bad name", body = ErrorBody),
    ))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limits = state.inner.limits;
    let too_large = || {
        ApiError::too_large(format!(
            "sound uploads are limited to {} bytes",
            limits.max_sound_bytes
        ))
    };
    // An upload announced as too large is refused before a byte of it is read.
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limits.max_sound_bytes as u64) {
        return Err(too_large());
    }
    let name = query.name.unwrap_or_else(|| "sound".to_owned());
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    let bytes = axum::body::to_bytes(body, limits.max_sound_bytes)
        .await
        .map_err(|_| too_large())?;
    let pcm = tokio::task::spawn_blocking(move || chorus_store::wav_to_clip(&bytes))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::validation("body", e.to_string()))?;
    if pcm.len() > limits.max_sound_seconds as usize * 8000 {
        return Err(ApiError::validation(
            "body",
            format!("sounds are limited to {} seconds", limits.max_sound_seconds),
        ));
    }
    if pcm.is_empty() {
        return Err(ApiError::validation("body", "the WAV file holds no audio"));
    }
    let record = state
        .store(move |store| store.add_sound(&name, &pcm))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((StatusCode::CREATED, Json(Sound::from(record))).into_response())
}

#[utoipa::path(get, path = "/sound/", operation_id = "list_sounds", tag = "sound",
    responses((status = 200, description = "Every sound", body = Vec<Sound>)))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<Sound>>, ApiError> {
    let sounds = state
        .store(|store| store.sounds())
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(sounds.into_iter().map(Sound::from).collect()))
}

#[utoipa::path(get, path = "/sound/{id}", operation_id = "get_sound", tag = "sound",
    params(("id" = i64, Path, description = "Sound id")),
    responses(
        (status = 200, description = "The sound", body = Sound),
        (status = 404, description = "No such sound", body = ErrorBody),
    ))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Sound>, ApiError> {
    let sound = state
        .store(move |store| store.sound(id))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found(format!("no sound {id}")))?;
    Ok(Json(sound.into()))
}

#[utoipa::path(get, path = "/sound/{id}/audio", operation_id = "get_sound_audio", tag = "sound",
    params(("id" = i64, Path, description = "Sound id")),
    responses(
        (status = 200, description = "The sound as the bridge plays it: 8 kHz mono WAV", content_type = "audio/wav", body = Vec<u8>),
        (status = 404, description = "No such sound", body = ErrorBody),
    ))]
pub(crate) async fn audio(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let pcm = state
        .store(move |store| store.sound_pcm(id))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found(format!("no sound {id}")))?;
    let wav = chorus_store::clip_to_wav(&pcm);
    Ok(([(axum::http::header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}

#[utoipa::path(delete, path = "/sound/{id}", operation_id = "delete_sound", tag = "sound",
    params(("id" = i64, Path, description = "Sound id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such sound", body = ErrorBody),
        (status = 409, description = "A conference uses it", body = ErrorBody),
    ))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    match state.store(move |store| store.delete_sound(id)).await? {
        Ok(true) => {
            state
                .inner
                .clips
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&id);
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(ApiError::not_found(format!("no sound {id}"))),
        Err(StoreError::Rejected(reason)) => Err(ApiError::conflict(reason)),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

pub(crate) fn routes(limits: Limits) -> Router<AppState> {
    // The upload reads its body as a stream and enforces the limit itself, to answer
    // with a JSON 413 naming it.
    let _ = limits;
    let collection = get(list).post(upload);
    Router::new()
        .route("/sound/", collection.clone())
        .route("/sound", collection)
        .route("/sound/{id}", get(get_one).delete(delete))
        .route("/sound/{id}/audio", get(audio))
}
