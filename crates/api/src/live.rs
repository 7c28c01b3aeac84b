//! Live conferences: state, operator control, the event stream and metrics.

use crate::conference::check_extension_id;
use crate::{ApiError, AppState, error::ErrorBody};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chorus_net::Control;
use serde::Serialize;
use utoipa::ToSchema;

/// A live conference.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct LiveConference {
    /// The extension.
    extension_id: String,
    /// Members in it.
    members: usize,
    /// Whether it is locked.
    locked: bool,
    /// Created on the fly (by a phone calling the factory URI, or `POST /conference/`):
    /// it ends when empty, and the store never holds it.
    temporary: bool,
    /// The whole conference is being recorded (`.../conference/recording/start`).
    recording: bool,
}

/// A member of a live conference.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Member {
    /// Member id, for mute, unmute and kick.
    id: u64,
    /// The caller's SIP URI.
    caller: String,
    /// `moderator` or `participant`.
    role: String,
    /// Kept out of the mix.
    muted: bool,
    /// Talking right now.
    talking: bool,
    /// Brought in with *8 rather than dialling in.
    invited: bool,
    /// The leg's codec.
    codec: String,
    /// When they entered, RFC 3339.
    joined_at: String,
    /// The SIP transport of its call: udp, tcp or tls.
    transport: String,
    /// Whether its media is encrypted (SRTP).
    encrypted: bool,
    /// Gain on what it says, dB (0: as sent).
    volume_in_db: f64,
    /// Gain on what it hears, dB (0: as mixed).
    volume_out_db: f64,
    /// Hears nothing of the conference.
    deaf: bool,
    /// Media figures both ways, refreshed once a second; null in the first second.
    media: Option<MemberMedia>,
}

/// One member's media: what we receive from them, and what their RTCP says about what
/// we send.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MemberMedia {
    /// RTP packets received.
    packets_received: u64,
    /// RTP packets lost on the way to us.
    packets_lost: u64,
    /// Interarrival jitter of their stream (RFC 3550), ms.
    jitter_ms: u32,
    /// Our jitter buffer's target delay for them, ms.
    buffer_ms: u32,
    /// Frames concealed (lost or late).
    concealed: u64,
    /// RTP packets sent to them.
    packets_sent: u64,
    /// Share of our packets they lost, percent, from their last RTCP report.
    remote_loss_percent: Option<f64>,
    /// Our packets they lost in all, from their last RTCP report.
    remote_packets_lost: Option<u32>,
    /// Interarrival jitter of our stream at their end, ms.
    remote_jitter_ms: Option<f64>,
    /// Round-trip time from RTCP, ms.
    rtt_ms: Option<u32>,
    /// The audio level they last signalled (RFC 6464), dBov.
    audio_level_dbov: Option<i32>,
    /// SRTP/SRTCP datagrams from them dropped for a bad authentication tag.
    srtp_auth_failures: u64,
    /// SRTP/SRTCP datagrams from them dropped as replays.
    srtp_replayed: u64,
}

fn member_media(s: &chorus_engine::LegStats, clock_rate: u32) -> MemberMedia {
    MemberMedia {
        packets_received: s.receive.accepted,
        packets_lost: s.receive.lost,
        jitter_ms: s.jitter_ms,
        buffer_ms: s.delay_ms,
        concealed: s.jitter.concealed,
        packets_sent: s.sent,
        remote_loss_percent: s
            .far_end
            .map(|f| f64::from(f.fraction_lost) * 100.0 / 256.0),
        remote_packets_lost: s.far_end.map(|f| f.cumulative_lost),
        remote_jitter_ms: s
            .far_end
            .map(|f| f64::from(f.jitter) * 1000.0 / f64::from(clock_rate)),
        rtt_ms: s.rtt_ms,
        audio_level_dbov: s.audio_level.map(|l| -i32::from(l.level)),
        srtp_auth_failures: s.srtp_auth_failures,
        srtp_replayed: s.srtp_replayed,
    }
}

#[utoipa::path(get, path = "/conference/", tag = "live",
    responses((status = 200, description = "Live conferences: provisioned ones with someone in (or locked), and every temporary one", body = Vec<LiveConference>)))]
pub(crate) async fn conferences(
    State(state): State<AppState>,
) -> Result<Json<Vec<LiveConference>>, ApiError> {
    let live = state.inner.control.ask(Control::Conferences).await?;
    Ok(Json(
        live.into_iter()
            .map(|c| LiveConference {
                extension_id: c.conference,
                members: c.members,
                locked: c.locked,
                temporary: c.temporary,
                recording: c.recording,
            })
            .collect(),
    ))
}

/// Checks the id and that the extension exists (404 otherwise).
pub(crate) async fn require_extension(state: &AppState, extension: &str) -> Result<(), ApiError> {
    check_extension_id(extension)?;
    let id = extension.to_owned();
    let known = state
        .store(move |store| store.conference(&id))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?
        .is_some();
    if known || is_temporary(state, extension).await? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no extension {extension}")))
    }
}

/// True for a live temporary conference.
async fn is_temporary(state: &AppState, conference: &str) -> Result<bool, ApiError> {
    let live = state.inner.control.ask(Control::Conferences).await?;
    Ok(live
        .iter()
        .any(|c| c.temporary && c.conference == conference))
}

#[utoipa::path(get, path = "/extension/{extension_id}/conference/members/", tag = "live",
    params(("extension_id" = String, Path, description = "The extension", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "Members now in the conference (empty when nobody is)", body = Vec<Member>),
        (status = 404, description = "Unknown extension", body = ErrorBody),
        (status = 422, description = "Bad extension_id", body = ErrorBody),
    ))]
pub(crate) async fn members(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<Json<Vec<Member>>, ApiError> {
    require_extension(&state, &extension).await?;
    let members = state
        .inner
        .control
        .ask(|reply| Control::Members(extension, reply))
        .await?
        .unwrap_or_default();
    Ok(Json(
        members
            .into_iter()
            .map(|m| Member {
                id: m.info.id,
                caller: m.info.caller,
                role: if m.info.moderator {
                    "moderator"
                } else {
                    "participant"
                }
                .to_owned(),
                muted: m.info.muted,
                talking: m.info.talking,
                invited: m.info.invited,
                codec: m.info.codec.encoding_name().to_owned(),
                joined_at: humantime::format_rfc3339_seconds(m.joined_at).to_string(),
                transport: m.info.transport.via_token().to_ascii_lowercase(),
                encrypted: m.info.encrypted,
                volume_in_db: f64::from(m.info.hearing.input_tenths_db) / 10.0,
                volume_out_db: f64::from(m.info.hearing.output_tenths_db) / 10.0,
                deaf: m.info.hearing.deaf,
                media: m
                    .media
                    .as_ref()
                    .map(|s| member_media(s, m.info.codec.clock_rate())),
            })
            .collect(),
    ))
}

/// Carries out one operator action on a member: 204, or 404 when the member is not in
/// the conference. `build` makes the request from the extension and the reply channel.
pub(crate) async fn member_action(
    state: &AppState,
    extension: String,
    member: u64,
    build: impl FnOnce(String, tokio::sync::oneshot::Sender<bool>) -> Control,
) -> Result<StatusCode, ApiError> {
    require_extension(state, &extension).await?;
    let found = state
        .inner
        .control
        .ask(|reply| build(extension, reply))
        .await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no member {member} in that conference"
        )))
    }
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/{member_id}/mute", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("member_id" = u64, Path)),
    responses((status = 204, description = "Muted"), (status = 404, description = "No such member", body = ErrorBody), (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn mute(
    State(state): State<AppState>,
    Path((extension, member)): Path<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    member_action(&state, extension, member, |conference, reply| {
        Control::SetMuted {
            conference,
            member,
            muted: true,
            reply,
        }
    })
    .await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/{member_id}/unmute", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("member_id" = u64, Path)),
    responses((status = 204, description = "Unmuted"), (status = 404, description = "No such member", body = ErrorBody), (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn unmute(
    State(state): State<AppState>,
    Path((extension, member)): Path<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    member_action(&state, extension, member, |conference, reply| {
        Control::SetMuted {
            conference,
            member,
            muted: false,
            reply,
        }
    })
    .await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/members/{member_id}/kick", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$"), ("member_id" = u64, Path)),
    responses((status = 204, description = "Hung up"), (status = 404, description = "No such member", body = ErrorBody), (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn kick(
    State(state): State<AppState>,
    Path((extension, member)): Path<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    member_action(&state, extension, member, |conference, reply| {
        Control::Kick {
            conference,
            member,
            reply,
        }
    })
    .await
}

async fn set_locked(
    state: &AppState,
    extension: String,
    locked: bool,
) -> Result<StatusCode, ApiError> {
    require_extension(state, &extension).await?;
    let known = state
        .inner
        .control
        .ask(|reply| Control::SetLocked {
            conference: extension.clone(),
            locked,
            reply,
        })
        .await?;
    if known {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no extension {extension}")))
    }
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/lock", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 204, description = "Locked: every new caller is refused, even while nobody is in; it holds until unlocked"), (status = 404, description = "Unknown extension", body = ErrorBody), (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn lock(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_locked(&state, extension, true).await
}

#[utoipa::path(post, path = "/extension/{extension_id}/conference/unlock", tag = "live",
    params(("extension_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 204, description = "Unlocked"), (status = 404, description = "Unknown extension", body = ErrorBody), (status = 422, description = "Bad extension_id", body = ErrorBody)))]
pub(crate) async fn unlock(
    State(state): State<AppState>,
    Path(extension): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_locked(&state, extension, false).await
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4, or OpenMetrics 1.0 when the Accept header asks for application/openmetrics-text", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let metrics = &state.inner.metrics;
    if wants_openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            metrics.encode_openmetrics(),
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics.encode(),
        )
            .into_response()
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/conference/",
            get(conferences).post(crate::temporary::create),
        )
        .route(
            "/conference",
            get(conferences).post(crate::temporary::create),
        )
        .route(
            "/extension/{extension_id}/conference/members/",
            get(members).post(crate::actions::dial),
        )
        .route(
            "/extension/{extension_id}/conference/members",
            get(members).post(crate::actions::dial),
        )
        .route(
            "/extension/{extension_id}/conference/members/{member_id}/mute",
            post(mute),
        )
        .route(
            "/extension/{extension_id}/conference/members/{member_id}/unmute",
            post(unmute),
        )
        .route(
            "/extension/{extension_id}/conference/members/{member_id}/kick",
            post(kick),
        )
        .route("/extension/{extension_id}/conference/lock", post(lock))
        .route("/extension/{extension_id}/conference/unlock", post(unlock))
        .route("/metrics", get(metrics))
        .route("/events", get(crate::events::events))
}
