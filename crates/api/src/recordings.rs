//! `/extension/{extension_id}/conference/recordings/`: recordings of invited legs and of
//! whole conferences.

use crate::conference::check_id;
use crate::live::require_extension;
use crate::{ApiError, AppState, error::ErrorBody};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::path::PathBuf;
use utoipa::ToSchema;

/// One recording: of an invited leg, a stereo 8 kHz WAV (left: what the invited party
/// said, right: what they heard); of the whole conference, a mono 16 kHz WAV of the mix.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RecordingInfo {
    /// The id (the file's name without `.wav`).
    id: String,
    /// `leg` (an invited number's) or `conference` (the whole mix, asked by an operator).
    kind: String,
    /// The invited number's URI (null while recording).
    number: Option<String>,
    /// The leg's SIP Call-ID (null while recording).
    call_id: Option<String>,
    /// Start, RFC 3339 (null while recording).
    start: Option<String>,
    /// End, RFC 3339 (null while recording).
    end: Option<String>,
    /// Length in milliseconds (null while recording).
    duration_ms: Option<u64>,
    /// Whether the leg has hung up and the file is complete.
    finished: bool,
    /// File size in bytes.
    bytes: u64,
}

fn check_recording_id(id: &str) -> Result<(), ApiError> {
    check_id("recording_id", id, 100)
}

/// The extension's recordings folder (404 for an unknown extension).
async fn folder(state: &AppState, extension: &str) -> Result<PathBuf, ApiError> {
    require_extension(state, extension).await?;
    Ok(state.inner.recordings.join(extension))
}

fn describe(wav: &std::path::Path) -> Option<RecordingInfo> {
    let id = wav.file_stem()?.to_string_lossy().into_owned();
    let bytes = std::fs::metadata(wav).ok()?.len();
    let sidecar: Option<serde_json::Value> = std::fs::read_to_string(wav.with_extension("json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let text = |key: &str| {
        sidecar
            .as_ref()
            .and_then(|s| s[key].as_str())
            .map(str::to_owned)
    };
    // Conference recordings are named `…-conference`; their sidecar says so too.
    let kind = text("kind").unwrap_or_else(|| {
        if id.contains("-conference") {
            "conference".to_owned()
        } else {
            "leg".to_owned()
        }
    });
    Some(RecordingInfo {
        id,
        kind,
        number: text("number"),
        call_id: text("call_id"),
        start: text("start"),
        end: text("end"),
        duration_ms: sidecar.as_ref().and_then(|s| s["duration_ms"].as_u64()),
        finished: sidecar.is_some(),
        bytes,
    })
}

#[utoipa::path(get, path = "/extension/{extension_id}/conference/recordings/", operation_id = "list_recordings", tag = "recordings",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "Recordings of this conference: of legs invited into it (kind leg) and of the whole conference (kind conference)", body = Vec<RecordingInfo>),
        (status = 404, description = "Unknown extension", body = ErrorBody),
        (status = 422, description = "Bad extension_id", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<Json<Vec<RecordingInfo>>, ApiError> {
    let folder = folder(&state, &extension).await?;
    let mut recordings: Vec<RecordingInfo> = std::fs::read_dir(&folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wav"))
                .filter_map(|p| describe(&p))
                .collect()
        })
        .unwrap_or_default();
    recordings.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(recordings))
}

#[utoipa::path(get, path = "/extension/{extension_id}/conference/recordings/{recording_id}", operation_id = "download_recording", tag = "recordings",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("recording_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,100}$")),
    responses(
        (status = 200, description = "The WAV file", content_type = "audio/wav", body = Vec<u8>),
        (status = 404, description = "No such recording", body = ErrorBody),
        (status = 422, description = "Bad id", body = ErrorBody),
    ))]
pub(crate) async fn download(
    State(state): State<AppState>,
    Path((extension, recording)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_recording_id(&recording)?;
    let wav = folder(&state, &extension)
        .await?
        .join(format!("{recording}.wav"));
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(&wav))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|_| ApiError::not_found(format!("no recording {recording}")))?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}

#[utoipa::path(delete, path = "/extension/{extension_id}/conference/recordings/{recording_id}", operation_id = "delete_recording", tag = "recordings",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("recording_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,100}$")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such recording", body = ErrorBody),
        (status = 409, description = "Still recording", body = ErrorBody),
        (status = 422, description = "Bad id", body = ErrorBody),
    ))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path((extension, recording)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_recording_id(&recording)?;
    let wav = folder(&state, &extension)
        .await?
        .join(format!("{recording}.wav"));
    if !wav.exists() {
        return Err(ApiError::not_found(format!("no recording {recording}")));
    }
    let sidecar = wav.with_extension("json");
    if !sidecar.exists() {
        return Err(ApiError::conflict(format!(
            "recording {recording} is still being written"
        )));
    }
    std::fs::remove_file(&wav).map_err(|e| ApiError::internal(e.to_string()))?;
    let _ = std::fs::remove_file(&sidecar);
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/extension/{extension_id}/conference/recordings/",
            get(list),
        )
        .route("/extension/{extension_id}/conference/recordings", get(list))
        .route(
            "/extension/{extension_id}/conference/recordings/{recording_id}",
            get(download).delete(delete),
        )
}
