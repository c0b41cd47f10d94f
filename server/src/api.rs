//! Routes and handlers.

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, middleware};
use axum::{Json, Router};
use docent_core::{Answer, AnswerMode, AskOptions, DocumentKind, Filter, Hit, Mode};
use docent_ingest::Format;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::{self, Access};
use crate::error::{ApiError, ApiJson, Unknown};
use crate::metrics::Metrics;
use crate::{AppState, ingest_route, limits, metrics, openai, openapi, origin, page, upload};

/// Every route, behind the metrics, origin and key checks.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::page))
        .route("/healthz", get(healthz))
        .route("/v1/search", post(search))
        .route("/v1/ask", post(ask))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .route("/v1/ingest", post(ingest_route::ingest))
        .route(
            "/v1/documents",
            get(list_documents)
                .post(upload::upload)
                .layer(DefaultBodyLimit::max(upload::MAX_UPLOAD_BYTES)),
        )
        .route("/v1/documents/{id}", delete(delete_document))
        .nest_service("/mcp", crate::mcp::http_service(&state))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            origin::same_site,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .with_state(state)
}

#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "`{\"status\":\"ok\",\"chunks\":N}`; on a Qdrant cluster also `replication_factor`, `write_consistency` and `shards: [{id, replicas: [{peer, state, live}]}]`, and `status` `degraded` when a replica is not live", body = serde_json::Value),
    (status = 503, description = "`status` `unavailable`: a shard has no live replica (its `shards` say which), or no node answers")))]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    let topology = tokio::task::spawn_blocking(move || engine.store().topology()).await??;
    let Some(topology) = topology else {
        let engine = state.engine.clone();
        let chunks = tokio::task::spawn_blocking(move || engine.store().count()).await??;
        return Ok(Json(json!({ "status": "ok", "chunks": chunks })).into_response());
    };
    // Open to anyone: the shards' states, not the nodes' addresses.
    let shards: Vec<serde_json::Value> = topology
        .shards
        .iter()
        .map(|shard| {
            let replicas: Vec<serde_json::Value> = shard
                .replicas
                .iter()
                .map(|r| json!({ "peer": r.peer, "state": r.state, "live": r.live }))
                .collect();
            json!({ "id": shard.id, "replicas": replicas })
        })
        .collect();
    let mut body = json!({
        "replication_factor": topology.replication_factor,
        "write_consistency": topology.write_consistency,
        "shards": shards,
    });
    if topology.lost_shards().next().is_some() {
        body["status"] = json!("unavailable");
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response());
    }
    let engine = state.engine.clone();
    body["chunks"] = json!(tokio::task::spawn_blocking(move || engine.store().count()).await??);
    body["status"] = json!(if topology.all_live() {
        "ok"
    } else {
        "degraded"
    });
    Ok(Json(body).into_response())
}

/// Which page of `GET /v1/documents`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DocumentsQuery {
    /// Documents on the page, 1–10000 (default 1000).
    limit: Option<usize>,
    /// The id of the page's first document: the previous page's `next`.
    from: Option<String>,
}

/// Documents on a page unless the request says otherwise, and the most it may ask for.
const DOCUMENTS_PAGE: usize = 1000;
const MAX_DOCUMENTS_PAGE: usize = 10_000;

#[utoipa::path(get, path = "/v1/documents", params(DocumentsQuery), responses((status = 200, description = "`{\"documents\": [{doc_id, root, path, type, content_hash, points, complete, ingested_at}], \"next\": ID or null}`: one page (`next`, when not null, is the `from` of the next); `type` is md, html, pdf, text, code, docx, pptx, xlsx, odt, epub, eml, ipynb or csv; `ingested_at` Unix seconds (0: unknown)", body = serde_json::Value), (status = 400, description = "A `limit` or `from` out of range")))]
pub(crate) async fn list_documents(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<DocumentsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(DOCUMENTS_PAGE);
    if !(1..=MAX_DOCUMENTS_PAGE).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1 to {MAX_DOCUMENTS_PAGE}"),
        ));
    }
    if let Some(from) = &query.from
        && !(1..=64).contains(&from.len())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "from must be a document id: a page's next",
        ));
    }
    let engine = state.engine.clone();
    let page = tokio::task::spawn_blocking(move || {
        engine.store().documents_page(query.from.as_deref(), limit)
    })
    .await??;
    let documents: Vec<serde_json::Value> = page
        .documents
        .into_iter()
        .map(|mut document| {
            document.root = ingest_route::root_name(&document.root);
            let kind = Format::of(std::path::Path::new(&document.path)).map(Format::kind);
            let mut listed = json!(document);
            listed["type"] = json!(kind);
            listed
        })
        .collect();
    Ok(Json(json!({ "documents": documents, "next": page.next })))
}

/// Removes a document's chunks from the store (a document still in an ingested folder comes
/// back on the next ingest of that folder).
#[utoipa::path(delete, path = "/v1/documents/{id}", params(("id" = String, Path, description = "The document's doc_id")),
    responses((status = 200, description = "`{\"deleted\": {...}}`", body = serde_json::Value), (status = 403, description = "A read-only key"), (status = 404, description = "No such document")))]
pub(crate) async fn delete_document(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth::require_full(access)?;
    let engine = state.engine.clone();
    let deleted = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = engine.store();
        let found = store.documents()?.into_iter().find(|d| d.doc_id == id);
        if let Some(doc) = &found {
            store.delete_document(&doc.doc_id)?;
            store.flush()?;
        }
        Ok(found)
    })
    .await??;
    match deleted {
        Some(document) => Ok(Json(json!({ "deleted": document }))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no document with this id; GET /v1/documents lists them",
        )),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SearchRequest {
    query: String,
    /// Chunks to return, 1–1000 (default 5).
    k: Option<usize>,
    /// dense, lexical or hybrid (the server's default).
    #[schema(value_type = Option<String>)]
    mode: Option<Mode>,
    #[serde(flatten)]
    filter: FilterFields,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Unknown,
}

/// Which documents a search or an answer may draw on; every field set must pass.
#[derive(Deserialize, Default, utoipa::ToSchema, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(crate) struct FilterFields {
    /// Only chunks of these documents (ids from `GET /v1/documents`; at most 100).
    #[serde(default)]
    documents: Vec<String>,
    /// Only documents whose path in its folder matches one of these globs (`*` within a
    /// folder, `**` across; at most 32).
    #[serde(default)]
    paths: Vec<String>,
    /// Only documents of these types: md, html, pdf, text, code, docx, pptx, xlsx, odt, epub,
    /// eml, ipynb, csv.
    #[serde(default)]
    types: Vec<String>,
    /// Only documents whose file was modified after this day (`2026-03-01`) or RFC 3339 time.
    modified_after: Option<String>,
}

impl FilterFields {
    fn filter(self) -> Result<Filter, ApiError> {
        Ok(self.into_filter()?)
    }

    /// The filter these fields ask for; a type or date that is not one is an error.
    pub(crate) fn into_filter(self) -> docent_core::error::Result<Filter> {
        Ok(Filter {
            documents: self.documents,
            paths: self.paths,
            kinds: self
                .types
                .iter()
                .map(|name| DocumentKind::named(name))
                .collect::<Result<_, _>>()?,
            modified_after: self
                .modified_after
                .as_deref()
                .map(Filter::time)
                .transpose()?,
            ..Default::default()
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SearchResponse {
    /// Every query searched: the query as sent first, then (with `mode: fusion`) the phrasings
    /// the model wrote.
    queries: Vec<String>,
    /// `{score, path, doc_id, chunk, start_line, end_line, headings, text}`, best first.
    #[schema(value_type = Vec<Object>)]
    hits: Vec<Hit>,
}

const DEFAULT_SEARCH_K: usize = 5;

#[utoipa::path(post, path = "/v1/search", request_body = SearchRequest, responses((status = 200, body = SearchResponse)))]
pub(crate) async fn search(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, ApiError> {
    request.unknown.refuse()?;
    let engine = state.engine.clone();
    let search = docent_core::SearchRequest {
        mode: request.mode.unwrap_or(state.defaults.mode),
        filter: request.filter.filter()?,
        ..docent_core::SearchRequest::new(request.query, request.k.unwrap_or(DEFAULT_SEARCH_K))
    };
    // RAG-Fusion runs the generator (it writes the phrasings): it waits for a generation slot,
    // as answers do, so that searches cannot run more models at once than answers may.
    let slot = if search.mode == Mode::Fusion {
        state.generation.slots.acquire().await?
    } else {
        state.searches.acquire().await?
    };
    let (plan, hits) = tokio::task::spawn_blocking(move || -> docent_core::error::Result<_> {
        let _slot = slot;
        engine.search_planned(&search)
    })
    .await??;
    let queries = plan.texts().into_iter().map(String::from).collect();
    Ok(Json(SearchResponse { queries, hits }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct AskRequest {
    question: String,
    #[serde(default)]
    stream: bool,
    #[serde(flatten)]
    settings: AskSettings,
    #[serde(flatten)]
    filter: FilterFields,
    /// The user's earlier questions in this conversation, oldest first (at most 32): a
    /// follow-up is searched for with their topic carried over, and the answer's `query` says
    /// what was searched for.
    #[serde(default)]
    earlier: Vec<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Unknown,
}

/// What a request may set of how it is answered; the server's defaults fill the rest.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub(crate) struct AskSettings {
    pub k: Option<usize>,
    #[schema(value_type = Option<String>)]
    pub mode: Option<Mode>,
    /// auto (check every sentence, else quote the evidence), generate or extract (the server's
    /// default, auto unless started otherwise).
    #[schema(value_type = Option<String>)]
    pub answer_mode: Option<AnswerMode>,
    pub max_tokens: Option<usize>,
    pub temperature: Option<f64>,
}

impl AskSettings {
    /// `defaults` with what the request set (checked with the question, by [`AskOptions::check`]).
    pub(crate) fn over(self, defaults: &AskOptions) -> AskOptions {
        let mut options = defaults.clone();
        options.k = self.k.unwrap_or(defaults.k);
        options.mode = self.mode.unwrap_or(defaults.mode);
        options.answer_mode = self.answer_mode.unwrap_or(defaults.answer_mode);
        options.generation.max_tokens = self.max_tokens.unwrap_or(defaults.generation.max_tokens);
        options.generation.temperature =
            self.temperature.unwrap_or(defaults.generation.temperature);
        options
    }
}

#[utoipa::path(post, path = "/v1/ask", request_body = AskRequest, responses(
    (status = 200, description = "The answer `{query, answer, answered_by, sentences, citations, sources, hits, grounded, timings}`; with `stream`, Server-Sent Events `token` (in `auto`, one checked sentence each), then `done` (or `error`)", body = serde_json::Value),
    (status = 503, description = "Every generation slot is busy and the queue is full: retry after `Retry-After` seconds"),
    (status = 504, description = "The answer ran past --answer-timeout")))]
pub(crate) async fn ask(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AskRequest>,
) -> Result<Response, ApiError> {
    request.unknown.refuse()?;
    let mut options = request.settings.over(&state.defaults);
    options.filter = request.filter.filter()?;
    options.earlier = request.earlier;
    if !request.stream {
        return Ok(Json(answer(&state, request.question, options).await?).into_response());
    }

    stream_answer(
        state,
        request.question,
        options,
        Vec::new(),
        |text| {
            Event::default()
                .event("token")
                .data(json!({ "text": text }).to_string())
        },
        |result| {
            vec![match result {
                Ok(answer) => Event::default()
                    .event("done")
                    .data(serde_json::to_string(&answer).unwrap_or_default()),
                Err(err) => Event::default()
                    .event("error")
                    .data(json!({ "error": { "message": err.message } }).to_string()),
            }]
        },
    )
    .await
}

/// One answer's turn at the generator: a generation slot, the moment it must be done by, and
/// the flag that stops it. Taken before any work, released when the answer is done.
struct Turn {
    _slot: limits::Slot,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
}

impl Turn {
    /// Checks `question` and `options` (a bad question never waits for a slot), waits for a slot
    /// (503 when the queue is full), and sets the answer's deadline and cancel flag in `options`.
    async fn take(
        state: &AppState,
        question: &str,
        options: &mut AskOptions,
    ) -> Result<Turn, ApiError> {
        options.check(question)?;
        let slot = state.generation.slots.acquire().await?;
        let deadline = Instant::now() + state.generation.answer_timeout;
        options.generation.deadline = Some(deadline);
        let cancel = Arc::new(AtomicBool::new(false));
        options.generation.cancel = Some(cancel.clone());
        Ok(Turn {
            _slot: slot,
            deadline,
            cancel,
        })
    }

    /// Whether the answer ran past its time (the generator stops at the deadline too, prompt
    /// processing included).
    fn timed_out(&self) -> bool {
        Instant::now() > self.deadline
    }

    /// The engine's result as the client gets it: an answer is counted in the metrics, and one
    /// that ran past its time is a 504.
    fn outcome(
        &self,
        result: docent_core::error::Result<Answer>,
        metrics: &Metrics,
    ) -> Result<Answer, ApiError> {
        let timed_out = self.timed_out();
        if let Ok(answer) = &result {
            metrics.observe_answer(answer);
        }
        match result {
            Ok(_) if timed_out => Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "the answer took longer than this server allows (--answer-timeout)",
            )),
            other => other.map_err(ApiError::from),
        }
    }
}

/// Answers `question` on a blocking worker, once a generation slot is free; 504 when the answer
/// runs past its time.
pub(crate) async fn answer(
    state: &AppState,
    question: String,
    mut options: AskOptions,
) -> Result<Answer, ApiError> {
    let turn = Turn::take(state, &question, &mut options).await?;
    // A client that goes away drops this request, and the guard stops the generator (within a
    // chunk of prompt or a token) instead of letting it hold the slot for nothing.
    let _stop_if_gone = CancelOnDrop(turn.cancel.clone());
    let (engine, metrics) = (state.engine.clone(), state.metrics.clone());
    tokio::task::spawn_blocking(move || {
        let result = engine.ask(&question, &options, &mut |_| {
            if turn.timed_out() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        turn.outcome(result, &metrics)
    })
    .await?
}

/// Answers `question` on a blocking worker, once a generation slot is free, and streams it as
/// Server-Sent Events: `start` first, then `piece` turns each piece of text into an event as it is
/// generated, and `end` the outcome into the last events. A bad question or a full queue is an
/// error response, not an event. A client that disconnects closes the channel, which stops
/// generation.
pub(crate) async fn stream_answer(
    state: AppState,
    question: String,
    mut options: AskOptions,
    start: Vec<Event>,
    piece: impl Fn(&str) -> Event + Send + 'static,
    end: impl FnOnce(Result<Answer, ApiError>) -> Vec<Event> + Send + 'static,
) -> Result<Response, ApiError> {
    let turn = Turn::take(&state, &question, &mut options).await?;
    let (sender, receiver) = mpsc::channel::<Event>(64);
    // A client that goes away closes the channel; the watcher then stops the generator, even
    // while it processes the prompt and sends nothing. It lets go of the channel once the answer
    // is done, so the stream can end.
    let (done, answered) = tokio::sync::oneshot::channel::<()>();
    let (watcher, cancel) = (sender.clone(), turn.cancel.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = watcher.closed() => cancel.store(true, Ordering::Relaxed),
            _ = answered => {}
        }
    });
    tokio::task::spawn_blocking(move || {
        let _done = done;
        for event in start {
            if sender.blocking_send(event).is_err() {
                return;
            }
        }
        let result = state
            .engine
            .ask(
                &question,
                &options,
                &mut |text| match sender.blocking_send(piece(text)) {
                    Ok(()) if !turn.timed_out() => ControlFlow::Continue(()),
                    _ => ControlFlow::Break(()),
                },
            );
        for event in end(turn.outcome(result, &state.metrics)) {
            if sender.blocking_send(event).is_err() {
                break;
            }
        }
    });
    let stream = tokio_stream::StreamExt::map(ReceiverStream::new(receiver), Ok::<_, Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Sets its flag when dropped: held by a request's future, it tells the generator that the
/// request is gone.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
