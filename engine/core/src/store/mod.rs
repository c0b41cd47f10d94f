//! The [`VectorStore`] boundary: where chunk vectors and their payloads live. Every store keeps
//! one payload schema ([`ChunkPayload`]) and one point-id scheme ([`point_id`]), and records which
//! embedder filled it ([`StoreMeta`]). The implementations live in `docent-qdrant`.

mod meta;

use std::collections::BTreeMap;

use anyhow::Result;
use sha2::{Digest, Sha256};

pub use meta::StoreMeta;

use crate::retrieve::lexical::Sparse;
use crate::types::{ChunkPayload, DocumentKind, Hit};

/// One chunk ready to store: its dense embedding, its BM25 terms and its payload; the first
/// chunk of a document also carries the BM25 terms of the whole document.
#[derive(Debug, Clone)]
pub struct Point {
    /// The chunk's embedding.
    pub vector: Vec<f32>,
    /// The chunk's BM25 terms.
    pub sparse: Sparse,
    /// The whole document's BM25 terms, on its first chunk only.
    pub document_terms: Option<Sparse>,
    /// What is stored with the vectors.
    pub payload: ChunkPayload,
}

/// One channel to search: chunks by embedding, chunks by BM25, or documents by BM25 (each
/// found document as its first chunk). Hybrid retrieval fuses them in the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreQuery {
    /// Nearest chunks by embedding.
    Dense(Vec<f32>),
    /// Best chunks by BM25.
    Lexical(Sparse),
    /// Best documents by BM25 (each as its first chunk).
    Documents(Sparse),
}

/// A point a search found, before its payload is read: which chunk it is and how it scored.
/// Hybrid search fuses hundreds of these per channel and reads the text of the few it keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The channel's score (a fused score after fusion).
    pub score: f32,
    /// The document's id.
    pub doc_id: String,
    /// The chunk's position in its document.
    pub chunk: u32,
}

impl From<Hit> for Candidate {
    fn from(hit: Hit) -> Self {
        Candidate {
            score: hit.score,
            doc_id: hit.doc_id,
            chunk: hit.chunk,
        }
    }
}

/// Payload fields a [`Candidate`] is read from.
pub const CANDIDATE_FIELDS: &[&str] = &["doc_id", "chunk_index"];

/// A found point's payload as a candidate reads it ([`CANDIDATE_FIELDS`] only).
#[derive(serde::Deserialize)]
pub struct CandidatePayload {
    /// The document's id.
    pub doc_id: String,
    /// The chunk's position in its document.
    pub chunk_index: u32,
}

impl CandidatePayload {
    /// The candidate for a point found with this payload at `score`.
    pub fn scored(self, score: f32) -> Candidate {
        Candidate {
            score,
            doc_id: self.doc_id,
            chunk: self.chunk_index,
        }
    }
}

/// Which chunks a search may return; the default, everything. A chunk must pass every field
/// that is set. Stores apply it inside the search, on indexed payload fields, so every channel
/// ranks only what it admits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only chunks of these documents (their ids); empty: every document.
    pub documents: Vec<String>,
    /// Only documents whose path in its folder matches one of these globs (`*` and `?` within
    /// a folder, `**` across folders, `[ab]`, `{md,txt}`); empty: any path.
    pub paths: Vec<String>,
    /// Only documents of these kinds; empty: any kind.
    pub kinds: Vec<DocumentKind>,
    /// Only documents whose file was last modified after this (Unix seconds).
    pub modified_after: Option<u64>,
    /// Only documents at exactly these paths: `paths`' globs resolved against the store's
    /// paths ([`Filter::resolve`]; the engine does it once per question, not once per channel).
    /// `None`: not resolved.
    pub exact_paths: Option<Vec<String>>,
}

impl Filter {
    /// A time as filters take it, in Unix seconds: a day (`2026-03-01`, its start in UTC) or
    /// an RFC 3339 time (`2026-03-01T12:00:00Z`, `…+08:00`). Reckoned on the calendar, not as a
    /// timestamp, so that every day of years 1–9999 is a date (`9999-12-31T23:59:59Z` lies
    /// past the last timestamp jiff represents); times before 1970 are 0.
    pub fn time(text: &str) -> crate::error::Result<u64> {
        use jiff::civil::{Time, date};
        let text = text.trim();
        let not_a_date = || {
            crate::Error::InvalidInput(format!(
                "{text:?} is not a date: give a day (2026-03-01) or an RFC 3339 time (2026-03-01T12:00:00Z)"
            ))
        };
        let pieces = jiff::fmt::temporal::Pieces::parse(text).map_err(|_| not_a_date())?;
        let (time, offset) = match (pieces.time(), pieces.to_numeric_offset()) {
            (None, None) => (Time::midnight(), 0),
            (Some(time), Some(offset)) => (time, offset.seconds()),
            // A time needs its offset: "12:00" alone is no moment.
            _ => return Err(not_a_date()),
        };
        let epoch = date(1970, 1, 1).to_datetime(Time::midnight());
        let seconds = pieces
            .date()
            .to_datetime(time)
            .duration_since(epoch)
            .as_secs()
            - i64::from(offset);
        Ok(seconds.max(0) as u64)
    }

    /// Whether it admits every chunk.
    pub fn is_everything(&self) -> bool {
        self.documents.is_empty()
            && self.paths.is_empty()
            && self.kinds.is_empty()
            && self.modified_after.is_none()
            && self.exact_paths.is_none()
    }

    /// This filter with its path globs resolved into exact paths ([`Filter::exact_paths_in`]).
    pub fn resolve(
        &self,
        stored: impl FnOnce() -> Result<Vec<String>>,
    ) -> crate::error::Result<Filter> {
        if self.paths.is_empty() || self.exact_paths.is_some() {
            return Ok(self.clone());
        }
        Ok(Filter {
            paths: Vec::new(),
            exact_paths: self.exact_paths_in(stored)?,
            ..self.clone()
        })
    }

    /// The exact paths a document must be at: those already resolved, else the paths among
    /// `stored` (the store's distinct document paths, listed only when there are globs) that
    /// the globs admit; `None` when the filter says nothing of paths.
    pub fn exact_paths_in(
        &self,
        stored: impl FnOnce() -> Result<Vec<String>>,
    ) -> crate::error::Result<Option<Vec<String>>> {
        if let Some(exact) = &self.exact_paths {
            return Ok(Some(exact.clone()));
        }
        if self.paths.is_empty() {
            return Ok(None);
        }
        let stored = stored()?;
        Ok(Some(
            self.matching_paths(stored.iter().map(String::as_str))?,
        ))
    }

    /// The path globs, parsed (not compiled); an invalid glob is the caller's mistake.
    pub fn parsed_globs(&self) -> crate::error::Result<Vec<globset::Glob>> {
        self.paths
            .iter()
            .map(|glob| {
                globset::GlobBuilder::new(glob)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| crate::Error::InvalidInput(format!("path glob {glob:?}: {e}")))
            })
            .collect()
    }

    /// The path globs compiled into one matcher (`None`: no path globs). Callers bound the
    /// globs first ([`crate::limits::check_filter`]): compiling is the costly step.
    pub fn path_matcher(&self) -> crate::error::Result<Option<globset::GlobSet>> {
        if self.paths.is_empty() {
            return Ok(None);
        }
        let mut set = globset::GlobSetBuilder::new();
        for glob in self.parsed_globs()? {
            set.add(glob);
        }
        set.build()
            .map(Some)
            .map_err(|e| crate::Error::InvalidInput(format!("path globs: {e}")))
    }

    /// Of `paths` (the store's distinct document paths), those its globs admit; every one when
    /// it has none.
    pub fn matching_paths<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a str>,
    ) -> crate::error::Result<Vec<String>> {
        let matcher = self.path_matcher()?;
        Ok(paths
            .into_iter()
            .filter(|p| matcher.as_ref().is_none_or(|m| m.is_match(p)))
            .map(str::to_string)
            .collect())
    }

    /// The test a chunk's payload must pass, its globs compiled once (what the in-memory fakes
    /// apply; real stores translate the filter into their own); an invalid glob is the
    /// caller's mistake.
    pub fn admitter(&self) -> crate::error::Result<impl Fn(&ChunkPayload) -> bool + '_> {
        let paths = self.path_matcher()?;
        Ok(move |payload: &ChunkPayload| {
            (self.documents.is_empty() || self.documents.contains(&payload.doc_id))
                && paths.as_ref().is_none_or(|m| m.is_match(&payload.path))
                && self
                    .exact_paths
                    .as_ref()
                    .is_none_or(|exact| exact.contains(&payload.path))
                && (self.kinds.is_empty() || payload.kind.is_some_and(|k| self.kinds.contains(&k)))
                && self.modified_after.is_none_or(|t| payload.modified > t)
        })
    }
}

impl Point {
    /// Deterministic id: re-ingesting a document overwrites its points instead of duplicating them.
    pub fn id(&self) -> uuid::Uuid {
        point_id(&self.payload.doc_id, self.payload.chunk_index)
    }
}

/// The id of chunk `chunk_index` of document `doc_id`: a UUID from their SHA-256.
pub fn point_id(doc_id: &str, chunk_index: u32) -> uuid::Uuid {
    let digest = Sha256::new()
        .chain_update(doc_id)
        .chain_update(chunk_index.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// What the store holds of one document, rebuilt from its points' payloads.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredDocument {
    /// The document's id.
    pub doc_id: String,
    /// The folder it was ingested from.
    pub root: String,
    /// Its path in that folder.
    pub path: String,
    /// The hash its points carry.
    pub content_hash: String,
    /// Points found for the document.
    pub points: u32,
    /// True when every chunk the document should have is stored, all from the same version.
    pub complete: bool,
    /// When the stored version was written (Unix seconds; 0: unknown).
    pub ingested_at: u64,
    /// The file's stamp when the stored version was read ([`ChunkPayload::stamp`]), when all its
    /// points carry the same one.
    #[serde(skip)]
    pub stamp: Option<String>,
}

/// The store, or a part of it (a shard whose every copy is on a lost node), cannot be reached
/// now; the same request may succeed once the node is back. Servers answer it with a 503.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// How a distributed store (a collection of a Qdrant cluster) keeps its shards, as the nodes it
/// can reach see them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Topology {
    /// Copies of each shard the collection was created with.
    pub replication_factor: u32,
    /// Copies that must confirm a write.
    pub write_consistency: u32,
    /// Each shard and its replicas.
    pub shards: Vec<Shard>,
}

/// One shard of a [`Topology`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Shard {
    /// The shard's id.
    pub id: u32,
    /// Its copies.
    pub replicas: Vec<Replica>,
}

/// One copy of a [`Shard`], on one cluster peer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Replica {
    /// The peer (node) that holds it.
    pub peer: u64,
    /// The node's URL, when it is one of those docent was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What the cluster says of it (`active`, `dead`, `partial`, ...).
    pub state: String,
    /// Whether it serves searches now: the cluster calls it active and its node answers.
    pub live: bool,
}

impl Shard {
    /// Whether no replica is live: the shard's points are out of reach.
    pub fn is_lost(&self) -> bool {
        !self.replicas.iter().any(|r| r.live)
    }
}

impl Topology {
    /// The shards without a live replica.
    pub fn lost_shards(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter().filter(|s| s.is_lost())
    }

    /// Whether every replica of every shard is live.
    pub fn all_live(&self) -> bool {
        self.shards
            .iter()
            .all(|s| s.replicas.iter().all(|r| r.live))
    }
}

/// Payload fields read when listing documents (everything but the text).
pub const LISTING_FIELDS: &[&str] = &[
    "root",
    "path",
    "doc_id",
    "content_hash",
    "chunk_index",
    "chunk_count",
    "ingested_at",
    "stamp",
];

/// A payload without its text, as read when listing documents.
#[derive(serde::Deserialize)]
pub struct ListingPayload {
    /// The folder the document was ingested from.
    pub root: String,
    /// Its path in that folder.
    pub path: String,
    /// The document's id.
    pub doc_id: String,
    /// The hash of the indexed version.
    pub content_hash: String,
    /// How many chunks the document has.
    pub chunk_count: u32,
    /// When the point was written (Unix seconds; 0: unknown).
    #[serde(default)]
    pub ingested_at: u64,
    /// The file's stamp when this version was read.
    #[serde(default)]
    pub stamp: Option<String>,
}

/// One page of a store's documents ([`VectorStore::documents_page`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DocumentsPage {
    /// The page's documents.
    pub documents: Vec<StoredDocument>,
    /// The id of the next page's first document (pass it as `from`); `None` on the last page.
    pub next: Option<String>,
}

/// A page of documents from their first chunks' payloads and each document's number of points
/// (`counts`: id and count, as a facet over the page's ids gives them): a document is complete
/// when that is the number its first chunk says it has.
pub fn page_from_first_chunks(
    first_chunks: Vec<ListingPayload>,
    counts: impl IntoIterator<Item = (String, u64)>,
    next: Option<String>,
) -> DocumentsPage {
    let points: std::collections::HashMap<String, u64> = counts.into_iter().collect();
    let documents = first_chunks
        .into_iter()
        .map(|p| {
            let found = points.get(&p.doc_id).map_or(1, |&n| n as u32);
            StoredDocument {
                complete: found == p.chunk_count,
                points: found,
                doc_id: p.doc_id,
                root: p.root,
                path: p.path,
                content_hash: p.content_hash,
                ingested_at: p.ingested_at,
                stamp: p.stamp,
            }
        })
        .collect();
    DocumentsPage { documents, next }
}

/// Folds listed points into documents; a document is complete when it has exactly `chunk_count`
/// points and they all carry one content hash (an interrupted ingest leaves it incomplete).
pub fn fold_documents(points: impl IntoIterator<Item = ListingPayload>) -> Vec<StoredDocument> {
    let mut docs: BTreeMap<String, (StoredDocument, u32)> = BTreeMap::new();
    for p in points {
        let entry = docs.entry(p.doc_id.clone()).or_insert_with(|| {
            let doc = StoredDocument {
                doc_id: p.doc_id.clone(),
                root: p.root.clone(),
                path: p.path.clone(),
                content_hash: p.content_hash.clone(),
                points: 0,
                complete: true,
                ingested_at: p.ingested_at,
                stamp: p.stamp.clone(),
            };
            (doc, p.chunk_count)
        });
        entry.0.points += 1;
        if entry.0.content_hash != p.content_hash || entry.1 != p.chunk_count {
            entry.0.complete = false;
        }
        if entry.0.stamp != p.stamp {
            entry.0.stamp = None;
        }
    }
    docs.into_values()
        .map(|(mut doc, expected)| {
            doc.complete &= doc.points == expected;
            doc
        })
        .collect()
}

/// Stores chunk vectors with their payloads and finds the nearest ones.
///
/// The contract: a store records which embedder filled it ([`StoreMeta`]) when it is created,
/// checks the record whenever it is opened ([`StoreMeta::check_recorded`]) and reports it in
/// [`VectorStore::meta`], so that the engine and the ingest pipeline refuse to mix vectors of two
/// models ([`check_pairing`]). Implementations are synchronous: callers on an async runtime run
/// them on a blocking thread.
pub trait VectorStore: Send + Sync {
    /// What filled this store: the embedder whose vectors it holds.
    fn meta(&self) -> &StoreMeta;
    /// Inserts or replaces points (by [`Point::id`]).
    fn upsert(&self, points: Vec<Point>) -> Result<()>;
    /// Removes every point of a document.
    fn delete_document(&self, doc_id: &str) -> Result<()>;
    /// How the store's shards and their replicas stand, for a distributed store; `None` for
    /// one that is not (the embedded store, a single Qdrant server without a cluster).
    fn topology(&self) -> Result<Option<Topology>> {
        Ok(None)
    }
    /// Sets the file stamp ([`ChunkPayload::stamp`]) of every point of a document, whose file
    /// changed its times but not its bytes: the next sync then need not read it.
    fn restamp(&self, doc_id: &str, stamp: &str) -> Result<()>;
    /// Every document in the store, sorted by id.
    fn documents(&self) -> Result<Vec<StoredDocument>>;
    /// At most `limit` documents, starting at the one with id `from` (a page's `next`), or at
    /// the first. A store that can reads only the documents shown (their first chunks, and a
    /// count of their points), not every point; a document whose first chunk is missing (an
    /// interrupted write) is then not listed, though [`documents`](Self::documents) lists it.
    /// The order is the store's own, the same from page to page.
    fn documents_page(&self, from: Option<&str>, limit: usize) -> Result<DocumentsPage> {
        let documents = self.documents()?;
        let start = from.map_or(0, |from| {
            documents.partition_point(|d| d.doc_id.as_str() < from)
        });
        let mut rest = documents.into_iter().skip(start);
        let page: Vec<StoredDocument> = rest.by_ref().take(limit).collect();
        Ok(DocumentsPage {
            documents: page,
            next: rest.next().map(|d| d.doc_id),
        })
    }
    /// The distinct paths of the stored documents (path globs are matched against them).
    fn paths(&self) -> Result<Vec<String>>;
    /// The `k` best points for `query`, best first.
    fn search(&self, query: &StoreQuery, filter: &Filter, k: usize) -> Result<Vec<Hit>>;
    /// [`Self::search`] without reading the chunks' text: what fusion ranks. Stores read only
    /// the payload fields a candidate needs ([`CANDIDATE_FIELDS`]).
    fn candidates(&self, query: &StoreQuery, filter: &Filter, k: usize) -> Result<Vec<Candidate>> {
        Ok(self
            .search(query, filter, k)?
            .into_iter()
            .map(Candidate::from)
            .collect())
    }
    /// The chunks `found` names, as hits with their candidates' scores, in the same order; a
    /// chunk deleted since it was found is left out.
    fn hits(&self, found: &[Candidate]) -> Result<Vec<Hit>>;
    /// Number of points (chunks) stored.
    fn count(&self) -> Result<usize>;
    /// Makes everything written so far durable.
    fn flush(&self) -> Result<()>;
    /// Builds search indexes after a bulk write (a Qdrant server does this by itself).
    fn optimize(&self) -> Result<()> {
        Ok(())
    }
}

/// `found` as hits, from the payloads a store read for them (`stored`: by point id, in any
/// order): each keeps its candidate's score and place; one without a payload is left out.
pub fn hits_in_order(
    found: &[Candidate],
    stored: impl IntoIterator<Item = (uuid::Uuid, ChunkPayload)>,
) -> Vec<Hit> {
    let mut stored: std::collections::HashMap<uuid::Uuid, ChunkPayload> =
        stored.into_iter().collect();
    found
        .iter()
        .filter_map(|c| {
            let payload = stored.remove(&point_id(&c.doc_id, c.chunk))?;
            Some(Hit::from_payload(c.score, payload))
        })
        .collect()
}

/// Refuses to pair `embedder` with a `store` another embedder filled: their vectors would be
/// compared as if they were alike, and search would return noise without an error.
pub fn check_pairing(embedder: &dyn crate::Embedder, store: &dyn VectorStore) -> Result<()> {
    store
        .meta()
        .check_compatible(&StoreMeta::of(embedder), "the store")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(path: &str, kind: DocumentKind, modified: u64) -> ChunkPayload {
        ChunkPayload {
            kind: Some(kind),
            modified,
            ..crate::testing::chunk(path, "")
        }
    }

    #[test]
    fn a_filter_admits_what_passes_every_field_it_sets() {
        let docs = [
            payload("guide/install.md", DocumentKind::Md, 100),
            payload("guide/deep/faq.md", DocumentKind::Md, 300),
            payload("manual.pdf", DocumentKind::Pdf, 300),
        ];
        let admitted = |filter: &Filter| -> Vec<&str> {
            let admits = filter.admitter().unwrap();
            docs.iter()
                .filter(|p| admits(p))
                .map(|p| p.path.as_str())
                .collect()
        };
        assert_eq!(admitted(&Filter::default()).len(), 3);
        let globs = |g: &[&str]| Filter {
            paths: g.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        };
        // `*` stays within a folder, `**` crosses them.
        assert_eq!(admitted(&globs(&["guide/*.md"])), ["guide/install.md"]);
        assert_eq!(
            admitted(&globs(&["guide/**"])),
            ["guide/install.md", "guide/deep/faq.md"]
        );
        assert_eq!(
            admitted(&globs(&["*.pdf", "**/faq.md"])),
            ["guide/deep/faq.md", "manual.pdf"]
        );
        let recent_md = Filter {
            kinds: vec![DocumentKind::Md],
            modified_after: Some(200),
            ..Default::default()
        };
        assert_eq!(admitted(&recent_md), ["guide/deep/faq.md"]);
        assert_eq!(
            Filter::default().matching_paths(["a.md", "b.pdf"]).unwrap(),
            ["a.md", "b.pdf"]
        );
        assert!(globs(&["[unclosed"]).path_matcher().is_err());
        assert!(globs(&["[unclosed"]).admitter().is_err());
    }

    #[test]
    fn times_are_days_or_rfc3339() {
        assert_eq!(Filter::time("1970-01-02").unwrap(), 86_400);
        assert_eq!(
            Filter::time("2026-03-01T00:00:00Z").unwrap(),
            Filter::time("2026-03-01").unwrap()
        );
        assert_eq!(Filter::time("1970-01-01T08:00:00+08:00").unwrap(), 0);
        // The last second of the calendar is a date, past every stored time.
        assert_eq!(
            Filter::time("9999-12-31T23:59:59Z").unwrap(),
            253_402_300_799
        );
        assert!(
            Filter::time("2026-03-01T12:00:00").is_err(),
            "a time needs its offset"
        );
        let err = Filter::time("last week").unwrap_err().to_string();
        assert!(err.contains("not a date"), "{err}");
    }

    fn listed(doc: &str, hash: &str, count: u32) -> ListingPayload {
        ListingPayload {
            root: "/r".into(),
            path: format!("{doc}.md"),
            doc_id: doc.into(),
            content_hash: hash.into(),
            chunk_count: count,
            ingested_at: 0,
            stamp: None,
        }
    }

    #[test]
    fn documents_are_complete_only_with_all_chunks_of_one_version() {
        let docs = fold_documents([
            listed("full", "h1", 2),
            listed("full", "h1", 2),
            listed("partial", "h1", 3),
            listed("partial", "h1", 3),
            listed("mixed", "h1", 2),
            listed("mixed", "h2", 2),
        ]);
        let state: Vec<(&str, u32, bool)> = docs
            .iter()
            .map(|d| (d.doc_id.as_str(), d.points, d.complete))
            .collect();
        assert_eq!(
            state,
            vec![
                ("full", 2, true),
                ("mixed", 2, false),
                ("partial", 2, false)
            ]
        );
    }

    #[test]
    fn a_store_without_its_own_paging_pages_its_full_listing_by_id() {
        let store = crate::testing::MemoryStore::default();
        let points = ["d", "a", "c", "b"]
            .iter()
            .map(|doc| Point {
                vector: vec![1.0],
                sparse: Vec::new(),
                document_terms: None,
                payload: crate::testing::chunk(doc, "text"),
            })
            .collect();
        store.upsert(points).unwrap();
        let first = store.documents_page(None, 3).unwrap();
        let ids: Vec<&str> = first.documents.iter().map(|d| d.doc_id.as_str()).collect();
        assert_eq!(
            (ids, first.next.as_deref()),
            (vec!["a", "b", "c"], Some("d"))
        );
        let last = store.documents_page(first.next.as_deref(), 3).unwrap();
        assert_eq!(last.documents.len(), 1);
        assert_eq!(last.next, None);
    }

    #[test]
    fn point_ids_are_stable_and_distinct() {
        assert_eq!(point_id("a", 0), point_id("a", 0));
        assert_ne!(point_id("a", 0), point_id("a", 1));
        assert_ne!(point_id("a", 0), point_id("b", 0));
    }
}
