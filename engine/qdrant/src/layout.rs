//! The point layout both stores share: the names of a point's vectors.

/// The dense vector's name in every store.
pub const DENSE: &str = "dense";
/// The lexical (BM25 sparse) vector's name; the store applies IDF to it.
pub const LEXICAL: &str = "bm25";
/// The whole document's BM25 vector, carried by its first chunk only.
pub const DOCUMENT: &str = "bm25_document";
