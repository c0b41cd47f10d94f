//! `GET /metrics` in Prometheus' text format: requests and their latency per route, method and
//! status; retrieval, prompt-processing and generation time; tokens; the store's size. Each
//! request is also logged through `tracing` (route, status, milliseconds; never headers).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use docent_core::Answer;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::error::ApiError;

type Labels = Vec<(&'static str, String)>;

/// 1 ms to ~33 s, doubling: HTTP requests, retrieval.
fn fast_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// 50 ms to ~27 min, doubling: prompt processing and generation on a CPU.
fn slow_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 16))
}

/// The Prometheus registry behind `/metrics`.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    retrieval: Histogram,
    prompt: Histogram,
    generation: Histogram,
    prompt_tokens: Counter,
    generated_tokens: Counter,
    store_chunks: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("docent");
        let metrics = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(fast_buckets as fn() -> Histogram),
            retrieval: fast_buckets(),
            prompt: slow_buckets(),
            generation: slow_buckets(),
            prompt_tokens: Counter::default(),
            generated_tokens: Counter::default(),
            store_chunks: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_seconds",
            "HTTP request latency by route",
            metrics.latency.clone(),
        );
        registry.register(
            "retrieval_seconds",
            "Retrieval time of answered questions",
            metrics.retrieval.clone(),
        );
        registry.register(
            "prompt_seconds",
            "Prompt processing time of generated answers",
            metrics.prompt.clone(),
        );
        registry.register(
            "generation_seconds",
            "Token generation time of generated answers",
            metrics.generation.clone(),
        );
        registry.register(
            "prompt_tokens",
            "Prompt tokens processed",
            metrics.prompt_tokens.clone(),
        );
        registry.register(
            "generated_tokens",
            "Answer tokens generated",
            metrics.generated_tokens.clone(),
        );
        registry.register(
            "store_chunks",
            "Chunks in the store",
            metrics.store_chunks.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// Counts one answer: who wrote it, and its phases' durations.
    pub fn observe_answer(&self, answer: &Answer) {
        let timings = &answer.timings;
        self.retrieval.observe(timings.retrieval_ms / 1e3);
        if timings.generation.generated_tokens > 0 {
            self.prompt.observe(timings.generation.prompt_ms / 1e3);
            self.generation
                .observe(timings.generation.generation_ms / 1e3);
        }
        self.prompt_tokens
            .inc_by(timings.generation.prompt_tokens as u64);
        self.generated_tokens
            .inc_by(timings.generation.generated_tokens as u64);
    }
}

/// Middleware: counts and times every request, and logs it.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The route's pattern (`/v1/documents/{id}`), so that ids do not multiply the series.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    tracing::info!(target: "docent::http", %method, %route, status, ms = seconds * 1e3, "request");
    let metrics = &state.metrics;
    metrics
        .requests
        .get_or_create(&vec![
            ("route", route.clone()),
            ("method", method.to_string()),
            ("status", status.to_string()),
        ])
        .inc();
    metrics
        .latency
        .get_or_create(&vec![("route", route)])
        .observe(seconds);
    response
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus/OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    let chunks = tokio::task::spawn_blocking(move || engine.store().count()).await??;
    state.metrics.store_chunks.set(chunks as i64);
    let mut text = String::new();
    encode(&mut text, &state.metrics.registry)
        .map_err(|e| anyhow::anyhow!("encoding metrics: {e}"))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The method as a label: a standard one by name, anything else as "other". This layer runs
/// before the key check, so a label taken from the request would let anyone create series, and
/// memory, at will by inventing methods. (Routes are the router's own patterns or "unmatched",
/// and statuses are three digits: both are fixed sets too.)
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}
