//! HTTP errors in each protocol's own JSON shape.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ModelError;

/// Which protocol's error body to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `{"error": {"message", "type", "param", "code"}}`.
    OpenAi,
    /// TGI: `{"error": "...", "error_type": "..."}` (validation errors are 422).
    Tgi,
    /// TEI: `{"error": "...", "error_type": "..."}` (too-long inputs are 413).
    Tei,
    /// KServe v2: `{"error": "..."}`.
    KServe,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message.
    pub message: String,
    /// Machine-readable kind (`invalid_request_error`, `model_not_found`, ...).
    pub code: &'static str,
    /// Body shape.
    pub style: Style,
}

impl ApiError {
    /// A bad request (400, or 422 for TGI and TEI).
    pub fn bad_request(style: Style, message: impl Into<String>) -> Self {
        let status = match style {
            Style::Tgi | Style::Tei => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            message: message.into(),
            code: "invalid_request_error",
            style,
        }
    }

    /// An unknown model (404).
    pub fn unknown_model(style: Style, name: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("The model `{name}` does not exist."),
            code: "model_not_found",
            style,
        }
    }

    /// Models still loading (503).
    pub fn loading(style: Style) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "models are still loading".into(),
            code: "loading",
            style,
        }
    }

    /// An error inside the server (500).
    pub fn internal(style: Style, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            code: "internal_error",
            style,
        }
    }

    /// Maps a model error: bad inputs are 4xx, failures of the model 500.
    pub fn from_model(style: Style, e: ModelError) -> Self {
        match e {
            ModelError::InputTooLong { .. } => {
                let status = match style {
                    Style::Tei => StatusCode::PAYLOAD_TOO_LARGE,
                    Style::Tgi => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::BAD_REQUEST,
                };
                Self {
                    status,
                    message: e.to_string(),
                    code: "context_length_exceeded",
                    style,
                }
            }
            ModelError::BadParameter(_) | ModelError::Tokenizer(_) => {
                Self::bad_request(style, e.to_string())
            }
            other => Self::internal(style, other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.style {
            Style::OpenAi => json!({"error": {
                "message": self.message,
                "type": if self.status.is_client_error() { "invalid_request_error" } else { "server_error" },
                "param": null,
                "code": self.code,
            }}),
            Style::Tgi | Style::Tei => json!({"error": self.message, "error_type": self.code}),
            Style::KServe => json!({"error": self.message}),
        };
        (self.status, Json(body)).into_response()
    }
}

/// Parses a JSON body, turning syntax and type errors into protocol-shaped 4xx errors.
pub fn parse_body<T: serde::de::DeserializeOwned>(
    style: Style,
    body: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(style, format!("invalid JSON body: {e}")))
}
