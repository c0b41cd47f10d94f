//! The core of docent: what a chunk, a hit and an answer are; the three boundaries every
//! backend plugs into ([`Embedder`], [`VectorStore`], [`Generator`]); and the retrieval-augmented
//! answer itself ([`Engine`]): retrieve, select evidence, build a grounded prompt, generate, and
//! keep only the sentences a source supports, or quote the evidence.
//!
//! This crate depends on no model or store library, and knows nothing of files or HTTP. The
//! backends (`docent-embed`, `docent-qdrant`, `docent-generate`) implement its traits; the
//! `docent-ingest` crate turns folders into [`Point`]s; the `docent-server` crate puts an
//! [`Engine`] behind an API. All depend on this crate, never the reverse. With the `testing`
//! feature, [`testing`] offers in-memory fakes of the three traits.

#![warn(missing_docs)]

pub mod answer;
pub mod citations;
pub mod conversation;
pub mod device;
pub mod embed;
pub mod engine;
pub mod error;
pub mod evidence;
pub mod fusion;
pub mod generate;
pub mod language;
pub mod lexical;
pub mod limits;
pub mod models;
pub mod prompt;
pub mod sentences;
pub mod store;
pub mod support;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod types;

pub use answer::{Answer, AnswerMode, AnsweredBy, Citation, Timings};
pub use citations::CitationFilter;
pub use embed::Embedder;
pub use engine::{AskOptions, Engine, Mode};
pub use error::Error;
pub use evidence::{Evidence, EvidenceOptions};
pub use fusion::Fusion;
pub use generate::{ChatMessage, GenerationParams, GenerationStats, Generator};
pub use limits::{
    MAX_ANSWER_TOKENS, MAX_ASK_K, MAX_EARLIER_QUESTIONS, MAX_FILTER_DOCUMENTS, MAX_K,
    MAX_QUERY_CHARS, check_query,
};
pub use models::ModelPaths;
pub use store::{Filter, Point, StoreQuery, StoredDocument, VectorStore};
pub use support::SentenceCheck;
pub use types::{ChunkPayload, Hit};
