//! What a store was built with: a store of 384-d MiniLM vectors must not be searched with
//! vectors of another model, so docent records the embedder and checks it on open.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    pub embedder: String,
    pub dimension: usize,
}

impl StoreMeta {
    pub fn check_compatible(&self, wanted: &StoreMeta, location: &str) -> Result<()> {
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
