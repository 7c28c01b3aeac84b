//! The OpenAPI document, generated from the handlers, and the API browser.

use crate::{
    AppState, actions, cluster, conference, error::ErrorBody, events, health, live, recordings,
    sounds, temporary,
};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

struct BearerAuth;

/// Every operation may also answer with the one error shape: the framework's refusals
/// (400 for a bad path or query, 404, 405, 413, 415), 401 without a token, 503 while the
/// bridge stops.
struct ErrorsEverywhere;

impl Modify for ErrorsEverywhere {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            ContentBuilder, Ref, ResponseBuilder, path::Operation, response::Responses,
        };
        let error = ResponseBuilder::new()
            .description("An error, in the one JSON shape")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        let add = |operation: &mut Option<Operation>| {
            if let Some(operation) = operation.as_mut() {
                let responses: &mut Responses = &mut operation.responses;
                responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| error.clone().into());
            }
        };
        for item in openapi.paths.paths.values_mut() {
            add(&mut item.get);
            add(&mut item.put);
            add(&mut item.post);
            add(&mut item.delete);
        }
    }
}

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
        conference::list_extensions,
        conference::get_conference,
        conference::put_conference,
        conference::delete_conference,
        sounds::upload,
        sounds::list,
        sounds::get_one,
        sounds::audio,
        sounds::delete,
        live::conferences,
        temporary::create,
        temporary::end,
        live::members,
        live::mute,
        live::unmute,
        live::kick,
        crate::hearing::volume,
        crate::hearing::deaf,
        crate::hearing::undeaf,
        live::lock,
        live::unlock,
        events::events,
        live::metrics,
        health::health,
        health::ready,
        cluster::drain,
        actions::mute_all,
        actions::record_start,
        actions::move_member,
        actions::record_stop,
        actions::unmute_all,
        actions::play_all,
        actions::play_one,
        actions::dial,
        recordings::list,
        recordings::download,
        recordings::delete,
    ),
    components(schemas(
        conference::Conference,
        conference::ConferencePatch,
        conference::ExtensionPage,
        conference::ExtensionItem,
        crate::error::FieldError,
        sounds::Sound,
        live::LiveConference,
        temporary::CreatedConference,
        live::Member,
        live::MemberMedia,
        crate::hearing::Volume,
        recordings::RecordingInfo,
        health::Health,
        cluster::Draining,
        actions::Changed,
        actions::RecordingState,
        actions::MoveRequest,
        actions::PlayRequest,
        actions::Playing,
        actions::DialRequest,
        actions::Dialling,
        ErrorBody
    )),
    modifiers(&BearerAuth, &ErrorsEverywhere),
    security(("bearer" = []), ())
)]
pub(crate) struct ApiDoc;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
