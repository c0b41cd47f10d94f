//! `POST /v1/documents`: a multipart upload of one or more files (parts named `file`), ingested
//! through the normal pipeline as documents of the root `upload:`. A file uploaded again under
//! the same name replaces its earlier version. Only the chunks are kept, not the file itself.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Extension, Multipart, State};
use axum::http::StatusCode;
use docent_ingest::{Format, IngestOptions, Origin, Source};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{self, Access};
use crate::error::ApiError;

/// The root every uploaded document belongs to.
const UPLOAD_ROOT: &str = "upload:";
/// Files in one upload.
pub const MAX_FILES: usize = 32;
/// Bytes of one uploaded file (as for `docent ingest --max-file-mib`'s default).
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;
/// Bytes of one upload request, all files together.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// The name a file is stored under: its last path component, so a name such as
/// `../../etc/passwd` cannot place it anywhere (it only names a document, but stays clean).
/// Control characters and bidirectional controls are refused: a right-to-left override makes
/// `report\u{202E}fdp.exe` read as `reportexe.pdf` in every list that shows it. So are
/// characters that show as nothing (a zero-width space, a soft hyphen, a Hangul filler, a line
/// separator): with them two documents look the same in every listing.
fn file_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if name.is_empty() || name == "." || name == ".." {
        return Err("each file part needs a file name");
    }
    if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err("file names may not hold control or bidirectional-control characters");
    }
    if name.chars().any(is_invisible) {
        return Err(
            "file names may not hold invisible characters (zero-width, fillers, separators)",
        );
    }
    Ok(name.to_string())
}

/// Characters that render as nothing: Unicode's default-ignorable code points (zero-width
/// spaces and joiners, soft hyphen, fillers, variation selectors, tags, word joiners, the byte
/// order mark) and the line and paragraph separators.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2028}' | '\u{2029}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Unicode's bidirectional formatting characters: marks, embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn bad(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(status, message)
}

#[utoipa::path(post, path = "/v1/documents", request_body(content_type = "multipart/form-data", description = "One or more parts named `file`"), responses(
    (status = 200, description = "`{report, documents: [{path, doc_id}]}`", body = serde_json::Value),
    (status = 400, description = "No files, unnamed files, or more than 32"), (status = 403, description = "A read-only key"),
    (status = 413, description = "A file over 32 MiB"), (status = 415, description = "A format docent does not read")))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require_full(access)?;
    let mut multipart = multipart.map_err(|e| {
        bad(
            e.status(),
            format!(
                "{}: send multipart/form-data with one or more `file` parts",
                e.body_text()
            ),
        )
    })?;
    let mut sources: Vec<Source> = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(e.status(), e.body_text()))?
    {
        if field.name() != Some("file") {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                "each part must be named `file`",
            ));
        }
        if sources.len() == MAX_FILES {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                format!("at most {MAX_FILES} files per upload"),
            ));
        }
        let name = file_name(field.file_name().unwrap_or_default())
            .map_err(|message| bad(StatusCode::BAD_REQUEST, message))?;
        // Two parts of one name would be one document holding both (names lose their folders).
        if sources.iter().any(|s| s.rel == name) {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                format!(
                    "two files named {name} in one upload: rename one, or send them one at a time"
                ),
            ));
        }
        let format = Format::of(std::path::Path::new(&name)).ok_or_else(|| {
            bad(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("{name}: docent reads Markdown, HTML, PDF, text and source code"),
            )
        })?;
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad(e.status(), e.body_text()))?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{name} is larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
        sources.push(Source {
            root: UPLOAD_ROOT.into(),
            rel: name,
            origin: Origin::Memory {
                bytes: bytes.to_vec(),
                format,
            },
        });
    }
    if sources.is_empty() {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "no files: send multipart/form-data with one or more `file` parts",
        ));
    }
    let documents: Vec<Value> = sources
        .iter()
        .map(|s| json!({ "path": s.rel, "doc_id": docent_ingest::doc_id(&s.root, &s.rel) }))
        .collect();
    let report = state
        .run_ingest(move |engine, options| {
            let options = IngestOptions {
                max_file_bytes: MAX_FILE_BYTES as u64,
                ..options
            };
            // No scope: an upload never removes other documents.
            docent_ingest::ingest_sources(
                sources,
                &[],
                Vec::new(),
                engine.embedder().as_ref(),
                engine.store().as_ref(),
                &options,
            )
        })
        .await?;
    Ok(Json(json!({ "report": report, "documents": documents })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_names_keep_only_their_last_component() {
        assert_eq!(file_name("notes.md").as_deref(), Ok("notes.md"));
        assert_eq!(
            file_name("../../etc/passwd.txt").as_deref(),
            Ok("passwd.txt")
        );
        assert_eq!(
            file_name("C:\\\\Users\\\\x\\\\report.pdf").as_deref(),
            Ok("report.pdf")
        );
        assert_eq!(file_name("笔记.md").as_deref(), Ok("笔记.md"));
        assert!(file_name("dir/").is_err());
        assert!(file_name("..").is_err());
        assert!(file_name("a\u{0}b.md").is_err());
        for spoof in ["report\u{202E}fdp.exe.md", "a\u{2066}b.md", "\u{200F}x.txt"] {
            assert!(
                file_name(spoof).unwrap_err().contains("bidirectional"),
                "{spoof:?}"
            );
        }
        // The names the second attack review sent: each looks like "ab.md".
        for hidden in [
            '\u{200B}',
            '\u{2028}',
            '\u{3164}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{00AD}',
        ] {
            let name = format!("a{hidden}b.md");
            assert!(
                file_name(&name).unwrap_err().contains("invisible"),
                "{name:?}"
            );
        }
        // Visible non-ASCII stays: accents, CJK, an ideographic space, emoji.
        for fine in ["café.md", "读书 笔记.md", "résumé 2026.pdf", "notes 🫖.txt"] {
            assert_eq!(file_name(fine).as_deref(), Ok(fine));
        }
    }
}
