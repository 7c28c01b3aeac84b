//! The OpenAPI document, generated from the handlers, and the API browser.

use crate::{AppState, conference, error::ErrorBody, events, health, live, recordings, sounds};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chorus conference bridge",
        description = "Manage conference extensions and sounds, and watch and control live conferences. When the bridge runs with --api-token, every request needs `Authorization: Bearer <token>`, except /health, /ready and (unless --protect-docs) this document and /docs/."
    ),
    paths(
        conference::get_conference,
        conference::put_conference,
        conference::delete_conference,
        sounds::upload,
        sounds::list,
        sounds::get_one,
        sounds::delete,
        live::conferences,
        live::members,
        live::mute,
        live::unmute,
        live::kick,
        live::lock,
        live::unlock,
        events::events,
        live::metrics,
        health::health,
        health::ready,
        recordings::list,
        recordings::download,
        recordings::delete,
    ),
    components(schemas(
        conference::Conference,
        conference::ConferencePatch,
        sounds::Sound,
        live::LiveConference,
        live::Member,
        live::MemberMedia,
        recordings::RecordingInfo,
        health::Health,
        ErrorBody
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []), ())
)]
pub(crate) struct ApiDoc;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
