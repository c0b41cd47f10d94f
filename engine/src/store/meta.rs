//! What a store was built with: a store of 384-d MiniLM vectors must not be searched with
//! vectors of another model, so docent records the embedder and checks it on open.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// The layout of points this docent writes: 2 = named dense vector plus BM25 sparse vector;
/// 3 = also the whole document's BM25 vector on its first chunk.
pub const SCHEMA: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    /// Stores written before the schema was recorded are schema 1 (one unnamed dense vector).
    #[serde(default = "first_schema")]
    pub schema: u32,
    pub embedder: String,
    pub dimension: usize,
}

fn first_schema() -> u32 {
    1
}

impl StoreMeta {
    pub fn new(embedder: &str, dimension: usize) -> Self {
        StoreMeta { schema: SCHEMA, embedder: embedder.to_string(), dimension }
    }

    pub fn check_compatible(&self, wanted: &StoreMeta, location: &str) -> Result<()> {
        if self.schema != wanted.schema {
            bail!(
                "the store at {location} was written by another version of docent (layout {}, this one uses {}).\n  \
                 Delete it and ingest again, or use another --store.",
                self.schema,
                wanted.schema
            );
        }
        if self != wanted {
            bail!(
                "the store at {location} holds {} vectors ({}-d) but docent is using {} ({}-d).\n  \
                 Use another --store, or delete this one and ingest again.",
                self.embedder,
                self.dimension,
                wanted.embedder,
                wanted.dimension
            );
        }
        Ok(())
    }
}
