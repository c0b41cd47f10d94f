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
    /// The pages the chunk lies on, in a paged document (PDF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Pages>,
    /// The document's file as it was when this version was read: a digest of how it is indexed
    /// and of the file's size, times and inode. A sync that finds the same stamp does not read
    /// the file again. `None` for a document from memory, or a file modified too recently for
    /// its times to tell a later change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<String>,
}

/// The pages of a paged document (PDF) that a chunk lies on: the page of its first line, and
/// the lines (of the document) where each later page begins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pages {
    /// The page (from 1) of the chunk's first line.
    pub first: u32,
    /// The document's lines where the next pages begin, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<u32>,
}

impl Pages {
    /// The page `line` (of the document, within the chunk) is on.
    pub fn page_of(&self, line: u32) -> u32 {
        self.first + self.breaks.iter().filter(|&&at| at <= line).count() as u32
    }
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
    /// The pages it lies on, in a paged document (PDF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Pages>,
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
            pages: payload.pages,
        }
    }
}

/// What lies at lines of one document: a hit, an answer's source.
pub trait Located {
    /// The document's path.
    fn path(&self) -> &str;
    /// First and last line (1-based, inclusive).
    fn lines(&self) -> (u32, u32);
    /// The pages of its first and last lines, in a paged document (PDF).
    fn pages(&self) -> Option<(u32, u32)>;

    /// `path:start-end`, and ` p. N` (or ` pp. N–M`) in a paged document: the way sources are
    /// shown to people.
    fn location(&self) -> String {
        let (start, end) = self.lines();
        let lines = format!("{}:{start}-{end}", self.path());
        match self.pages() {
            Some((first, last)) if first == last => format!("{lines} p. {first}"),
            Some((first, last)) => format!("{lines} pp. {first}\u{2013}{last}"),
            None => lines,
        }
    }
}

impl Located for Hit {
    fn path(&self) -> &str {
        &self.path
    }
    fn lines(&self) -> (u32, u32) {
        (self.start_line, self.end_line)
    }
    fn pages(&self) -> Option<(u32, u32)> {
        self.pages
            .as_ref()
            .map(|p| (p.first, p.page_of(self.end_line)))
    }
}
