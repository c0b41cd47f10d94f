//! The OpenAI-compatible face of docent, so that existing clients and tools can ask it:
//! `POST /v1/chat/completions` (a JSON completion, or `chat.completion.chunk` events ending in
//! `[DONE]` when `stream` is set) and `GET /v1/models`.
//!
//! Every completion is a retrieval-augmented answer to the last user message, from the store
//! only; its sources come back as `citations` on the message (and on the last streamed chunk).
//! The earlier user messages make it a conversation: a follow-up ("How do I install it?") is
//! searched for with the earlier question's topic carried over (`docent_core::retrieve::followup`).
//!
//! Function calling, as OpenAI defines it: `tools` and `tool_choice` offer the caller's functions
//! to the model (one whose chat template writes tool calls: Qwen2.5), which answers from the
//! store or calls them (`tool_calls`, `finish_reason: "tool_calls"`); the `role: "tool"` results
//! sent back are read as sources of the answer, checked and cited as any other (`tool:NAME`).
//! docent's own `docent_search: "auto"` lets the model search the store again, for words of its
//! choosing, after reading what the question found (agentic RAG, a few searches at most).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use docent_core::retrieve::search_tool;
use docent_core::{
    Answer, Citation, MAX_EARLIER_QUESTIONS, Role, Tool, ToolCall, ToolChoice, ToolUse,
};
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
    /// Functions the model may call: `{"type": "function", "function": {name, description,
    /// parameters}}` (at most 32, their JSON at most 32 KiB).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    tools: Vec<ToolSpec>,
    /// "none", "auto" (the default with tools), "required", or `{"type": "function",
    /// "function": {"name": …}}`.
    #[schema(value_type = Option<Object>)]
    tool_choice: Option<ToolChoiceSpec>,
    /// docent's own: "auto" lets the model search the store again with `docent_search`, for
    /// words of its choosing, after reading what the question found (at most 3 more
    /// searches); "none" searches the question only; without it, the server's `--searches`.
    #[schema(value_type = Option<String>)]
    docent_search: Option<SearchChoice>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    /// An assistant's calls, as an earlier response gave them.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    tool_calls: Vec<CallSpec>,
    /// A tool message: the call it answers.
    tool_call_id: Option<String>,
}

#[derive(Deserialize)]
struct ToolSpec {
    #[serde(rename = "type")]
    kind: String,
    function: Tool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ToolChoiceSpec {
    Word(String),
    Function { function: NamedFunction },
}

#[derive(Deserialize)]
struct NamedFunction {
    name: String,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum SearchChoice {
    Auto,
    None,
}

#[derive(Deserialize)]
struct CallSpec {
    id: String,
    function: FunctionCall,
}

#[derive(Deserialize)]
struct FunctionCall {
    name: String,
    /// JSON text, as OpenAI's API carries it.
    arguments: String,
}

/// Tools a request may offer, and the bytes of their JSON: each costs prompt tokens before
/// every answer.
const MAX_TOOLS: usize = 32;
const MAX_TOOLS_BYTES: usize = 32 * 1024;

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

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

impl ChatRequest {
    /// The tools offered, the calls and results since the question, and whether the model must
    /// call: `None` for a plain question.
    fn tool_use(&self) -> Result<Option<ToolUse>, ApiError> {
        if self.tools.len() > MAX_TOOLS {
            return Err(bad(format!(
                "{} tools offered; at most {MAX_TOOLS}",
                self.tools.len()
            )));
        }
        let mut tools: Vec<Tool> = Vec::with_capacity(self.tools.len());
        for spec in &self.tools {
            let name = &spec.function.name;
            if spec.kind != "function" {
                return Err(bad(format!(
                    "tool type {:?} is not supported: only \"function\"",
                    spec.kind
                )));
            }
            let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if name.is_empty() || name.len() > 64 || !name.chars().all(valid) {
                return Err(bad(format!(
                    "tool name {name:?}: 1 to 64 letters, digits, '_' or '-'"
                )));
            }
            if tools.iter().any(|t| &t.name == name) {
                return Err(bad(format!("tool {name} is offered twice")));
            }
            if !spec.function.parameters.is_object() {
                return Err(bad(format!(
                    "the parameters of tool {name} must be a JSON Schema object"
                )));
            }
            tools.push(spec.function.clone());
        }
        let bytes = serde_json::to_vec(&tools).map_or(0, |b| b.len());
        if bytes > MAX_TOOLS_BYTES {
            return Err(bad(format!(
                "the tools take {bytes} bytes of JSON; at most {MAX_TOOLS_BYTES}"
            )));
        }
        let choice = match &self.tool_choice {
            None => ToolChoice::Auto,
            Some(ToolChoiceSpec::Word(word)) => match word.as_str() {
                "auto" => ToolChoice::Auto,
                "required" => ToolChoice::Required,
                "none" => {
                    tools.clear();
                    ToolChoice::Auto
                }
                other => {
                    return Err(bad(format!(
                        "tool_choice {other:?}: \"none\", \"auto\", \"required\" or a function"
                    )));
                }
            },
            Some(ToolChoiceSpec::Function { function }) => {
                ToolChoice::Function(function.name.clone())
            }
        };
        let tool_use = ToolUse {
            tools,
            choice,
            turns: self.turns()?,
        };
        // Checked here too, so that a bad choice is refused before waiting for a slot.
        tool_use.check()?;
        if tool_use.tools.is_empty() && tool_use.turns.is_empty() {
            return Ok(None);
        }
        Ok(Some(tool_use))
    }

    /// What followed the last user message: the assistant's calls, each followed by the
    /// results that answer them, in the calls' order.
    fn turns(&self) -> Result<Vec<docent_core::ChatMessage>, ApiError> {
        let after = self
            .messages
            .iter()
            .rposition(|m| m.role == "user")
            .map_or(0, |at| at + 1);
        let mut turns = Vec::new();
        let mut pending: Vec<(&str, Option<String>)> = Vec::new();
        let flush = |pending: &mut Vec<(&str, Option<String>)>,
                     turns: &mut Vec<docent_core::ChatMessage>| {
            for (id, result) in pending.drain(..) {
                let content = result.ok_or_else(|| {
                    bad(format!("the call {id} has no tool message with its result"))
                })?;
                turns.push(docent_core::ChatMessage::new(Role::Tool, content));
            }
            Ok::<(), ApiError>(())
        };
        for message in &self.messages[after..] {
            match message.role.as_str() {
                "assistant" if !message.tool_calls.is_empty() => {
                    flush(&mut pending, &mut turns)?;
                    let mut calls = Vec::new();
                    for call in &message.tool_calls {
                        let arguments: Value = serde_json::from_str(&call.function.arguments)
                            .ok()
                            .filter(Value::is_object)
                            .ok_or_else(|| {
                                bad(format!(
                                    "the arguments of call {} are not a JSON object",
                                    call.id
                                ))
                            })?;
                        calls.push(ToolCall {
                            name: call.function.name.clone(),
                            arguments,
                        });
                        pending.push((&call.id, None));
                    }
                    let text = message.content.as_ref().map(Content::text);
                    turns.push(docent_core::ChatMessage::calling(
                        text.unwrap_or_default(),
                        calls,
                    ));
                }
                "tool" => {
                    let id = message.tool_call_id.as_deref().ok_or_else(|| {
                        bad("a tool message needs the tool_call_id of the call it answers")
                    })?;
                    let slot = pending
                        .iter_mut()
                        .find(|(call, _)| *call == id)
                        .ok_or_else(|| {
                            bad(format!(
                                "the tool message for {id} answers no call before it"
                            ))
                        })?;
                    slot.1 = Some(
                        message
                            .content
                            .as_ref()
                            .map(Content::text)
                            .unwrap_or_default(),
                    );
                }
                _ => {}
            }
        }
        flush(&mut pending, &mut turns)?;
        Ok(turns)
    }

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

/// "tool_calls" when the model called tools, "length" when the answer was cut at
/// `max_tokens`, else "stop".
fn finish_reason(answer: &Answer, max_tokens: usize) -> &'static str {
    if !answer.tool_calls.is_empty() {
        "tool_calls"
    } else if answer.timings.generation.generated_tokens >= max_tokens {
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

/// The model's calls as OpenAI's `tool_calls`, each with an id of its own (with `index` in a
/// stream's delta).
fn tool_calls(answer: &Answer, indexed: bool) -> Vec<Value> {
    answer
        .tool_calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            let mut call = json!({
                "id": format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..24]),
                "type": "function",
                "function": { "name": call.name, "arguments": call.arguments.to_string() },
            });
            if indexed {
                call["index"] = json!(index);
            }
            call
        })
        .collect()
}

/// The whole answer as OpenAI's `chat.completion`, its citations on the message.
fn completion(answer: &Answer, id: &str, created: u64, limit: usize) -> Value {
    let mut message =
        json!({ "role": "assistant", "content": answer.answer, "citations": answer.citations });
    if !answer.tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls(answer, false));
        if answer.answer.is_empty() {
            message["content"] = Value::Null;
        }
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(answer, limit),
        }],
        "usage": usage(answer),
    })
}

#[utoipa::path(post, path = "/v1/chat/completions", request_body = ChatRequest, responses(
    (status = 200, description = "OpenAI's `chat.completion` with `citations` on the message; with `stream`, `chat.completion.chunk` events and `[DONE]`", body = serde_json::Value),
    (status = 400, description = "No user message, bad values, bad `tools`, or a generator that cannot call tools"),
    (status = 503, description = "Busy: retry after `Retry-After` seconds")))]
pub async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let (question, earlier) = request.question()?;
    let tools = request.tool_use()?;
    let max_tokens = request.max_completion_tokens.or(request.max_tokens);
    let mut options = AskSettings {
        max_tokens,
        temperature: request.temperature,
        ..Default::default()
    }
    .over(&state.defaults);
    options.earlier = earlier;
    options.tools = tools;
    match request.docent_search {
        Some(SearchChoice::Auto) => options.searches = search_tool::MAX_SEARCHES,
        Some(SearchChoice::None) => options.searches = 0,
        None => {}
    }
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
            let mut end = Vec::new();
            match result {
                Ok(answer) => {
                    if !answer.tool_calls.is_empty() {
                        let calls = json!({ "tool_calls": tool_calls(&answer, true) });
                        end.push(last(calls, None, None));
                    }
                    end.push(last(
                        json!({}),
                        Some(finish_reason(&answer, limit)),
                        Some(&answer.citations),
                    ));
                }
                Err(err) => end.push(
                    Event::default()
                        .data(json!({ "error": { "message": err.message } }).to_string()),
                ),
            };
            end.push(Event::default().data("[DONE]"));
            end
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
