//! JSON errors: every failure names what is wrong.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ErrorBody {
    /// A short machine-readable kind: `bad_json`, `validation`, `not_found`, `conflict`,
    /// `too_large`, `unauthorized`, `internal`.
    pub error: String,
    /// The field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
}

/// An error with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: &str, field: Option<&str>, message: String) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.to_owned(),
                field: field.map(str::to_owned),
                message,
            },
        }
    }

    /// 400: the body is not JSON.
    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_json", None, message.into())
    }

    /// 422: a field breaks a rule.
    pub fn validation(field: &str, rule: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some(field),
            rule.into(),
        )
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", None, message.into())
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", None, message.into())
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            None,
            message.into(),
        )
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            None,
            "a valid bearer token is required".into(),
        )
    }

    /// 500, logged.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(%message, "API internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", None, message)
    }

    /// 503: the bridge is not running.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            None,
            "the bridge is shutting down".into(),
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The field a validation error names.
    pub fn field(&self) -> Option<&str> {
        self.body.field.as_deref()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<chorus_net::Stopped> for ApiError {
    fn from(_: chorus_net::Stopped) -> Self {
        ApiError::unavailable()
    }
}
