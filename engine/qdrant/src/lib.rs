//! docent's vector stores, behind `docent-core`'s [`VectorStore`](docent_core::VectorStore) trait:
//! [`EdgeStore`], Qdrant's in-process engine in a folder (the default), and [`QdrantServerStore`],
//! a Qdrant server or cluster over gRPC for corpora larger than one machine. Both write the same
//! points ([`layout`]) and record which embedder filled them, refusing another.

#![warn(missing_docs)]

mod edge;
mod layout;
mod scale;
mod server;

pub use edge::EdgeStore;
pub use scale::{Layout, ON_DISK_AFTER, OnDisk, Quantization};
pub use server::{QdrantServerStore, ReadConsistency, ServerOptions};
