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
    /// Last line of the chunk (inclusive).
    pub end_line: u32,
    /// Headings enclosing the chunk, outermost first (Markdown and HTML), else empty.
    #[serde(default)]
    pub headings: Vec<String>,
    /// The chunk's text.
    pub text: String,
    /// When this version of the document was stored (Unix seconds; 0 in stores written before
    /// docent recorded it).
    #[serde(default)]
    pub ingested_at: u64,
    /// The document's kind (filters name it); `None` in stores written before docent
    /// recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DocumentKind>,
    /// When the document's file was last modified, as of this version (Unix seconds; for a
    /// document from memory, when it was ingested).
    #[serde(default)]
    pub modified: u64,
}

/// What kind of document a chunk comes from, as filters (`--type`, `types`) and listings name it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum DocumentKind {
    /// Markdown.
    Md,
    /// HTML.
    Html,
    /// PDF.
    Pdf,
    /// Plain text.
    Text,
    /// Source code.
    Code,
    /// Word.
    Docx,
    /// PowerPoint.
    Pptx,
    /// Excel.
    Xlsx,
    /// OpenDocument text.
    Odt,
    /// EPUB.
    Epub,
    /// E-mail.
    Eml,
    /// Jupyter notebook.
    Ipynb,
    /// Comma-separated values.
    Csv,
}

impl DocumentKind {
    /// The kind a filter names, or the caller's mistake listing the kinds there are.
    pub fn named(name: &str) -> crate::error::Result<DocumentKind> {
        name.parse().map_err(|_| {
            crate::Error::InvalidInput(format!(
                "no document is of type {name:?}; the types are {}",
                <DocumentKind as strum::VariantNames>::VARIANTS.join(", ")
            ))
        })
    }
}

/// One retrieved chunk with its similarity score (higher is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// How well it matched: a similarity for one channel, a fused score for hybrid.
    pub score: f32,
    /// The document's path in its folder.
    pub path: String,
    /// The document's id.
    pub doc_id: String,
    /// The chunk's position in its document, from 0.
    pub chunk: u32,
    /// First line of the chunk (1-based).
    pub start_line: u32,
    /// Last line (inclusive).
    pub end_line: u32,
    /// Headings enclosing the chunk, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub headings: Vec<String>,
    /// The chunk's text.
    pub text: String,
}

impl Hit {
    /// The hit for a found point.
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
}

/// What lies at lines of one document: a hit, an answer's source.
pub trait Located {
    /// The document's path.
    fn path(&self) -> &str;
    /// First and last line (1-based, inclusive).
    fn lines(&self) -> (u32, u32);

    /// `path:start-end`, the way sources are shown to people.
    fn location(&self) -> String {
        let (start, end) = self.lines();
        format!("{}:{start}-{end}", self.path())
    }
}

impl Located for Hit {
    fn path(&self) -> &str {
        &self.path
    }
    fn lines(&self) -> (u32, u32) {
        (self.start_line, self.end_line)
    }
}
