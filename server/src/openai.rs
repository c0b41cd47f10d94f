//! The OpenAI-compatible face of docent, so that existing clients and tools can ask it:
//! `POST /v1/chat/completions` (a JSON completion, or `chat.completion.chunk` events ending in
//! `[DONE]` when `stream` is set) and `GET /v1/models`.
//!
//! Every completion is a retrieval-augmented answer to the last user message, from the store
//! only; its sources come back as `citations` on the message (and on the last streamed chunk).
//! The earlier user messages make it a conversation: a follow-up ("How do I install it?") is
//! searched for with the earlier question's topic carried over (`docent_core::retrieve::followup`).
//! docent does not call client tools: it searches its own store for every question, so a request
//! with `tools` is refused with a 400 that says so rather than silently ignoring them.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use docent_core::{Answer, Citation, MAX_EARLIER_QUESTIONS};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{AskSettings, answer, stream_answer};
use crate::error::{ApiError, ApiJson};

/// The one model docent serves, whatever generator is behind it.
const MODEL: &str = "docent";

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChatRequest {
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    max_tokens: Option<usize>,
    /// The newer name of `max_tokens`.
    max_completion_tokens: Option<usize>,
    temperature: Option<f64>,
    /// Refused with 400: docent searches its own store.
    tools: Option<Vec<Value>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// A message's content: a string, or a list of parts of which docent reads the text ones.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

impl ChatRequest {
    /// The question (the last user message) and the user's earlier questions, oldest first
    /// (the last [`MAX_EARLIER_QUESTIONS`]; the assistant's answers are not read).
    fn question(&self) -> Result<(String, Vec<String>), ApiError> {
        let mut asked: Vec<String> = self
            .messages
            .iter()
            .filter(|m| m.role == "user")
            .filter_map(|m| m.content.as_ref())
            .map(Content::text)
            .collect();
        let question = asked.pop().ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "messages must include a user message with text content",
            )
        })?;
        let skip = asked.len().saturating_sub(MAX_EARLIER_QUESTIONS);
        Ok((question, asked.split_off(skip)))
    }
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
}

fn usage(answer: &Answer) -> Usage {
    let stats = &answer.timings.generation;
    Usage {
        prompt_tokens: stats.prompt_tokens,
        completion_tokens: stats.generated_tokens,
        total_tokens: stats.prompt_tokens + stats.generated_tokens,
    }
}

/// "length" when the answer was cut at `max_tokens`, else "stop".
fn finish_reason(answer: &Answer, max_tokens: usize) -> &'static str {
    if answer.timings.generation.generated_tokens >= max_tokens {
        "length"
    } else {
        "stop"
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

/// The whole answer as OpenAI's `chat.completion`, its citations on the message.
fn completion(answer: &Answer, id: &str, created: u64, limit: usize) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": answer.answer, "citations": answer.citations },
            "finish_reason": finish_reason(answer, limit),
        }],
        "usage": usage(answer),
    })
}

#[utoipa::path(post, path = "/v1/chat/completions", request_body = ChatRequest, responses(
    (status = 200, description = "OpenAI's `chat.completion` with `citations` on the message; with `stream`, `chat.completion.chunk` events and `[DONE]`", body = serde_json::Value),
    (status = 400, description = "No user message, bad values, or `tools`"),
    (status = 503, description = "Busy: retry after `Retry-After` seconds")))]
pub async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    if request
        .tools
        .as_ref()
        .is_some_and(|tools| !tools.is_empty())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "docent does not call client tools: it searches its own store for every question. Send the question \
             without `tools`, or call POST /v1/search for the search results themselves.",
        ));
    }
    let (question, earlier) = request.question()?;
    let max_tokens = request.max_completion_tokens.or(request.max_tokens);
    let mut options = AskSettings {
        max_tokens,
        temperature: request.temperature,
        ..Default::default()
    }
    .over(&state.defaults);
    options.earlier = earlier;
    let limit = options.generation.max_tokens;
    let (id, created) = (completion_id(), now());

    if !request.stream {
        let answer = answer(&state, question, options).await?;
        return Ok(Json(completion(&answer, &id, created, limit)).into_response());
    }

    let chunk = move |delta: Value, finish: Option<&str>, citations: Option<&[Citation]>| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        if let Some(citations) = citations {
            chunk["citations"] = json!(citations);
        }
        Event::default().data(chunk.to_string())
    };
    let last = chunk.clone();
    // The role comes first, in a chunk of its own, as in OpenAI's streams.
    let first = chunk(json!({ "role": "assistant", "content": "" }), None, None);
    stream_answer(
        state,
        question,
        options,
        vec![first],
        move |text| chunk(json!({ "content": text }), None, None),
        move |result| {
            let end = match result {
                Ok(answer) => last(
                    json!({}),
                    Some(finish_reason(&answer, limit)),
                    Some(&answer.citations),
                ),
                Err(err) => Event::default()
                    .data(json!({ "error": { "message": err.message } }).to_string()),
            };
            vec![end, Event::default().data("[DONE]")]
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/models", responses((status = 200, description = "OpenAI's model list: `docent`, with the generator behind it; `generators`: the names `serve --model` takes", body = serde_json::Value)))]
pub async fn models(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": MODEL, "object": "model", "created": 0, "owned_by": "docent",
            // What writes the answers behind `docent`; another is chosen when the server starts.
            "generator": state.engine.generator().map(|g| g.name().to_string()),
        }],
        "generators": docent_core::NamedModel::NAMES,
    }))
}
