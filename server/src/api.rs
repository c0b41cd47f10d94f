//! Routes and handlers.

use std::convert::Infallible;
use std::ops::ControlFlow;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use docent_engine::{AskOptions, Hit, Mode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::AppState;
use crate::error::{ApiError, ApiJson};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/search", post(search))
        .route("/v1/ask", post(ask))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async { ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route") })
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let engine = state.engine.clone();
    let chunks = tokio::task::spawn_blocking(move || engine.store().count()).await??;
    Ok(Json(json!({ "status": "ok", "chunks": chunks })))
}

#[derive(Deserialize)]
struct SearchRequest {
    query: String,
    k: Option<usize>,
    mode: Option<Mode>,
}

#[derive(Serialize)]
struct SearchResponse {
    hits: Vec<Hit>,
}

const DEFAULT_SEARCH_K: usize = 5;

async fn search(State(state): State<AppState>, ApiJson(request): ApiJson<SearchRequest>) -> Result<Json<SearchResponse>, ApiError> {
    let engine = state.engine.clone();
    let k = request.k.unwrap_or(DEFAULT_SEARCH_K);
    let mode = request.mode.unwrap_or(state.defaults.mode);
    let hits = tokio::task::spawn_blocking(move || engine.search(&request.query, k, mode)).await??;
    Ok(Json(SearchResponse { hits }))
}

#[derive(Deserialize)]
struct AskRequest {
    question: String,
    k: Option<usize>,
    mode: Option<Mode>,
    #[serde(default)]
    stream: bool,
    max_tokens: Option<usize>,
    temperature: Option<f64>,
}

/// Upper bound on `max_tokens` a request may ask for.
const MAX_ANSWER_TOKENS: usize = 2048;

impl AskRequest {
    fn options(&self, defaults: &AskOptions) -> Result<AskOptions, ApiError> {
        let mut options = *defaults;
        options.k = self.k.unwrap_or(defaults.k);
        options.mode = self.mode.unwrap_or(defaults.mode);
        if let Some(max_tokens) = self.max_tokens {
            if !(1..=MAX_ANSWER_TOKENS).contains(&max_tokens) {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("max_tokens must be between 1 and {MAX_ANSWER_TOKENS}")));
            }
            options.generation.max_tokens = max_tokens;
        }
        if let Some(temperature) = self.temperature {
            if !(0.0..=2.0).contains(&temperature) {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, "temperature must be between 0 and 2"));
            }
            options.generation.temperature = temperature;
        }
        Ok(options)
    }
}

async fn ask(State(state): State<AppState>, ApiJson(request): ApiJson<AskRequest>) -> Result<Response, ApiError> {
    let options = request.options(&state.defaults)?;
    let engine = state.engine.clone();
    if !request.stream {
        let answer = tokio::task::spawn_blocking(move || {
            engine.ask(&request.question, &options, &mut |_| ControlFlow::Continue(()))
        })
        .await??;
        return Ok(Json(answer).into_response());
    }

    // Checked before the stream starts, so a bad request is a 400, not an event.
    docent_engine::check_query(&request.question, options.k)?;
    // Stream: the blocking worker sends each piece of text as it is generated; a client that
    // disconnects closes the channel, which stops generation.
    let (sender, receiver) = mpsc::channel::<Event>(64);
    tokio::task::spawn_blocking(move || {
        let result = engine.ask(&request.question, &options, &mut |text| {
            let event = Event::default().event("token").data(json!({ "text": text }).to_string());
            match sender.blocking_send(event) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        let last = match result {
            Ok(answer) => Event::default().event("done").data(serde_json::to_string(&answer).unwrap_or_default()),
            Err(err) => Event::default().event("error").data(json!({ "error": ApiError::from(err).message }).to_string()),
        };
        let _ = sender.blocking_send(last);
    });
    let stream = tokio_stream::StreamExt::map(ReceiverStream::new(receiver), Ok::<_, Infallible>);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
