//! The core of docent: what a chunk, a hit and an answer are; the three boundaries every
//! backend plugs into ([`Embedder`], [`VectorStore`], [`Generator`]); and the retrieval-augmented
//! answer itself ([`Engine`]): retrieve, build a grounded prompt, generate, keep only valid citations.
//!
//! This crate knows nothing of files on disk (beyond loading model weights) or of HTTP: the
//! `docent-ingest` crate turns folders into [`Point`]s, the `docent-server` crate puts an
//! [`Engine`] behind an API. Both depend on this crate, never the reverse.

pub mod answer;
pub mod citations;
pub mod embed;
pub mod engine;
pub mod evidence;
pub mod fusion;
pub mod generate;
pub mod language;
pub mod lexical;
pub mod metrics;
pub mod models;
pub mod prompt;
pub mod sentences;
pub mod store;
pub mod support;
pub mod types;

pub use citations::CitationFilter;
pub use embed::{E5Embedder, Embedder, EmbedderKind, MiniLmEmbedder};
pub use fusion::Fusion;
pub use answer::{Answer, AnswerMode, AnsweredBy, Citation, Timings};
pub use engine::{AskOptions, Engine, InvalidInput, MAX_ASK_K, MAX_K, Mode, check_query, check_question};
pub use evidence::{Evidence, EvidenceOptions};
pub use support::SentenceCheck;
pub use generate::{ChatMessage, GenerationParams, GenerationStats, Generator};
pub use models::ModelPaths;
pub use store::{Point, StoreQuery, StoredDocument, VectorStore};
pub use types::{ChunkPayload, Hit};
