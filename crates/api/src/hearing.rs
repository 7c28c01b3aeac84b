//! A member's volume (in: what it says, out: what it hears) and deafness, set by an
//! operator: `POST …/members/{id}/volume`, `…/deaf`, `…/undeaf`.

use crate::live::member_action;
use crate::{ApiError, AppState, error::ErrorBody};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use chorus_engine::{HearingChange, VOLUME_RANGE};
use chorus_net::Control;
use serde_json::Value;
use utoipa::ToSchema;

/// The body of a volume change: either gain, both, or neither (nothing changes), in dB.
#[derive(Debug, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name bad fields
pub(crate) struct Volume {
    /// Gain on what the member says, as everyone hears it: -30 to 12 dB (0: as sent).
    #[serde(rename = "in")]
    #[schema(minimum = -30, maximum = 12)]
    input: Option<f64>,
    /// Gain on what the member hears: -30 to 12 dB (0: as mixed).
    #[schema(minimum = -30, maximum = 12)]
    out: Option<f64>,
}

/// Reads a gain in dB as tenths, naming the field when it is not a number in range.
fn gain(field: &str, value: &Value) -> Result<Option<i16>, ApiError> {
    let (low, high) = (
        f64::from(*VOLUME_RANGE.start()) / 10.0,
        f64::from(*VOLUME_RANGE.end()) / 10.0,
    );
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(db) if (low..=high).contains(&db) => Ok(Some((db * 10.0).round() as i16)),
            _ => Err(ApiError::validation(
                field,
                format!("must be a number of dB from {low} to {high}"),
            )),
        },
        _ => Err(ApiError::validation(field, "must be a number of dB")),
    }
}

/// The change a body asks for, every field at fault named.
fn read_volume(body: &[u8]) -> Result<HearingChange, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_json(format!("malformed JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let (mut input, mut output, mut errors) = (None, None, Vec::new());
    for (name, value) in &fields {
        let read = match name.as_str() {
            "in" => gain(name, value).map(|v| input = v),
            "out" => gain(name, value).map(|v| output = v),
            other => Err(ApiError::validation(other, "unknown field")),
        };
        if let Err(e) = read {
            errors.push(e);
        }
    }
    if let Some(error) = ApiError::invalid(errors) {
        return Err(error);
    }
    Ok(HearingChange::Volume {
        input_tenths_db: input,
        output_tenths_db: output,
    })
}

async fn change(
    state: &AppState,
    extension: String,
    member: u64,
    change: HearingChange,
) -> Result<StatusCode, ApiError> {
    member_action(state, extension, member, |conference, reply| {
        Control::SetHearing {
            conference,
            member,
            change,
            reply,
        }
    })
    .await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/{member_id}/volume", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("member_id" = u64, Path)),
    request_body(content = Volume, description = "`in`, `out`, both or neither, in dB from -30 to 12; a missing one stays as it is"),
    responses((status = 204, description = "Set; a `hearing_changed` event follows"), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, description = "No such member", body = ErrorBody), (status = 422, description = "A field out of range or unknown, or a bad extension_id; every one is named", body = ErrorBody)))]
pub(crate) async fn volume(
    State(state): State<AppState>,
    Path((extension, member)): Path<(String, u64)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let asked = read_volume(&body)?;
    change(&state, extension, member, asked).await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/{member_id}/deaf", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("member_id" = u64, Path)),
    responses((status = 204, description = "The member hears nothing of the conference (its own prompts still)"), (status = 404, description = "No such member", body = ErrorBody), (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn deaf(
    State(state): State<AppState>,
    Path((extension, member)): Path<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    change(&state, extension, member, HearingChange::Deaf(true)).await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/{member_id}/undeaf", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("member_id" = u64, Path)),
    responses((status = 204, description = "The member hears the conference again"), (status = 404, description = "No such member", body = ErrorBody), (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn undeaf(
    State(state): State<AppState>,
    Path((extension, member)): Path<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    change(&state, extension, member, HearingChange::Deaf(false)).await
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/extension/{extension_id}/conference/members/{member_id}/volume",
            post(volume),
        )
        .route(
            "/extension/{extension_id}/conference/members/{member_id}/deaf",
            post(deaf),
        )
        .route(
            "/extension/{extension_id}/conference/members/{member_id}/undeaf",
            post(undeaf),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_read_in_tenths_and_every_bad_field_is_named() {
        assert_eq!(
            read_volume(br#"{"in": -6, "out": 3.5}"#).ok(),
            Some(HearingChange::Volume {
                input_tenths_db: Some(-60),
                output_tenths_db: Some(35)
            })
        );
        assert_eq!(
            read_volume(br#"{"out": 0}"#).ok(),
            Some(HearingChange::Volume {
                input_tenths_db: None,
                output_tenths_db: Some(0)
            })
        );
        for (body, field) in [
            (&br#"{"in": 13}"#[..], "in"),
            (br#"{"out": -31}"#, "out"),
            (br#"{"in": "loud"}"#, "in"),
            (br#"{"gain": 1}"#, "gain"),
            (br#"[1]"#, "body"),
        ] {
            let error = read_volume(body).expect_err("refused");
            let text = format!("{error:?}");
            assert!(text.contains(&format!("\"{field}\"")), "{text}");
        }
        assert!(read_volume(b"{").is_err());
        // Neither gain: a valid body that changes nothing.
        assert_eq!(
            read_volume(b"{}").ok(),
            Some(HearingChange::Volume {
                input_tenths_db: None,
                output_tenths_db: None
            })
        );
    }
}
