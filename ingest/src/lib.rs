//! docent's indexing pipeline, one visible chain of steps:
//!
//! ```text
//! walk (folders → files)  →  load (bytes → text)  →  chunk (text → token-sized pieces)
//!     →  embed in batches  →  store (replace the document's points)  →  sync (remove what is gone)
//! ```
//!
//! [`watch`] repeats the chain whenever the ingested folders change.
//!
//! Reading, parsing and chunking run on a worker thread while the caller's thread embeds and
//! writes, so both cores stay busy. Re-running is incremental: documents are identified by their
//! root and relative path and skipped when their content hash is unchanged and all their chunks
//! are stored; an interrupted run leaves documents that the next run recognises as incomplete.

#![warn(missing_docs)]

mod archive;
pub mod chunk;
mod ebook;
pub mod isolate;
pub mod load;
mod mail;
mod notebook;
mod office;
mod pdf;
pub mod pipeline;
pub mod progress;
mod table;
pub mod walk;
pub mod watch;
mod xml;

pub use chunk::{Chunker, TextChunk};
pub use load::{Code, Format, LoadError, max_chunks, max_text_bytes};
pub use pipeline::{IngestOptions, IngestReport, doc_id, ingest, ingest_sources};
pub use progress::ProgressMode;
pub use walk::{Origin, Scope, Source};
pub use watch::{WatchOptions, watch};
