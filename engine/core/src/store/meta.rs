//! What a store was built with: a store of 384-d MiniLM vectors must not be searched with
//! vectors of another model, so docent records the embedder and checks it on open.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// The layout of points this docent writes: 2 = named dense vector plus BM25 sparse vector;
/// 3 = also the whole document's BM25 vector on its first chunk.
pub const SCHEMA: u32 = 3;

/// What a store was built with, recorded beside it and checked on every open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    /// Stores written before the schema was recorded are schema 1 (one unnamed dense vector).
    #[serde(default = "first_schema")]
    pub schema: u32,
    /// The embedder's id ([`crate::Embedder::id`]).
    pub embedder: String,
    /// Its vectors' length.
    pub dimension: usize,
}

fn first_schema() -> u32 {
    1
}

impl StoreMeta {
    /// The record for a store filled by `embedder`.
    pub fn of(embedder: &dyn crate::Embedder) -> Self {
        StoreMeta::new(embedder.id(), embedder.dimension())
    }

    /// The record for a store of `dimension`-d vectors from the embedder with id `embedder`.
    pub fn new(embedder: &str, dimension: usize) -> Self {
        StoreMeta {
            schema: SCHEMA,
            embedder: embedder.to_string(),
            dimension,
        }
    }

    /// Checks what a store recorded (JSON; `None` when it recorded nothing) against `wanted`. A
    /// store without a record is refused: its vectors may come from any model, and two models of
    /// the same dimension would mix without an error.
    pub fn check_recorded(
        recorded: Option<serde_json::Value>,
        wanted: &StoreMeta,
        location: &str,
    ) -> Result<()> {
        let Some(recorded) = recorded else {
            bail!(
                "{location} does not record which embedder filled it (another program or an older docent made \
                 it).\n  Use another --collection, or delete this one and ingest again."
            );
        };
        let found: StoreMeta = serde_json::from_value(recorded).map_err(|e| {
            anyhow::anyhow!(
                "{location} records its embedder in a form this docent cannot read: {e}"
            )
        })?;
        found.check_compatible(wanted, location)
    }

    /// Checks a store's record against `wanted`; `location` names the store ("the store at …").
    pub fn check_compatible(&self, wanted: &StoreMeta, location: &str) -> Result<()> {
        if self.schema != wanted.schema {
            bail!(
                "{location} was written by another version of docent (layout {}, this one uses {}).\n  \
                 Delete it and ingest again, or use another --store.",
                self.schema,
                wanted.schema
            );
        }
        if self != wanted {
            bail!(
                "{location} holds {} vectors ({}-d) but docent is using {} ({}-d).\n  \
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_filled_by_another_embedder_or_by_no_one_known_is_refused() {
        let wanted = StoreMeta::new("e5-small-q4", 384);
        let here = "Qdrant collection docs at http://q:6334";
        let same = serde_json::to_value(&wanted).unwrap();
        assert!(StoreMeta::check_recorded(Some(same), &wanted, here).is_ok());
        // Same dimension, another model: the vectors would mix without an error.
        let other = serde_json::to_value(StoreMeta::new("all-minilm-l6-v2-int8", 384)).unwrap();
        let err = StoreMeta::check_recorded(Some(other), &wanted, here)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "Qdrant collection docs at http://q:6334 holds all-minilm-l6-v2-int8 vectors"
            ),
            "{err}"
        );
        let err = StoreMeta::check_recorded(None, &wanted, here)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not record which embedder"), "{err}");
        let err = StoreMeta::check_recorded(Some(serde_json::json!("e5")), &wanted, here)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
