//! The point layout both stores write, in one place: the named vectors a point carries, the payload
//! they carry it with, which vector each search channel queries, and how a found payload becomes a
//! [`Hit`]. Each store only translates these into its client library's types, so the embedded
//! store and a Qdrant server hold the same points and answer the same searches.

use anyhow::Result;
use docent_core::retrieve::lexical::Sparse;
use docent_core::store::{
    Candidate, CandidatePayload, Filter, ListingPayload, Point, StoreQuery, point_id,
};
use docent_core::types::{ChunkPayload, Hit};

/// The dense vector's name (cosine distance).
pub const DENSE: &str = "dense";
/// The chunk's BM25 vector (sparse; the store applies IDF).
pub const LEXICAL: &str = "bm25";
/// The whole document's BM25 vector, carried by its first chunk only (sparse, IDF).
pub const DOCUMENT: &str = "bm25_document";
/// The payload field documents are found and deleted by; both stores index it as a keyword.
pub const DOC_ID: &str = "doc_id";
/// A document's path in its folder: path globs match it.
pub const PATH: &str = "path";
/// A document's kind (md, html, pdf, text, code, and the office, e-book, mail, notebook and
/// table formats).
pub const KIND: &str = "kind";
/// When a document's file was last modified (Unix seconds).
pub const MODIFIED: &str = "modified";
/// A document's file stamp, when its bytes were read (`ChunkPayload::stamp`).
pub const STAMP: &str = "stamp";
/// A chunk's position in its document (a listing reads the first chunks only).
pub const CHUNK_INDEX: &str = "chunk_index";

/// How a payload field is indexed.
pub enum IndexType {
    /// Exact string values.
    Keyword,
    /// Whole numbers, for ranges.
    Integer,
}

/// The payload fields both stores index: what documents are deleted by and filters read. A
/// store missing one (made by an older docent) gets it when opened.
pub const INDEXES: [(&str, IndexType); 5] = [
    (DOC_ID, IndexType::Keyword),
    (PATH, IndexType::Keyword),
    (KIND, IndexType::Keyword),
    (MODIFIED, IndexType::Integer),
    (CHUNK_INDEX, IndexType::Integer),
];

/// One condition of a search filter, before a client library's types.
pub enum Condition {
    /// The field holds one of these values.
    AnyOf {
        /// The payload field.
        field: &'static str,
        /// The values admitted.
        values: Vec<String>,
    },
    /// The field holds a number greater than this.
    Above {
        /// The payload field.
        field: &'static str,
        /// The bound, excluded.
        bound: u64,
    },
}

/// The conditions of `filter`, all of which a point must meet, or `None` when no point can (no
/// stored path matches its globs). Exact paths are matched on the indexed path field; globs the
/// engine has not resolved yet are resolved here against the store's distinct document paths
/// (`paths`, asked only then).
pub fn conditions(
    filter: &Filter,
    paths: impl FnOnce() -> Result<Vec<String>>,
) -> Result<Option<Vec<Condition>>> {
    let mut conditions = Vec::new();
    if !filter.documents.is_empty() {
        conditions.push(Condition::AnyOf {
            field: DOC_ID,
            values: filter.documents.clone(),
        });
    }
    if let Some(exact) = filter.exact_paths_in(paths)? {
        if exact.is_empty() {
            return Ok(None);
        }
        conditions.push(Condition::AnyOf {
            field: PATH,
            values: exact,
        });
    }
    if !filter.kinds.is_empty() {
        conditions.push(Condition::AnyOf {
            field: KIND,
            values: filter.kinds.iter().map(|k| k.to_string()).collect(),
        });
    }
    if let Some(bound) = filter.modified_after {
        conditions.push(Condition::Above {
            field: MODIFIED,
            bound,
        });
    }
    Ok(Some(conditions))
}

/// A vector as stored or queried, before a client library's own types.
pub enum Vector {
    Dense(Vec<f32>),
    Sparse { indices: Vec<u32>, values: Vec<f32> },
}

fn sparse(terms: &Sparse) -> Vector {
    let (indices, values) = terms.iter().copied().unzip();
    Vector::Sparse { indices, values }
}

/// The named vectors of `point`: dense and BM25 always, the document's BM25 on a first chunk.
pub fn vectors(point: &Point) -> Vec<(&'static str, Vector)> {
    let mut vectors = vec![
        (DENSE, Vector::Dense(point.vector.clone())),
        (LEXICAL, sparse(&point.sparse)),
    ];
    if let Some(terms) = &point.document_terms {
        vectors.push((DOCUMENT, sparse(terms)));
    }
    vectors
}

/// The payload of `point`, as JSON.
pub fn payload(point: &Point) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(&point.payload)?)
}

/// The named vector a search channel queries, and the query vector.
pub fn channel(query: &StoreQuery) -> (&'static str, Vector) {
    match query {
        StoreQuery::Dense(vector) => (DENSE, Vector::Dense(vector.clone())),
        StoreQuery::Lexical(terms) => (LEXICAL, sparse(terms)),
        StoreQuery::Documents(terms) => (DOCUMENT, sparse(terms)),
    }
}

/// A found point as a hit.
pub fn hit(score: f32, payload: serde_json::Value) -> Result<Hit> {
    Ok(Hit::from_payload(score, chunk(payload)?))
}

/// A stored point's whole payload.
pub fn chunk(payload: serde_json::Value) -> Result<ChunkPayload> {
    Ok(serde_json::from_value(payload)?)
}

/// A found point as a candidate (read with [`docent_core::store::CANDIDATE_FIELDS`] only).
pub fn candidate(score: f32, payload: serde_json::Value) -> Result<Candidate> {
    Ok(serde_json::from_value::<CandidatePayload>(payload)?.scored(score))
}

/// The point ids of the chunks `found` names.
pub fn ids(found: &[Candidate]) -> Vec<uuid::Uuid> {
    found.iter().map(|c| point_id(&c.doc_id, c.chunk)).collect()
}

/// A page of listed first chunks read one past `limit`: the page, and the next page's first
/// document (what the extra one was).
pub fn split_page(
    mut listed: Vec<ListingPayload>,
    limit: usize,
) -> (Vec<ListingPayload>, Option<String>) {
    let next = (listed.len() > limit)
        .then(|| listed.pop().map(|p| p.doc_id))
        .flatten();
    (listed, next)
}

/// A listed point's payload (read with [`docent_core::store::LISTING_FIELDS`] only).
pub fn listed(payload: serde_json::Value) -> Result<ListingPayload> {
    Ok(serde_json::from_value(payload)?)
}
