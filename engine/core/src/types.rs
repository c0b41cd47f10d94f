//! The data that flows between the pipeline stages: a stored chunk's payload and a search hit.

use serde::{Deserialize, Serialize};

/// Everything stored with one chunk's vector. The same schema is used by every [`crate::VectorStore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPayload {
    /// The canonical folder the document was ingested from.
    pub root: String,
    /// The document's path relative to `root`, with `/` separators.
    pub path: String,
    /// Stable id of the document: derived from `root` and `path`.
    pub doc_id: String,
    /// sha256 of the document's bytes and of how they were indexed: equal hashes, equal points.
    pub content_hash: String,
    /// Position of this chunk in its document, from 0.
    pub chunk_index: u32,
    /// How many chunks the document has: a document with fewer stored points is incomplete.
    pub chunk_count: u32,
    /// First and last line (1-based, inclusive) of the chunk in the document's text.
    pub start_line: u32,
    pub end_line: u32,
    /// Headings enclosing the chunk, outermost first (Markdown and HTML), else empty.
    #[serde(default)]
    pub headings: Vec<String>,
    pub text: String,
}

/// One retrieved chunk with its similarity score (higher is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub score: f32,
    pub path: String,
    pub doc_id: String,
    pub chunk: u32,
    pub start_line: u32,
    pub end_line: u32,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub headings: Vec<String>,
    pub text: String,
}

impl Hit {
    pub fn from_payload(score: f32, payload: ChunkPayload) -> Self {
        Hit {
            score,
            path: payload.path,
            doc_id: payload.doc_id,
            chunk: payload.chunk_index,
            start_line: payload.start_line,
            end_line: payload.end_line,
            headings: payload.headings,
            text: payload.text,
        }
    }

    /// `path:start-end`, the way sources are shown to people.
    pub fn location(&self) -> String {
        format!("{}:{}-{}", self.path, self.start_line, self.end_line)
    }
}
