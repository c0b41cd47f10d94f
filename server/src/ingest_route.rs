//! `POST /v1/ingest {"path"}`: ingests a folder (or file) on the server's disk, only under the
//! roots the operator allowed (`--allow-ingest-from DIR`; none by default, which turns the route
//! off). Several RAG servers shipped path-traversal holes here; docent rejects any `..`
//! component outright, requires the path to lie inside an allowed root by name, then resolves the
//! real path (following every symbolic link) and requires that inside too. The walk itself never follows links, so a link inside an allowed
//! folder that points elsewhere is not read either.

use std::path::{Component, Path, PathBuf};

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use docent_ingest::IngestReport;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{self, Access};
use crate::error::{ApiError, ApiJson};

/// The folders HTTP ingest may read, as real paths.
#[derive(Clone, Default)]
pub struct IngestRoots {
    roots: Vec<PathBuf>,
}

impl IngestRoots {
    /// Each root must exist; it is kept as its real path.
    pub fn new(roots: &[PathBuf]) -> anyhow::Result<Self> {
        let roots = roots
            .iter()
            .map(|root| {
                std::fs::canonicalize(root)
                    .map_err(|e| anyhow::anyhow!("--allow-ingest-from {}: {e}", root.display()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(IngestRoots { roots })
    }

    /// The real path of `requested` if it lies inside an allowed root. A relative path is taken
    /// relative to the first root.
    ///
    /// Containment is checked by name first, so a path outside gets one answer (403) whether or
    /// not it exists; then the real path must exist inside a root, or the answer is one 404 —
    /// also when a link inside leads out — so that no answer tells what exists outside. Only
    /// regular files and folders are read (a FIFO would block the ingest).
    fn resolve(&self, requested: &str) -> Result<PathBuf, ApiError> {
        let Some(first) = self.roots.first() else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "ingest over HTTP is off: start the server with --allow-ingest-from DIR",
            ));
        };
        let path = Path::new(requested);
        if requested.trim().is_empty() || path.components().any(|c| c == Component::ParentDir) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the path must be non-empty and must not contain `..`",
            ));
        }
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            first.join(path)
        };
        let inside = |p: &Path| self.roots.iter().any(|root| p.starts_with(root));
        if !inside(&joined) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the path is outside the folders this server may ingest from",
            ));
        }
        // Hidden and ignored files are left out as a walk of the root leaves them out.
        let visible = |real: &PathBuf| {
            self.roots
                .iter()
                .any(|root| real.starts_with(root) && docent_ingest::walk::visible(root, real))
        };
        let real = std::fs::canonicalize(&joined).ok().filter(visible).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no such file or folder inside the folders this server may ingest from: {requested}"))
        })?;
        let kind = std::fs::metadata(&real)
            .map(|m| m.file_type())
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "the path went away"))?;
        if !kind.is_file() && !kind.is_dir() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{requested} is neither a regular file nor a folder"),
            ));
        }
        Ok(real)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// A folder or file under an allowed root; relative paths are taken under the first root.
    path: String,
}

#[utoipa::path(post, path = "/v1/ingest", request_body = IngestRequest, responses(
    (status = 200, description = "The ingest report", body = serde_json::Value),
    (status = 400, description = "Empty path, `..`, or neither a file nor a folder"),
    (status = 403, description = "Outside the allowed roots by name, ingest off, or a read-only key"),
    (status = 404, description = "No such file or folder inside the allowed roots")))]
pub async fn ingest(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiJson(request): ApiJson<IngestRequest>,
) -> Result<Json<IngestReport>, ApiError> {
    auth::require_full(access)?;
    let path = state.ingest_roots.resolve(&request.path)?;
    let report = state
        .run_ingest(move |engine, options| {
            docent_ingest::ingest(
                &[path],
                engine.embedder().as_ref(),
                engine.store().as_ref(),
                &options,
            )
        })
        .await?;
    Ok(Json(state.ingest_roots.redact(report)))
}

/// How a document's root is shown over HTTP: its folder's name, not where it lies on the
/// server (uploads keep their `upload:`).
pub fn root_name(root: &str) -> String {
    Path::new(root).file_name().map_or_else(
        || root.to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

impl IngestRoots {
    /// The report with each allowed root's absolute path replaced by its folder's name, in the
    /// failed files' paths and in their error messages.
    fn redact(&self, mut report: IngestReport) -> IngestReport {
        for failure in &mut report.failed {
            for root in &self.roots {
                let (absolute, name) = (root.to_string_lossy(), root_name(&root.to_string_lossy()));
                failure.path = failure.path.replace(absolute.as_ref(), &name);
                failure.error = failure.error.replace(absolute.as_ref(), &name);
            }
        }
        report
    }
}
