//! The core of docent: what a chunk, a hit and an answer are; the three boundaries every
//! backend plugs into ([`Embedder`], [`VectorStore`], [`Generator`]); and the retrieval-augmented
//! answer itself ([`Engine`]), in three rooms that draw its chain:
//!
//! - [`retrieve`]: a [`QueryPlanner`] turns the question into weighted queries; each is searched
//!   through the dense and BM25 channels and fused.
//! - [`answer`]: evidence sentences chosen from the hits, a grounded prompt, the generator's
//!   sentences judged by a [`Verifier`] — or the evidence quoted.
//! - [`text`]: sentences, languages, the tokens answers are compared in, the citation grammar;
//!   what both rooms read text through.
//!
//! This crate depends on no model or store library, and knows nothing of files or HTTP. The
//! backends (`docent-embed`, `docent-qdrant`, `docent-generate`) implement its traits; the
//! `docent-ingest` crate turns folders into [`Point`]s; the `docent-server` crate puts an
//! [`Engine`] behind an API. All depend on this crate, never the reverse. With the `testing`
//! feature, [`testing`] offers in-memory fakes of the three traits and builders of test data.

#![warn(missing_docs)]

pub mod answer;
pub mod device;
pub mod embed;
pub mod engine;
pub mod error;
pub mod generate;
pub mod limits;
pub mod models;
pub mod retrieve;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
pub mod types;

pub use answer::citations::CitationFilter;
pub use answer::evidence::{Evidence, EvidenceOptions};
pub use answer::tool_calls::{ToolChoice, ToolUse};
pub use answer::verify::{SentenceCheck, SentenceJudge, SupportVerifier, Verdict, Verifier};
pub use answer::{Answer, AnswerMode, AnsweredBy, Citation, Timings};
pub use embed::Embedder;
pub use engine::{AskOptions, Engine};
pub use error::Error;
pub use generate::{
    Chat, ChatMessage, GenerationParams, GenerationStats, Generator, Role, Tool, ToolCall,
};
pub use limits::{
    MAX_ANSWER_TOKENS, MAX_ASK_K, MAX_EARLIER_QUESTIONS, MAX_FILTER_DOCUMENTS, MAX_K,
    MAX_QUERY_CHARS, check_query,
};
pub use models::{ModelPaths, NamedModel};
pub use retrieve::fusion::Fusion;
pub use retrieve::{ChannelWeights, Mode, Plan, Query, QueryPlanner, Retriever, SearchRequest};
pub use store::{DocumentsPage, Filter, Point, StoreQuery, StoredDocument, VectorStore};
pub use text::language::Language;
pub use types::{ChunkPayload, DocumentKind, Hit, Located, Pages};
