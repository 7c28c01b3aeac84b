//! Operator actions on a conference as a whole: mute or unmute every participant (the
//! rule of `*91`/`*90`: moderators untouched), play a stored sound to everyone or to one
//! member (`play_finished` follows on `/events`), record the whole conference, and
//! invite a number (the `*8` path).

use crate::live::require_extension;
use crate::{ApiError, AppState, error::ErrorBody};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chorus_net::Control;
use chorus_types::Clip;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// What mute-all and unmute-all answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Changed {
    /// Participants whose state changed (those already so, and moderators, are not).
    members_changed: usize,
}

/// What starting or stopping a conference's recording answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordingState {
    /// Whether the whole conference is being recorded now.
    recording: bool,
    /// Whether this request changed that (asking twice changes nothing).
    changed: bool,
}

/// The body of a play.
#[derive(Debug, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name bad fields
pub(crate) struct PlayRequest {
    /// A sound id from `POST /sound/`.
    sound: i64,
}

/// What a play answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Playing {
    /// Named again by the `play_finished` event when the sound has ended for everyone.
    play_id: u64,
}

/// Asks the bridge something of a live conference: 404 for an unknown extension, or
/// when the bridge answers `None` (nobody is in it).
async fn ask_live<T>(
    state: &AppState,
    extension: String,
    build: impl FnOnce(String, tokio::sync::oneshot::Sender<Option<T>>) -> Control,
) -> Result<T, ApiError> {
    require_extension(state, &extension).await?;
    state
        .inner
        .control
        .ask(|reply| build(extension, reply))
        .await?
        .ok_or_else(|| ApiError::not_found("nobody is in that conference"))
}

async fn set_all_muted(
    state: &AppState,
    extension: String,
    muted: bool,
) -> Result<Json<Changed>, ApiError> {
    let members_changed = ask_live(state, extension, |conference, reply| Control::SetAllMuted {
        conference,
        muted,
        reply,
    })
    .await?;
    Ok(Json(Changed { members_changed }))
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/mute-all", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "Every participant muted (as *91: moderators untouched)", body = Changed),
        (status = 404, description = "Unknown extension, or nobody in it", body = ErrorBody),
        (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn mute_all(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    set_all_muted(&state, extension, true).await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/unmute-all", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "Every participant unmuted (as *90)", body = Changed),
        (status = 404, description = "Unknown extension, or nobody in it", body = ErrorBody),
        (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn unmute_all(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    set_all_muted(&state, extension, false).await
}

async fn record(
    state: &AppState,
    extension: String,
    on: bool,
) -> Result<Json<RecordingState>, ApiError> {
    let changed = ask_live(state, extension, |conference, reply| {
        Control::RecordConference {
            conference,
            on,
            reply,
        }
    })
    .await?;
    Ok(Json(RecordingState {
        recording: on,
        changed,
    }))
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/recording/start", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The whole conference is recorded from now: the mix everyone hears, mono 16 kHz WAV, written every second (a crash keeps all but the last second). It is listed with the conference's recordings (kind conference) and ends at stop, or when the conference empties; recording_started and recording_stopped (member_id null) follow on /events", body = RecordingState),
        (status = 404, description = "Unknown extension, or nobody in it", body = ErrorBody),
        (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn record_start(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<Json<RecordingState>, ApiError> {
    record(&state, extension, true).await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/recording/stop", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The conference's recording is finished (its sidecar written)", body = RecordingState),
        (status = 404, description = "Unknown extension, or nobody in it", body = ErrorBody),
        (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn record_stop(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<Json<RecordingState>, ApiError> {
    record(&state, extension, false).await
}

/// The one field `name` of a JSON object body, read by `read`; every fault named (a
/// stray field, a missing or wrong one).
fn one_field<T>(
    body: &[u8],
    name: &str,
    what: &str,
    read: impl Fn(&Value) -> Option<T>,
) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_json(format!("malformed JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let mut errors: Vec<ApiError> = fields
        .keys()
        .filter(|n| n.as_str() != name)
        .map(|n| ApiError::validation(n, format!("is not a field of {what}")))
        .collect();
    let found = fields.get(name).and_then(read);
    if found.is_none() {
        errors.push(ApiError::validation(
            name,
            format!("is missing or wrong in {what}"),
        ));
    }
    match (ApiError::invalid(errors), found) {
        (None, Some(found)) => Ok(found),
        (Some(error), _) => Err(error),
        (None, None) => Err(ApiError::validation(name, "is missing")),
    }
}

/// The sound a play body names: a positive id.
fn read_play(body: &[u8]) -> Result<i64, ApiError> {
    one_field(body, "sound", "a play (a sound id)", |v| {
        v.as_i64().filter(|id| *id > 0)
    })
}

/// The sound, decoded once and kept (stored sounds never change).
async fn clip(state: &AppState, sound: i64) -> Result<Clip, ApiError> {
    let cached = state
        .inner
        .clips
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&sound)
        .cloned();
    if let Some(clip) = cached {
        return Ok(clip);
    }
    let pcm = state
        .store(move |store| store.sound_pcm(sound))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::validation("sound", format!("no sound {sound}")))?;
    let clip: Clip = pcm.into();
    state
        .inner
        .clips
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(sound, clip.clone());
    Ok(clip)
}

async fn play(
    state: &AppState,
    extension: String,
    member: Option<u64>,
    body: &[u8],
) -> Result<(StatusCode, Json<Playing>), ApiError> {
    require_extension(state, &extension).await?;
    let sound = read_play(body)?;
    let clip = clip(state, sound).await?;
    let play = state
        .inner
        .control
        .ask(|reply| Control::Play {
            conference: extension,
            member,
            clip,
            reply,
        })
        .await?;
    match play {
        Some(play_id) => Ok((StatusCode::ACCEPTED, Json(Playing { play_id }))),
        None if member.is_some() => Err(ApiError::not_found("no such member in that conference")),
        None => Err(ApiError::not_found("nobody is in that conference")),
    }
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/play", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body = PlayRequest,
    responses(
        (status = 202, description = "Playing to everyone in the conference, over what they hear", body = Playing),
        (status = 404, description = "Unknown extension, or nobody in it", body = ErrorBody),
        (status = 422, description = "Bad extension_id or sound (named)", body = ErrorBody)))]
pub(crate) async fn play_all(
    State(state): State<AppState>,
    Path(extension): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Playing>), ApiError> {
    play(&state, extension, None, &body).await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/{member_id}/play", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("member_id" = u64, Path)),
    request_body = PlayRequest,
    responses(
        (status = 202, description = "Playing to this member alone, over what it hears", body = Playing),
        (status = 404, description = "Unknown extension or member", body = ErrorBody),
        (status = 422, description = "Bad extension_id or sound (named)", body = ErrorBody)))]
pub(crate) async fn play_one(
    State(state): State<AppState>,
    Path((extension, member)): Path<(String, u64)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Playing>), ApiError> {
    play(&state, extension, Some(member), &body).await
}

/// The body of an invitation.
#[derive(Debug, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name bad fields
pub(crate) struct DialRequest {
    /// The number, digits only, within the bridge's dial-out rules.
    number: String,
}

/// What an invitation answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Dialling {
    /// The invited leg: its member id once it answers (`member_joined`); `dial_out` and
    /// `call_ended` events tell the rest.
    member_id: u64,
}

/// The number an invitation body names: 1 to 32 characters (the dial-out rules judge
/// the rest).
fn read_number(body: &[u8]) -> Result<String, ApiError> {
    one_field(body, "number", "an invitation (a phone number)", |v| {
        v.as_str()
            .filter(|n| !n.is_empty() && n.len() <= 32)
            .map(str::to_owned)
    })
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body = DialRequest,
    responses(
        (status = 202, description = "Dialling through the trunk, as *8 does (same number rules, caps, recording)", body = Dialling),
        (status = 404, description = "Unknown extension", body = ErrorBody),
        (status = 409, description = "No dial-out trunk, or the conference is locked, full or has its invitations ringing", body = ErrorBody),
        (status = 422, description = "Bad extension_id, or a number the dial-out rules refuse (named)", body = ErrorBody),
        (status = 429, description = "The hourly cap on invitations is used up", body = ErrorBody)))]
pub(crate) async fn dial(
    State(state): State<AppState>,
    Path(extension): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Dialling>), ApiError> {
    require_extension(&state, &extension).await?;
    let number = read_number(&body)?;
    let dialled = state
        .inner
        .control
        .ask(|reply| Control::DialOut {
            conference: extension,
            number,
            reply,
        })
        .await?;
    use chorus_engine::DialRefusal;
    match dialled {
        Ok(member_id) => Ok((StatusCode::ACCEPTED, Json(Dialling { member_id }))),
        Err(DialRefusal::NoTrunk) => Err(ApiError::conflict(
            "the bridge has no dial-out trunk (dialout_uri)",
        )),
        Err(DialRefusal::NoConference) => Err(ApiError::not_found("no such extension")),
        Err(DialRefusal::Number) => Err(ApiError::validation(
            "number",
            "is not a number the dial-out rules allow",
        )),
        Err(DialRefusal::HourlyCap) => Err(ApiError::client(
            StatusCode::TOO_MANY_REQUESTS,
            "the hourly cap on invitations is used up",
        )),
        Err(DialRefusal::Busy) => Err(ApiError::conflict(
            "the conference is locked or full, or has as many invitations ringing as allowed",
        )),
    }
}

/// The body of a move.
#[derive(Debug, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name bad fields
pub(crate) struct MoveRequest {
    /// The extension to move the member to.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    to: String,
}

/// The extension a move body names.
fn read_destination(body: &[u8]) -> Result<String, ApiError> {
    one_field(body, "to", "a move (an extension id)", |v| {
        v.as_str()
            .filter(|to| {
                (1..=64).contains(&to.len())
                    && to
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(str::to_owned)
    })
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/{member_id}/move", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("member_id" = u64, Path)),
    request_body = MoveRequest,
    responses(
        (status = 204, description = "Moved without a new call: the member leaves (member_left, reason moved) and joins the other conference as a participant (member_joined) under its rules (mute_non_moderator, entry sound, notifications); its PIN is not asked"),
        (status = 404, description = "Unknown extension, or no such member in it", body = ErrorBody),
        (status = 409, description = "The conference to go to is locked or full, or lives on another node", body = ErrorBody),
        (status = 422, description = "Bad extension_id, or a `to` that is no other extension (named)", body = ErrorBody)))]
pub(crate) async fn move_member(
    State(state): State<AppState>,
    Path((extension, member)): Path<(String, u64)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    require_extension(&state, &extension).await?;
    let to = read_destination(&body)?;
    // A conference another node hosts cannot take a call this node carries.
    if let Some(host) = state.inner.cluster.get().and_then(|d| d.host_of(&to)) {
        return Err(ApiError::conflict(format!(
            "{to} lives on node {}: a member cannot be moved between nodes",
            host.name
        )));
    }
    let moved = state
        .inner
        .control
        .ask(|reply| Control::MoveMember {
            conference: extension,
            member,
            to,
            reply,
        })
        .await?;
    use chorus_engine::MoveRefusal;
    match moved {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(MoveRefusal::NoMember) => Err(ApiError::not_found("no such member")),
        Err(MoveRefusal::NoConference) => Err(ApiError::validation("to", "is no extension")),
        Err(MoveRefusal::Same) => Err(ApiError::validation(
            "to",
            "is the conference the member is in",
        )),
        Err(MoveRefusal::Locked) => Err(ApiError::conflict("the conference to go to is locked")),
        Err(MoveRefusal::Full) => Err(ApiError::conflict(
            "the conference to go to is full (max_members)",
        )),
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/extension/{extension_id}/conference/mute-all",
            post(mute_all),
        )
        .route(
            "/extension/{extension_id}/conference/unmute-all",
            post(unmute_all),
        )
        .route("/extension/{extension_id}/conference/play", post(play_all))
        .route(
            "/extension/{extension_id}/conference/members/{member_id}/move",
            post(move_member),
        )
        .route(
            "/extension/{extension_id}/conference/recording/start",
            post(record_start),
        )
        .route(
            "/extension/{extension_id}/conference/recording/stop",
            post(record_stop),
        )
        .route(
            "/extension/{extension_id}/conference/members/{member_id}/play",
            post(play_one),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_names_its_number_and_every_stray_field() {
        assert_eq!(
            read_number(br#"{"number": "5551234"}"#).ok().as_deref(),
            Some("5551234")
        );
        for (body, fields) in [
            (r#"{}"#, vec!["number"]),
            (r#"{"number": 5551234}"#, vec!["number"]),
            (r#"{"number": ""}"#, vec!["number"]),
            (r#"{"number": "1", "caller_id": "x"}"#, vec!["caller_id"]),
        ] {
            let error = read_number(body.as_bytes()).expect_err(body);
            assert_eq!(error.fields(), fields, "{body}");
        }
    }

    #[test]
    fn a_move_names_its_destination_and_every_stray_field() {
        assert_eq!(
            read_destination(br#"{"to": "501"}"#).ok().as_deref(),
            Some("501")
        );
        for (body, fields) in [
            (r#"{}"#, vec!["to"]),
            (r#"{"to": 501}"#, vec!["to"]),
            (r#"{"to": ""}"#, vec!["to"]),
            (r#"{"to": "../501"}"#, vec!["to"]),
            (r#"{"to": "501", "role": "moderator"}"#, vec!["role"]),
        ] {
            let error = read_destination(body.as_bytes()).expect_err(body);
            assert_eq!(error.fields(), fields, "{body}");
        }
    }

    #[test]
    fn a_play_names_its_sound_and_every_stray_field() {
        assert_eq!(read_play(br#"{"sound": 3}"#).ok(), Some(3));
        for (body, fields) in [
            (r#"{}"#, vec!["sound"]),
            (r#"{"sound": "3"}"#, vec!["sound"]),
            (r#"{"sound": -1}"#, vec!["sound"]),
            (r#"{"sound": 3, "loud": true}"#, vec!["loud"]),
        ] {
            let error = read_play(body.as_bytes()).expect_err(body);
            assert_eq!(error.fields(), fields, "{body}");
        }
        assert!(read_play(b"{").is_err());
        assert_eq!(
            read_play(b"[]").map_err(|e| e.status()).err(),
            Some(StatusCode::UNPROCESSABLE_ENTITY)
        );
    }
}
