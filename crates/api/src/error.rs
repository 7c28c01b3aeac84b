//! JSON errors: every failure names what is wrong.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ErrorBody {
    /// A short machine-readable kind: `bad_json`, `bad_request`, `validation`,
    /// `not_found`, `method_not_allowed`, `conflict`, `precondition_failed`, `too_large`,
    /// `unsupported_media_type`, `unauthorized`, `unavailable`, `internal`.
    pub error: String,
    /// The field at fault, for validation errors (the first, when several are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
    /// Every field at fault, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
}

/// One field that breaks a rule.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field.
    pub field: String,
    /// The rule it breaks.
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
                errors: Vec::new(),
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

    /// 422 naming every field at fault; `None` when there is none.
    pub fn invalid(errors: Vec<ApiError>) -> Option<Self> {
        let mut all: Vec<FieldError> = errors
            .into_iter()
            .map(|e| FieldError {
                field: e.body.field.unwrap_or_else(|| "body".to_owned()),
                message: e.body.message,
            })
            .collect();
        all.dedup();
        let first = all.first()?.clone();
        let mut error = Self::validation(&first.field, first.message);
        error.body.errors = all;
        Some(error)
    }

    /// Any client error of the framework's (a bad path, a method, a media type), in the
    /// one shape.
    pub fn client(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "validation",
            _ => "bad_request",
        };
        Self::new(status, kind, None, message.into())
    }

    /// 412: `If-Match` names a version that is no longer current.
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            None,
            "the extension changed since the ETag given in If-Match: GET it again".into(),
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

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.body.message
    }

    /// Every field a validation error names.
    pub fn fields(&self) -> Vec<&str> {
        self.body.errors.iter().map(|e| e.field.as_str()).collect()
    }

    /// A validation error as one error per field.
    pub fn split(self) -> Vec<ApiError> {
        if self.body.errors.is_empty() {
            return vec![self];
        }
        self.body
            .errors
            .into_iter()
            .map(|e| ApiError::validation(&e.field, e.message))
            .collect()
    }

    /// Every (field, rule) of a validation error, or the one message of another.
    pub fn body_errors(&self) -> Vec<(String, String)> {
        if self.body.errors.is_empty() {
            let field = self
                .body
                .field
                .clone()
                .unwrap_or_else(|| self.body.error.clone());
            return vec![(field, self.body.message.clone())];
        }
        self.body
            .errors
            .iter()
            .map(|e| (e.field.clone(), e.message.clone()))
            .collect()
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
