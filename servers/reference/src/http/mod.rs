//! The HTTP server: one module per protocol's routes, sharing state and error shapes.

pub mod error;
pub mod kserve;
pub mod openai;
pub mod state;
pub mod stream;
pub mod tei;
pub mod tgi;

use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

pub use state::AppState;

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(kserve::ready))
        .route("/v1/models", get(openai::models))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/generate", post(tgi::generate))
        .route("/generate_stream", post(tgi::generate_stream))
        .route("/predict", post(tei::predict))
        .route("/embed", post(tei::embed_route))
        .route("/v2", get(kserve::server_metadata))
        .route("/v2/health/live", get(kserve::live))
        .route("/v2/health/ready", get(kserve::ready))
        .route("/v2/models/{name}", get(kserve::metadata))
        .route("/v2/models/{name}/ready", get(kserve::model_ready))
        .route("/v2/models/{name}/infer", post(kserve::infer))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(kserve::infer_version),
        )
        .with_state(state)
}
