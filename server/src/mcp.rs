//! The collection as a Model Context Protocol server (the official Rust SDK, `rmcp`), for
//! assistants and IDE agents: on stdio (`docent mcp`), and over Streamable HTTP at `/mcp` on
//! `serve`, behind the same keys, host and origin checks, limits and metrics as the other
//! routes, its answers waiting for the same generation slots. Four tools over the same engine: `search` (passages), `ask` (a checked, cited answer), `list_documents`, and
//! `read_document` (a document's text with line numbers, to read around a hit). A request the
//! engine refuses is a tool error carrying the same message as the CLI's.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use docent_core::store::{Candidate, StoredDocument};
use docent_core::{AnswerMode, AskOptions, Engine, Mode, SearchRequest};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::AppState;
use crate::api::FilterFields;
use crate::error::Unknown;
use crate::limits::{GenerationSlots, Slot};

/// Passages a search may return to an agent (each is a chunk of text in its context).
pub const MAX_SEARCH_K: usize = 50;

/// Lines `read_document` returns at most per call.
pub const MAX_READ_LINES: usize = 1000;

/// Chunks read at a time while reading a document: reading stops at the first batch past the
/// lines asked for.
const READ_BATCH: u32 = 32;

/// How long an answer on stdio may take before it is stopped (prompt processing included).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Deserialize, schemars::JsonSchema)]
struct SearchParams {
    /// What to look for: a question or keywords, in English or Chinese.
    query: String,
    /// Passages to return, 1–50 (default 5).
    k: Option<usize>,
    /// hybrid (default: meaning and keywords), dense (meaning), lexical (keywords, BM25), or
    /// fusion (also searches other phrasings the local model writes; slower).
    mode: Option<String>,
    #[serde(flatten)]
    filter: FilterFields,
    #[serde(flatten)]
    #[schemars(skip)]
    unknown: Unknown,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct AskParams {
    /// The question, in English or Chinese.
    question: String,
    /// auto (the model writes, every sentence checked against the sources, else the evidence
    /// is quoted), extract (quotes only; fast) or generate (the model's answer unchecked). The
    /// server's default when left out.
    answer_mode: Option<String>,
    /// Sources to retrieve, 1–50 (default 4).
    k: Option<usize>,
    /// Retrieval mode, as for `search`.
    mode: Option<String>,
    /// The user's earlier questions in this conversation, oldest first (at most 32): a
    /// follow-up such as "How do I install it?" is searched for with their topic.
    #[serde(default)]
    earlier: Vec<String>,
    #[serde(flatten)]
    filter: FilterFields,
    #[serde(flatten)]
    #[schemars(skip)]
    unknown: Unknown,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Documents on the page, 1–1000 (default 100).
    limit: Option<usize>,
    /// The id of the page's first document: the previous page's `next`.
    from: Option<String>,
}

/// Documents `list_documents` gives at once unless asked otherwise, and the most it gives.
const LIST_PAGE: usize = 100;
const MAX_LIST_PAGE: usize = 1000;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadParams {
    /// The document: its id or its path, as `list_documents` or a search hit gives them.
    document: String,
    /// First line to return (default 1).
    start_line: Option<u32>,
    /// Lines to return, 1–1000 (default 200).
    max_lines: Option<usize>,
}

/// The MCP server: the engine, and how answers are written unless a call says otherwise.
#[derive(Clone)]
pub struct DocentMcp {
    engine: Arc<Engine>,
    defaults: AskOptions,
    turns: Turns,
    tool_router: ToolRouter<Self>,
}

/// Who decides when the generator is free for an answer (or a RAG-Fusion search).
#[derive(Clone)]
enum Turns {
    /// On stdio: one answer at a time, each stopped after [`ANSWER_TIMEOUT`].
    Own(Arc<tokio::sync::Semaphore>),
    /// Over HTTP: the server's generation slots, queue and answer timeout.
    Server(GenerationSlots),
}

/// A turn with the generator, held while an answer runs.
enum Turn {
    Own {
        _permit: tokio::sync::OwnedSemaphorePermit,
    },
    Server {
        _slot: Slot,
    },
}

impl Turns {
    /// Waits for a turn; the message says why none came (a full queue).
    async fn take(&self) -> Result<(Turn, Duration), String> {
        match self {
            Turns::Own(semaphore) => semaphore
                .clone()
                .acquire_owned()
                .await
                .map(|permit| (Turn::Own { _permit: permit }, ANSWER_TIMEOUT))
                .map_err(|_| "the server is shutting down".to_string()),
            Turns::Server(generation) => generation
                .slots
                .acquire()
                .await
                .map(|slot| (Turn::Server { _slot: slot }, generation.answer_timeout))
                .map_err(|e| e.message),
        }
    }
}

/// The `/mcp` route of `serve`: Streamable HTTP, stateless (no session is kept between
/// requests, so clients cannot pile up server state), JSON responses. The Host and Origin
/// checks are the server's own middleware's, as for every route.
pub(crate) fn http_service(
    state: &AppState,
) -> StreamableHttpService<DocentMcp, LocalSessionManager> {
    let server = DocentMcp {
        turns: Turns::Server(state.generation.clone()),
        ..DocentMcp::new(state.engine.clone(), state.defaults.clone())
    };
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(crate::limits::MAX_BODY_BYTES);
    StreamableHttpService::new(move || Ok(server.clone()), Default::default(), config)
}

/// Serves `engine` over stdio until the client closes the connection.
pub async fn serve_stdio(engine: Arc<Engine>, defaults: AskOptions) -> anyhow::Result<()> {
    let server = DocentMcp::new(engine, defaults)
        .serve(rmcp::transport::stdio())
        .await?;
    server.waiting().await?;
    Ok(())
}

/// A tool result that failed with `message` (what the CLI would say).
fn failed(message: impl std::fmt::Display) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_string())])
}

/// Runs blocking engine work off the async workers; its error becomes a tool error.
async fn blocking(
    work: impl FnOnce() -> docent_core::error::Result<Value> + Send + 'static,
) -> CallToolResult {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => CallToolResult::structured(value),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(format!("the tool stopped unexpectedly: {e}")),
    }
}

fn parse<T: std::str::FromStr + strum::VariantNames>(what: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{what} {value:?} is not one of {}", T::VARIANTS.join(", ")))
}

/// Fails on an argument the tool does not take: a misspelt filter would widen the search.
fn refuse_unknown(unknown: &Unknown) -> Result<(), String> {
    match unknown.first() {
        None => Ok(()),
        Some(name) => Err(format!(
            "unknown argument `{name}`: the tool's input schema lists the arguments it takes"
        )),
    }
}

/// A search's `k`: 5 when left out, at most [`MAX_SEARCH_K`].
fn search_k(k: Option<usize>) -> Result<usize, String> {
    match k.unwrap_or(5) {
        k @ 1..=MAX_SEARCH_K => Ok(k),
        k => Err(format!("k is {k}; it must be 1 to {MAX_SEARCH_K}")),
    }
}

#[tool_router]
impl DocentMcp {
    /// A server over `engine`, answering with `defaults` where a call sets nothing.
    pub fn new(engine: Arc<Engine>, defaults: AskOptions) -> Self {
        DocentMcp {
            engine,
            defaults,
            turns: Turns::Own(Arc::new(tokio::sync::Semaphore::new(1))),
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Search the indexed documents for passages about a query. Returns the best \
        passages first, each with its document's path, line range, score and text; `queries` lists \
        what was searched. Use it to find where something is said, then read_document to read around it."
    )]
    async fn search(&self, Parameters(params): Parameters<SearchParams>) -> CallToolResult {
        let prepared = (|| -> Result<SearchRequest, String> {
            refuse_unknown(&params.unknown)?;
            Ok(SearchRequest {
                mode: match &params.mode {
                    Some(mode) => parse::<Mode>("mode", mode)?,
                    None => self.defaults.mode,
                },
                filter: params.filter.into_filter().map_err(|e| e.to_string())?,
                ..SearchRequest::new(params.query, search_k(params.k)?)
            })
        })();
        let request = match prepared {
            Ok(request) => request,
            Err(message) => return failed(message),
        };
        let engine = self.engine.clone();
        // RAG-Fusion runs the model: it waits its turn as answers do.
        let _turn = match request.mode {
            Mode::Fusion => match self.turns.take().await {
                Ok(turn) => Some(turn),
                Err(message) => return failed(message),
            },
            _ => None,
        };
        blocking(move || {
            let (plan, hits) = engine.search_planned(&request)?;
            Ok(json!({ "queries": plan.texts(), "hits": hits }))
        })
        .await
    }

    #[tool(
        description = "Answer a question from the indexed documents only, citing them. Returns the \
        answer with [n] markers, who wrote it (generator, extract: quoted from the sources, or none: \
        the documents do not cover it), the citations and the numbered sources with their paths and \
        line ranges. An answer the documents do not support says so instead of guessing."
    )]
    async fn ask(&self, Parameters(params): Parameters<AskParams>) -> CallToolResult {
        let prepared = (|| -> Result<AskOptions, String> {
            refuse_unknown(&params.unknown)?;
            let mut options = self.defaults.clone();
            if let Some(mode) = &params.answer_mode {
                options.answer_mode = parse::<AnswerMode>("answer_mode", mode)?;
            }
            if let Some(mode) = &params.mode {
                options.mode = parse::<Mode>("mode", mode)?;
            }
            // Its bound is the answer's own (AskOptions::check, below).
            options.k = params.k.unwrap_or(self.defaults.k);
            options.earlier = params.earlier;
            options.filter = params.filter.into_filter().map_err(|e| e.to_string())?;
            options.check(&params.question).map_err(|e| e.to_string())?;
            Ok(options)
        })();
        let mut options = match prepared {
            Ok(options) => options,
            Err(message) => return failed(message),
        };
        let (_turn, timeout) = match self.turns.take().await {
            Ok(turn) => turn,
            Err(message) => return failed(message),
        };
        options.generation.deadline = Some(Instant::now() + timeout);
        let (engine, question) = (self.engine.clone(), params.question);
        blocking(move || {
            let answer = engine.ask(&question, &options, &mut |_| ControlFlow::Continue(()))?;
            Ok(json!({
                "answer": answer.answer,
                "answered_by": answer.answered_by,
                "query": answer.query,
                "queries": answer.queries,
                "citations": answer.citations,
                "sources": answer.sources.iter().map(|s| json!({
                    "n": s.n,
                    "path": s.path,
                    "doc_id": s.doc_id,
                    "start_line": s.start_line,
                    "end_line": s.end_line,
                    "text": s.text,
                })).collect::<Vec<_>>(),
            }))
        })
        .await
    }

    #[tool(
        description = "List the indexed documents, a page at a time: each one's id, path, the folder it \
        came from, its number of chunks, whether it is complete, and when it was indexed (Unix \
        seconds). `limit` documents (default 100); `next`, when not null, is the `from` of the next page."
    )]
    async fn list_documents(&self, Parameters(params): Parameters<ListParams>) -> CallToolResult {
        let limit = params.limit.unwrap_or(LIST_PAGE);
        if !(1..=MAX_LIST_PAGE).contains(&limit) {
            return failed(format!("limit is {limit}; it must be 1 to {MAX_LIST_PAGE}"));
        }
        let engine = self.engine.clone();
        blocking(move || {
            let page = engine
                .store()
                .documents_page(params.from.as_deref(), limit)?;
            Ok(json!({ "documents": page.documents, "next": page.next }))
        })
        .await
    }

    #[tool(
        description = "Read a document's text with line numbers, by its id or path: up to 1000 lines \
        from start_line. Use it to read around a search hit (its start_line and end_line). \
        `next_line` says where to go on, when there is more."
    )]
    async fn read_document(&self, Parameters(params): Parameters<ReadParams>) -> CallToolResult {
        let start = params.start_line.unwrap_or(1).max(1);
        let lines = params.max_lines.unwrap_or(200);
        if !(1..=MAX_READ_LINES).contains(&lines) {
            return failed(format!(
                "max_lines is {lines}; it must be 1 to {MAX_READ_LINES}"
            ));
        }
        let engine = self.engine.clone();
        blocking(move || {
            let documents = engine.store().documents()?;
            let Some(document) = documents
                .iter()
                .find(|d| d.doc_id == params.document || d.path == params.document)
            else {
                return Err(docent_core::Error::InvalidInput(format!(
                    "no document has the id or path {:?}; list_documents lists them",
                    params.document
                )));
            };
            read(&engine, document, start, lines)
        })
        .await
    }
}

/// Lines `start..start + count` of `document`, rebuilt from its chunks (which overlap: a line
/// is taken from the first chunk that holds it).
fn read(
    engine: &Engine,
    document: &StoredDocument,
    start: u32,
    count: usize,
) -> docent_core::error::Result<Value> {
    let end = start.saturating_add(count as u32);
    let mut text = String::new();
    let mut next = start;
    let mut more = false;
    let mut chunk = 0;
    'chunks: while chunk < document.points {
        let batch: Vec<Candidate> = (chunk..(chunk + READ_BATCH).min(document.points))
            .map(|chunk| Candidate {
                score: 0.0,
                doc_id: document.doc_id.clone(),
                chunk,
            })
            .collect();
        chunk += READ_BATCH;
        for hit in engine.store().hits(&batch)? {
            if hit.end_line >= end {
                more = true;
            }
            if hit.start_line >= end {
                break 'chunks;
            }
            for (line, content) in (hit.start_line..).zip(hit.text.lines()) {
                // Lines no chunk holds (blank ones between paragraphs) are skipped.
                if line >= next && line < end {
                    text.push_str(&format!("{line:>6} | {content}\n"));
                    next = line + 1;
                }
            }
        }
    }
    Ok(json!({
        "doc_id": document.doc_id,
        "path": document.path,
        "text": text,
        "next_line": more.then_some(next.max(end)),
    }))
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DocentMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("docent", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "docent answers from a collection of documents (English and Chinese). search finds \
                 passages; ask writes an answer that cites them, or says the documents do not cover \
                 the question; list_documents and read_document read the documents themselves.",
            )
    }
}
