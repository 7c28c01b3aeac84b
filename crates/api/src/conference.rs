//! `/extension/{extension_id}/conference/`: the conference properties.

use crate::{ApiError, AppState, Limits, error::ErrorBody};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chorus_engine::ExtensionConfig;
use chorus_store::{ConferenceRecord, Store, StoreError, UpdateFn};
use chorus_types::Clip;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use utoipa::ToSchema;

/// A conference extension's properties, exactly as the product names them.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub(crate) struct Conference {
    /// On entry the caller records their name; it is announced to everyone.
    announce_caller_name: bool,
    /// Each talker is brought towards one speech level (slowly, at most ±12 dB); null
    /// follows the bridge's `--auto-gain` (on unless the operator turned it off).
    auto_gain: Option<bool>,
    /// Sound played when someone enters; null plays the built-in chime.
    enter_sound: Option<i64>,
    /// Most participants at once; null means 100.
    max_members: Option<u32>,
    /// Moderator PIN; may not be set without `pin`.
    moderator_pin: Option<String>,
    /// Played while only one participant is in; null plays the built-in music.
    music_on_hold_sound: Option<i64>,
    /// Everyone but moderators enters muted and may not use *1.
    mute_non_moderator: bool,
    /// The noise around each talker's voice is suppressed (RNNoise); null follows the
    /// bridge's `--noise-suppression` (off unless the operator turned it on).
    noise_suppression: Option<bool>,
    /// Participant PIN; no entry without it when set.
    pin: Option<String>,
    /// Record participants invited with *8.
    record_enabled: bool,
}

impl From<ConferenceRecord> for Conference {
    fn from(r: ConferenceRecord) -> Self {
        Conference {
            announce_caller_name: r.announce_caller_name,
            auto_gain: r.auto_gain,
            enter_sound: r.enter_sound,
            max_members: r.max_members,
            moderator_pin: r.moderator_pin,
            music_on_hold_sound: r.music_on_hold_sound,
            mute_non_moderator: r.mute_non_moderator,
            noise_suppression: r.noise_suppression,
            pin: r.pin,
            record_enabled: r.record_enabled,
        }
    }
}

/// A PUT body: any subset of the properties; `null` resets one to its default.
#[derive(Debug, Clone, Default, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name bad fields
pub(crate) struct ConferencePatch {
    announce_caller_name: Option<bool>,
    auto_gain: Option<bool>,
    enter_sound: Option<i64>,
    #[schema(minimum = 1)]
    max_members: Option<u32>,
    #[schema(pattern = "^[0-9]{1,16}$")]
    moderator_pin: Option<String>,
    music_on_hold_sound: Option<i64>,
    mute_non_moderator: Option<bool>,
    noise_suppression: Option<bool>,
    #[schema(pattern = "^[0-9]{1,16}$")]
    pin: Option<String>,
    record_enabled: Option<bool>,
}

/// Present fields of a PUT: `Some(None)` is an explicit null.
#[derive(Debug, Default)]
struct Patch {
    announce_caller_name: Option<Option<bool>>,
    auto_gain: Option<Option<bool>>,
    enter_sound: Option<Option<i64>>,
    max_members: Option<Option<i64>>,
    moderator_pin: Option<Option<String>>,
    music_on_hold_sound: Option<Option<i64>>,
    mute_non_moderator: Option<Option<bool>>,
    noise_suppression: Option<Option<bool>>,
    pin: Option<Option<String>>,
    record_enabled: Option<Option<bool>>,
}

fn boolean(field: &str, value: &Value) -> Result<Option<bool>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(ApiError::validation(field, "must be true, false or null")),
    }
}

fn integer(field: &str, value: &Value) -> Result<Option<i64>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::validation(field, "must be a whole number or null")),
        _ => Err(ApiError::validation(
            field,
            "must be a whole number or null",
        )),
    }
}

fn digits(field: &str, value: &Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => {
            if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_digit()) {
                Err(ApiError::validation(field, "must be 1 to 16 digits"))
            } else {
                Ok(Some(s.clone()))
            }
        }
        _ => Err(ApiError::validation(
            field,
            "must be a string of digits or null",
        )),
    }
}

#[cfg(test)]
fn parse_patch(body: &[u8]) -> Result<Patch, ApiError> {
    let (patch, errors) = read_patch(body)?;
    match ApiError::invalid(errors) {
        Some(error) => Err(error),
        None => Ok(patch),
    }
}

/// The fields that read well, and an error for each that did not; `Err` only when the
/// body is not a JSON object at all.
fn read_patch(body: &[u8]) -> Result<(Patch, Vec<ApiError>), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_json(format!("malformed JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    Ok(patch_from(&fields))
}

/// Reads every field, keeping an error for each one at fault.
fn patch_from(fields: &Map<String, Value>) -> (Patch, Vec<ApiError>) {
    let mut patch = Patch::default();
    let mut errors = Vec::new();
    let mut take = |result: Result<(), ApiError>| {
        if let Err(e) = result {
            errors.push(e);
        }
    };
    for (name, value) in fields {
        take(match name.as_str() {
            "announce_caller_name" => {
                boolean(name, value).map(|v| patch.announce_caller_name = Some(v))
            }
            "mute_non_moderator" => {
                boolean(name, value).map(|v| patch.mute_non_moderator = Some(v))
            }
            "record_enabled" => boolean(name, value).map(|v| patch.record_enabled = Some(v)),
            "auto_gain" => boolean(name, value).map(|v| patch.auto_gain = Some(v)),
            "noise_suppression" => boolean(name, value).map(|v| patch.noise_suppression = Some(v)),
            "enter_sound" => integer(name, value).map(|v| patch.enter_sound = Some(v)),
            "music_on_hold_sound" => {
                integer(name, value).map(|v| patch.music_on_hold_sound = Some(v))
            }
            "max_members" => integer(name, value).map(|v| patch.max_members = Some(v)),
            "pin" => digits(name, value).map(|v| patch.pin = Some(v)),
            "moderator_pin" => digits(name, value).map(|v| patch.moderator_pin = Some(v)),
            other => Err(ApiError::validation(other, "unknown field")),
        });
    }
    (patch, errors)
}

/// Applies a patch to the current record and checks the whole result, naming every
/// field at fault.
fn apply(
    current: ConferenceRecord,
    patch: &Patch,
    limits: &Limits,
    sound_exists: &dyn Fn(i64) -> bool,
) -> Result<ConferenceRecord, ApiError> {
    let cap = limits.max_members_cap;
    let mut r = current;
    let mut errors = Vec::new();
    // Short PINs fall to guessing in minutes even with the guessing limits.
    for (field, value) in [("pin", &patch.pin), ("moderator_pin", &patch.moderator_pin)] {
        if let Some(Some(pin)) = value
            && pin.len() < limits.min_pin_digits
        {
            errors.push(ApiError::validation(
                field,
                format!("must be at least {} digits", limits.min_pin_digits),
            ));
        }
    }
    if let Some(v) = patch.announce_caller_name {
        r.announce_caller_name = v.unwrap_or(false);
    }
    if let Some(v) = patch.mute_non_moderator {
        r.mute_non_moderator = v.unwrap_or(false);
    }
    if let Some(v) = patch.record_enabled {
        r.record_enabled = v.unwrap_or(false);
    }
    if let Some(v) = patch.auto_gain {
        r.auto_gain = v;
    }
    if let Some(v) = patch.noise_suppression {
        r.noise_suppression = v;
    }
    if let Some(v) = &patch.pin {
        r.pin.clone_from(v);
    }
    if let Some(v) = &patch.moderator_pin {
        r.moderator_pin.clone_from(v);
    }
    if let Some(v) = patch.max_members {
        match v {
            None => r.max_members = None,
            Some(n) if n >= 1 && n <= i64::from(cap) => r.max_members = Some(n as u32),
            Some(_) => errors.push(ApiError::validation(
                "max_members",
                format!("must be between 1 and {cap}"),
            )),
        }
    }
    for (field, value, slot) in [
        ("enter_sound", patch.enter_sound, &mut r.enter_sound),
        (
            "music_on_hold_sound",
            patch.music_on_hold_sound,
            &mut r.music_on_hold_sound,
        ),
    ] {
        if let Some(v) = value {
            match v {
                Some(id) if !sound_exists(id) => errors.push(ApiError::validation(
                    field,
                    format!("sound {id} does not exist"),
                )),
                _ => *slot = v,
            }
        }
    }
    if r.moderator_pin.is_some() && r.pin.is_none() {
        errors.push(ApiError::validation(
            "moderator_pin",
            "may not be set without pin",
        ));
    }
    if r.moderator_pin.is_some() && r.moderator_pin == r.pin {
        errors.push(ApiError::validation(
            "moderator_pin",
            "must differ from pin",
        ));
    }
    match ApiError::invalid(errors) {
        Some(error) => Err(error),
        None => Ok(r),
    }
}

/// The check a config-seeded extension goes through: the rules of a PUT that sets every
/// property, so the file can store nothing the API would refuse. The error names the
/// fields.
pub fn seed_check(record: ConferenceRecord, limits: Limits) -> Box<UpdateFn<'static>> {
    Box::new(move |current, exists| {
        let patch = Patch {
            announce_caller_name: Some(Some(record.announce_caller_name)),
            auto_gain: Some(record.auto_gain),
            noise_suppression: Some(record.noise_suppression),
            enter_sound: Some(record.enter_sound),
            max_members: Some(record.max_members.map(i64::from)),
            moderator_pin: Some(record.moderator_pin.clone()),
            music_on_hold_sound: Some(record.music_on_hold_sound),
            mute_non_moderator: Some(Some(record.mute_non_moderator)),
            pin: Some(record.pin.clone()),
            record_enabled: Some(Some(record.record_enabled)),
        };
        apply(current.unwrap_or_default(), &patch, &limits, exists).map_err(|e| {
            e.body_errors()
                .into_iter()
                .map(|(field, message)| format!("{field}: {message}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    })
}

/// A version tag of a record (FNV-1a of its JSON): equal records, equal tags, across
/// restarts too.
fn etag(record: &ConferenceRecord) -> String {
    let json = serde_json::to_string(&Conference::from(record.clone())).unwrap_or_default();
    let hash = json.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// Whether an `If-Match` value admits the current version (`None`: nothing stored).
fn if_match_admits(if_match: &str, current: Option<&str>) -> bool {
    let Some(current) = current else {
        return false;
    };
    if_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == current)
}

/// Checks a path id: 1 to `max` of A-Z, a-z, 0-9, `_` and `-`.
pub(crate) fn check_id(field: &str, id: &str, max: usize) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= max
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            field,
            format!("must be 1 to {max} of A-Z, a-z, 0-9, _ and -"),
        ))
    }
}

/// Checks the `extension_id` path segment.
pub(crate) fn check_extension_id(id: &str) -> Result<(), ApiError> {
    check_id("extension_id", id, 64)
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::internal(e.to_string())
}

#[utoipa::path(get, path = "/extension/{extension_id}/conference/", tag = "conference",
    params(("extension_id" = String, Path, description = "1-64 of A-Z, a-z, 0-9, _ and -", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The conference properties, with their version in ETag", body = Conference,
            headers(("ETag" = String, description = "The version, for If-Match"))),
        (status = 404, description = "Unknown extension", body = ErrorBody),
        (status = 422, description = "Bad extension_id", body = ErrorBody),
    ))]
pub(crate) async fn get_conference(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<Response, ApiError> {
    check_extension_id(&extension)?;
    let id = extension.clone();
    let record = state
        .store(move |store| store.conference(&id))
        .await?
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("no extension {extension}")))?;
    Ok(with_etag(StatusCode::OK, record))
}

fn with_etag(status: StatusCode, record: ConferenceRecord) -> Response {
    let tag = etag(&record);
    let mut response = (status, Json(Conference::from(record))).into_response();
    if let Ok(value) = header::HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

#[utoipa::path(put, path = "/extension/{extension_id}/conference/", tag = "conference",
    params(
        ("extension_id" = String, Path, description = "1-64 of A-Z, a-z, 0-9, _ and -", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("If-Match" = Option<String>, Header, description = "Change only if the stored version still has this ETag (or `*`: only if it exists)"),
    ),
    request_body = ConferencePatch,
    responses(
        (status = 200, description = "Changed; the whole resource and its new ETag", body = Conference,
            headers(("ETag" = String, description = "The new version"))),
        (status = 201, description = "Created; the whole resource and its ETag", body = Conference,
            headers(("ETag" = String, description = "The version"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 412, description = "If-Match names a version that is no longer current", body = ErrorBody),
        (status = 422, description = "Fields break rules; every one is named", body = ErrorBody),
    ))]
pub(crate) async fn put_conference(
    State(state): State<AppState>,
    Path(extension): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_extension_id(&extension)?;
    // Fields that do not even read are reported with those that break a rule.
    let (patch, mut unreadable) = read_patch(&body)?;
    let limits = state.inner.limits;
    let if_match = headers
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    let id = extension.clone();
    let result = state
        .store(move |store| {
            let mut refusal = None;
            let outcome = store.update_conference(
                &id,
                Box::new(|current, exists| {
                    // Every field at fault first (those that do not read and those that
                    // break a rule), whatever the version; then the version, checked
                    // inside the transaction so two operators cannot both win.
                    let tag = current.as_ref().map(etag);
                    let mut errors = std::mem::take(&mut unreadable);
                    let record = match apply(current.unwrap_or_default(), &patch, &limits, exists) {
                        Ok(record) => Some(record),
                        Err(e) => {
                            errors.extend(e.split());
                            None
                        }
                    };
                    if let Some(error) = ApiError::invalid(errors) {
                        refusal = Some(error);
                        return Err(String::from("refused"));
                    }
                    if let Some(expected) = &if_match
                        && !if_match_admits(expected, tag.as_deref())
                    {
                        refusal = Some(ApiError::precondition_failed());
                        return Err(String::from("refused"));
                    }
                    record.ok_or_else(|| String::from("refused"))
                }),
            );
            (outcome, refusal)
        })
        .await?;
    let updated = match result {
        (Ok(updated), _) => updated,
        (Err(StoreError::Rejected(_)), Some(refusal)) => return Err(refusal),
        (Err(e), _) => return Err(store_error(e)),
    };
    state.publish_extensions().await?;
    let status = if updated.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(status, updated.record))
}

#[utoipa::path(delete, path = "/extension/{extension_id}/conference/", tag = "conference",
    params(("extension_id" = String, Path, description = "1-64 of A-Z, a-z, 0-9, _ and -", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 204, description = "Deleted; anyone in it heard goodbye and was hung up on"),
        (status = 404, description = "Unknown extension", body = ErrorBody),
        (status = 422, description = "Bad extension_id", body = ErrorBody),
    ))]
pub(crate) async fn delete_conference(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_extension_id(&extension)?;
    let id = extension.clone();
    let deleted = state
        .store(move |store| store.delete_conference(&id))
        .await?
        .map_err(store_error)?;
    if !deleted {
        return Err(ApiError::not_found(format!("no extension {extension}")));
    }
    let _ = state
        .inner
        .control
        .send(chorus_net::Control::EndConference(extension));
    state.publish_extensions().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One page of the configured extensions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExtensionPage {
    /// The extensions on this page, in id order.
    items: Vec<ExtensionItem>,
    /// How many extensions there are in all.
    total: usize,
    /// The offset asked for.
    offset: usize,
    /// The page size used.
    limit: usize,
}

/// An extension and its properties.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExtensionItem {
    /// The extension id.
    extension_id: String,
    /// Its conference properties.
    conference: Conference,
}

/// Paging of `GET /extension/`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// Extensions to skip [default: 0].
    #[param(minimum = 0, maximum = 1_000_000_000)]
    offset: Option<u64>,
    /// Page size, 1-1000 [default: 100].
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/extension/", tag = "conference", params(Paging),
    responses(
        (status = 200, description = "The configured extensions, a page at a time", body = ExtensionPage),
        (status = 400, description = "Bad paging parameters", body = ErrorBody),
        (status = 422, description = "limit out of range", body = ErrorBody),
    ))]
pub(crate) async fn list_extensions(
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<ExtensionPage>, ApiError> {
    let offset = paging.offset.unwrap_or(0);
    let limit = paging.limit.unwrap_or(100);
    let mut errors = Vec::new();
    if !(1..=1000).contains(&limit) {
        errors.push(ApiError::validation("limit", "must be between 1 and 1000"));
    }
    if offset > 1_000_000_000 {
        errors.push(ApiError::validation("offset", "must be at most 1000000000"));
    }
    if let Some(error) = ApiError::invalid(errors) {
        return Err(error);
    }
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let all = state
        .store(|store| store.conferences())
        .await?
        .map_err(store_error)?;
    let total = all.len();
    let items = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(extension_id, record)| ExtensionItem {
            extension_id,
            conference: record.into(),
        })
        .collect();
    Ok(Json(ExtensionPage {
        items,
        total,
        offset,
        limit,
    }))
}

pub(crate) fn routes() -> Router<AppState> {
    let conference = get(get_conference)
        .put(put_conference)
        .delete(delete_conference);
    Router::new()
        .route("/extension/", get(list_extensions))
        .route("/extension", get(list_extensions))
        .route("/extension/{extension_id}/conference/", conference.clone())
        .route("/extension/{extension_id}/conference", conference)
}

/// The properties of a new conference in a POST body (empty or null: every default), checked by
/// the rules of a PUT that creates an extension, naming every field at fault.
pub(crate) fn new_record(
    body: &[u8],
    limits: &Limits,
    sound_exists: &dyn Fn(i64) -> bool,
) -> Result<ConferenceRecord, ApiError> {
    // No body, or JSON null: every default.
    let absent =
        body.iter().all(u8::is_ascii_whitespace) || String::from_utf8_lossy(body).trim() == "null";
    let (patch, mut errors) = if absent {
        (Patch::default(), Vec::new())
    } else {
        read_patch(body)?
    };
    let record = match apply(ConferenceRecord::default(), &patch, limits, sound_exists) {
        Ok(record) => Some(record),
        Err(e) => {
            errors.extend(e.split());
            None
        }
    };
    match (ApiError::invalid(errors), record) {
        (None, Some(record)) => Ok(record),
        (Some(error), _) => Err(error),
        (None, None) => Err(ApiError::internal("a refused record without a reason")),
    }
}

/// Every stored extension as the engine wants it, with its sounds decoded (`clips` caches
/// them across calls).
pub fn extension_configs(
    store: &dyn Store,
    clips: &mut HashMap<i64, Clip>,
) -> Result<HashMap<String, ExtensionConfig>, StoreError> {
    let mut out = HashMap::new();
    for (extension, record) in store.conferences()? {
        out.insert(extension, extension_config(store, clips, &record)?);
    }
    Ok(out)
}

/// One record as the engine wants it, with its sounds decoded.
pub(crate) fn extension_config(
    store: &dyn Store,
    clips: &mut HashMap<i64, Clip>,
    record: &ConferenceRecord,
) -> Result<ExtensionConfig, StoreError> {
    let mut sound = |id: Option<i64>| -> Result<Option<Clip>, StoreError> {
        let Some(id) = id else {
            return Ok(None);
        };
        if let Some(clip) = clips.get(&id) {
            return Ok(Some(clip.clone()));
        }
        let Some(pcm) = store.sound_pcm(id)? else {
            return Ok(None);
        };
        let clip: Clip = pcm.into();
        clips.insert(id, clip.clone());
        Ok(Some(clip))
    };
    Ok(ExtensionConfig {
        rules: chorus_policy::Settings {
            pin: record.pin.clone(),
            moderator_pin: record.moderator_pin.clone(),
            max_members: record.max_members,
            mute_non_moderator: record.mute_non_moderator,
            announce_caller_name: record.announce_caller_name,
        },
        enter_sound: sound(record.enter_sound)?,
        music_on_hold: sound(record.music_on_hold_sound)?,
        record_enabled: record.record_enabled,
        auto_gain: record.auto_gain,
        noise_suppression: record.noise_suppression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<Patch, ApiError> {
        parse_patch(json.as_bytes())
    }

    #[test]
    fn type_errors_and_unknown_fields_name_the_field() {
        for (json, name) in [
            (r#"{"pin": 1234}"#, "pin"),
            (r#"{"pin": "12a4"}"#, "pin"),
            (r#"{"pin": ""}"#, "pin"),
            (r#"{"pin": "12345678901234567"}"#, "pin"),
            (r#"{"max_members": "3"}"#, "max_members"),
            (r#"{"max_members": 2.5}"#, "max_members"),
            (r#"{"mute_non_moderator": 1}"#, "mute_non_moderator"),
            (r#"{"auto_gain": 1}"#, "auto_gain"),
            (r#"{"noise_suppression": "on"}"#, "noise_suppression"),
            (r#"{"colour": "blue"}"#, "colour"),
        ] {
            let err = patch(json).expect_err(json);
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{json}");
            assert_eq!(err.field(), Some(name), "{json}");
        }
        assert_eq!(
            patch("{nope").expect_err("bad").status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(patch("[]").expect_err("array").field(), Some("body"));
    }

    #[test]
    fn merged_rules() {
        let none = |_: i64| false;
        let some = |id: i64| id == 7;
        let base = ConferenceRecord::default();
        const L: Limits = Limits {
            max_members_cap: 100,
            max_sound_bytes: 1,
            max_sound_seconds: 1,
            min_pin_digits: 4,
            protect_docs: false,
        };
        for (json, field) in [
            (r#"{"pin": "123"}"#, "pin"),
            (r#"{"pin": "1234", "moderator_pin": "12"}"#, "moderator_pin"),
        ] {
            let err = apply(base.clone(), &patch(json).expect("p"), &L, &none).expect_err(json);
            assert_eq!(err.field(), Some(field), "{json}: short PINs are refused");
        }
        let p = patch(r#"{"moderator_pin": "9999"}"#).expect("patch");
        assert_eq!(
            apply(base.clone(), &p, &L, &none)
                .expect_err("no pin")
                .field(),
            Some("moderator_pin")
        );
        let p = patch(r#"{"pin": "9999", "moderator_pin": "9999"}"#).expect("patch");
        assert!(apply(base.clone(), &p, &L, &none).is_err());
        let with_both = apply(
            base.clone(),
            &patch(r#"{"pin": "1111", "moderator_pin": "2222"}"#).expect("p"),
            &L,
            &none,
        )
        .expect("ok");
        // Clearing pin while moderator_pin stays is refused.
        let err = apply(
            with_both.clone(),
            &patch(r#"{"pin": null}"#).expect("p"),
            &L,
            &none,
        )
        .expect_err("orphan");
        assert_eq!(err.field(), Some("moderator_pin"));
        assert!(
            apply(
                with_both,
                &patch(r#"{"pin": null, "moderator_pin": null}"#).expect("p"),
                &L,
                &none
            )
            .is_ok()
        );
        for (json, ok) in [
            ("0", false),
            ("1", true),
            ("100", true),
            ("101", false),
            ("null", true),
        ] {
            let p = patch(&format!(r#"{{"max_members": {json}}}"#)).expect("patch");
            assert_eq!(apply(base.clone(), &p, &L, &none).is_ok(), ok, "{json}");
        }
        // Voice processing: set, kept by a patch that leaves it out, null follows the
        // bridge again.
        let p = patch(r#"{"auto_gain": false, "noise_suppression": true}"#).expect("patch");
        let set = apply(base.clone(), &p, &L, &none).expect("ok");
        assert_eq!(
            (set.auto_gain, set.noise_suppression),
            (Some(false), Some(true))
        );
        let kept = apply(set.clone(), &patch("{}").expect("p"), &L, &none).expect("ok");
        assert_eq!(kept, set);
        let p = patch(r#"{"auto_gain": null, "noise_suppression": null}"#).expect("patch");
        let reset = apply(set, &p, &L, &none).expect("ok");
        assert_eq!((reset.auto_gain, reset.noise_suppression), (None, None));
        let p = patch(r#"{"enter_sound": 8}"#).expect("patch");
        assert_eq!(
            apply(base.clone(), &p, &L, &some)
                .expect_err("missing")
                .field(),
            Some("enter_sound")
        );
        let p = patch(r#"{"enter_sound": 7, "announce_caller_name": true}"#).expect("patch");
        let r = apply(base.clone(), &p, &L, &some).expect("ok");
        assert_eq!(r.enter_sound, Some(7));
        let r = apply(
            r,
            &patch(r#"{"announce_caller_name": null}"#).expect("p"),
            &L,
            &some,
        )
        .expect("ok");
        assert!(!r.announce_caller_name);
        assert_eq!(r.enter_sound, Some(7), "absent fields stay");
    }

    #[test]
    fn extension_ids() {
        assert!(check_extension_id("500").is_ok());
        assert!(check_extension_id("sales_team-2").is_ok());
        assert!(check_extension_id("").is_err());
        assert!(check_extension_id("a b").is_err());
        assert!(check_extension_id(&"x".repeat(65)).is_err());
    }
}
