//! docent's HTTP API on axum: `POST /v1/search`, `POST /v1/ask` (JSON, or Server-Sent Events
//! token by token), the OpenAI-compatible `POST /v1/chat/completions` and `GET /v1/models`, and
//! `GET /healthz`, `GET /metrics`, `GET /openapi.json`, the web page at `/`; `POST /v1/ingest` (under allowed roots),
//! `POST /v1/documents` (uploads), `GET /v1/documents` and `DELETE /v1/documents/{id}`. With API keys set, every
//! route but `/healthz` and `/` needs one (see [`ApiKeys`]). Every error is JSON in OpenAI's shape, `{"error": {"message", "type", "code"}}`,
//! with a 4xx/5xx status. [`mcp`] is the Model Context Protocol server `docent mcp` runs on stdio.
//!
//! The engine is synchronous and CPU-bound (embedding, generation), so each request runs it on a
//! blocking thread; the models are loaded once and shared by all requests.

#![warn(missing_docs)]

mod api;
mod auth;
mod error;
mod ingest_route;
mod limits;
mod listener;
pub mod mcp;
mod metrics;
mod openai;
mod openapi;
mod origin;
mod page;
mod upload;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use docent_core::{AskOptions, Engine};
use docent_ingest::{IngestOptions, ProgressMode};

pub use api::router;
pub use auth::ApiKeys;
pub use ingest_route::IngestRoots;
pub use limits::{GenerationSlots, Slots};
pub use listener::ConnectionLimits;
pub use metrics::Metrics;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The engine every request answers with.
    pub engine: Arc<Engine>,
    /// Defaults for fields a request leaves out.
    pub defaults: AskOptions,
    /// Who may call; empty: everyone.
    pub keys: ApiKeys,
    /// How many answers are generated at once, and how many may wait.
    pub generation: GenerationSlots,
    /// How many searches run at once, and how many may wait.
    pub searches: Slots,
    /// What `/metrics` reports.
    pub metrics: Arc<Metrics>,
    /// Where `POST /v1/ingest` may read; empty: nowhere.
    pub ingest_roots: IngestRoots,
    /// Held while an ingest or upload runs, by the task that does the work (not the request,
    /// which a client may drop): one at a time.
    pub ingesting: Arc<tokio::sync::Mutex<()>>,
    /// Set when the server is shutting down: a running ingest stops before its next file.
    pub stopping: Arc<AtomicBool>,
    /// Bound to a loopback address: requests must name a loopback host (DNS rebinding).
    pub loopback_only: bool,
}

impl AppState {
    /// Runs an ingest on a blocking worker once no other runs, holding the one-at-a-time lock
    /// until the work itself ends, and stopping it at shutdown.
    pub(crate) async fn run_ingest<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Engine, IngestOptions) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, error::ApiError> {
        let one_at_a_time = self.ingesting.clone().lock_owned().await;
        let engine = self.engine.clone();
        let options = IngestOptions {
            progress: ProgressMode::Quiet,
            cancel: Some(self.stopping.clone()),
            ..Default::default()
        };
        let result = tokio::task::spawn_blocking(move || {
            let _held = one_at_a_time;
            work(&engine, options)
        })
        .await?;
        Ok(result?)
    }
}

/// Folders the store follows while the server runs (`--watch`), and how.
#[derive(Default)]
pub struct Watch {
    /// Folders (or files) kept in sync; none: no watch.
    pub paths: Vec<std::path::PathBuf>,
    /// Debounce, and paths whose changes are not documents'.
    pub options: docent_ingest::WatchOptions,
}

/// Serves until Ctrl-C or SIGTERM, within `limits`, keeping the store in sync with `watch`'s
/// folders; in-flight requests finish (for up to the shutdown grace), the watch stops after the
/// file it is on, then the store is flushed.
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    limits: ConnectionLimits,
    watch: Watch,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}: is another server using it? Try --addr 127.0.0.1:PORT")
    })?;
    let engine = state.engine.clone();
    if state.keys.is_empty() && !addr.ip().is_loopback() {
        eprintln!(
            "docent: warning: listening on {addr} without API keys: anyone who can reach it may delete documents (set --api-key)"
        );
    }
    eprintln!("docent: serving on http://{}", listener.local_addr()?);
    let watcher = (!watch.paths.is_empty()).then(|| {
        eprintln!("docent: watching {} path(s) for changes", watch.paths.len());
        watch::spawn(&state, watch.paths, watch.options)
    });
    let stopping = state.stopping.clone();
    listener::accept(listener, router(state), limits, async move {
        shutdown_signal().await;
        stopping.store(true, Ordering::Relaxed);
    })
    .await?;
    tokio::task::spawn_blocking(move || {
        if let Some(watcher) = watcher {
            let _ = watcher.join();
        }
        engine.store().flush()
    })
    .await??;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    eprintln!("docent: shutting down");
}
