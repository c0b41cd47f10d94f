//! The embedded default: one Qdrant Edge shard on local disk (segments, WAL, payload index, HNSW),
//! in this process. `<store>/docent.json` records which embedder filled it.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeConfigBuilder,
    EdgeOptimizersConfig, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams, FacetRequest,
    FacetResponse, FacetValue, FieldCondition, FieldIndexOperations, Filter, JsonPath, Match,
    Memory, Modifier, NamedQuery, Payload, PayloadFieldSchema, PayloadOps, PayloadSchemaType,
    PointId, PointInsertOperations, PointOperations, PointStruct, QuantizationConfig,
    QuantizationSearchParams, QueryEnum, QueryRequestBuilder, Range, RetrieveRequestBuilder,
    ScalarQuantizationConfig, ScalarType, ScoringQuery, ScrollRequestBuilder, SearchParams,
    SetPayloadOp, SparseVector, UpdateOperation, Vector, VectorInternal, Vectors,
    WithPayloadInterface,
};

use crate::layout::{self, DENSE, DOCUMENT, LEXICAL};
use crate::scale::Layout;
use docent_core::store::{
    CANDIDATE_FIELDS, Candidate, DocumentsPage, LISTING_FIELDS, Point, StoreMeta, StoreQuery,
    StoredDocument, VectorStore, fold_documents, hits_in_order, page_from_first_chunks, point_id,
};
use docent_core::types::Hit;

/// Records what the store was built with ([`StoreMeta`]), next to the shard folder.
const META_FILE: &str = "docent.json";
/// Locked while a process has the store open.
const LOCK_FILE: &str = "docent.lock";
const SCROLL_PAGE: usize = 1024;

/// Qdrant's in-process engine, in a folder: the default store.
pub struct EdgeStore {
    shard: EdgeShard,
    meta: StoreMeta,
    /// The dense vectors have int8 copies: searches walk them and rescore with the originals.
    quantized: bool,
    /// Points written since the last optimize: past [`STEP`], the next write optimizes first.
    written: std::sync::atomic::AtomicUsize,
    /// Held (locked) as long as the store is open.
    _lock: std::fs::File,
}

/// Points written between two optimizes of a large ingest. qdrant-edge has no background
/// optimizer: without steps, every point of an ingest lands in one appendable segment (its
/// BM25 postings in RAM) that one optimize then rebuilds whole next to itself.
const STEP: usize = 65_536;

/// The largest segment the optimizer builds, in KB of dense vectors (~170,000 chunks at 384
/// dimensions): what one optimize holds at once.
const MAX_SEGMENT_KB: usize = 256 * 1024;

impl EdgeStore {
    /// What the store at `dir` was built with, if there is one.
    pub fn recorded_meta(dir: &Path) -> Result<Option<StoreMeta>> {
        let meta_path = dir.join(META_FILE);
        if !meta_path.is_file() {
            return Ok(None);
        }
        let meta = serde_json::from_slice(&std::fs::read(&meta_path)?)
            .with_context(|| format!("reading {}", meta_path.display()))?;
        Ok(Some(meta))
    }

    /// Opens the store in `dir`, creating it if there is none; refuses one filled by another
    /// embedder. `layout` says where vectors live ([`Layout`]): a store whose size calls for
    /// another placement than it has is reopened with it, and its next optimize moves the data.
    pub fn open(dir: &Path, meta: &StoreMeta, layout: Layout) -> Result<Self> {
        let meta_path = dir.join(META_FILE);
        let shard_dir = dir.join("shard");
        let location = dir.display().to_string();
        let lock = lock(dir, &location)?;
        let open_error = |e| anyhow!("opening the store at {location}: {e}");
        let shard = if let Some(found) = Self::recorded_meta(dir)? {
            found.check_compatible(meta, &format!("the store at {location}"))?;
            let shard = EdgeShard::load(&shard_dir, None).map_err(open_error)?;
            let points = count(&shard)?;
            let wanted = shard_config(meta, layout, points);
            let current = {
                let config = shard.config();
                placement(&config) == placement(&wanted) && config.optimizers == wanted.optimizers
            };
            if current {
                shard
            } else {
                tracing::info!(
                    "the store at {location} ({points} chunks) takes the layout {:?}",
                    placement(&wanted)
                );
                drop(shard);
                EdgeShard::load(&shard_dir, Some(wanted)).map_err(open_error)?
            }
        } else {
            std::fs::create_dir_all(&shard_dir)
                .with_context(|| format!("creating the store folder {}", shard_dir.display()))?;
            let shard = EdgeShard::new(&shard_dir, shard_config(meta, layout, 0))
                .map_err(|e| anyhow!("creating the store at {location}: {e}"))?;
            index_payload(&shard)?;
            // Written last: a folder without it is an unfinished creation and is created again.
            std::fs::write(&meta_path, serde_json::to_vec_pretty(meta)?)?;
            shard
        };
        // A store made by an older docent lacks the indexes filters read.
        index_payload(&shard)?;
        let quantized = placement(&shard.config()).1;
        Ok(EdgeStore {
            shard,
            meta: meta.clone(),
            quantized,
            written: std::sync::atomic::AtomicUsize::new(0),
            _lock: lock,
        })
    }
}

/// The shard's configuration for a store of `points` chunks under `layout`: payloads on disk;
/// vectors and BM25 indexes in RAM or on disk; int8 copies of the dense vectors when asked for.
fn shard_config(meta: &StoreMeta, layout: Layout, points: usize) -> EdgeConfig {
    let on_disk = layout.vectors_on_disk(points);
    let memory = if on_disk {
        Memory::Cold
    } else {
        Memory::Cached
    };
    let mut dense = EdgeVectorParams::builder(meta.dimension, Distance::Cosine).memory(memory);
    if layout.quantized(points) {
        #[allow(deprecated)] // `always_ram`, superseded by `memory`, must still be named
        let scalar = ScalarQuantizationConfig {
            r#type: ScalarType::Int8,
            // The extreme 1% of values clipped: a finer grid for the rest.
            quantile: Some(0.99),
            always_ram: None,
            memory: Some(Memory::Pinned),
        };
        dense = dense.quantization_config(QuantizationConfig::from(scalar));
    }
    let sparse = || {
        EdgeSparseVectorParams::builder()
            .modifier(Modifier::Idf)
            .memory(memory)
            .build()
    };
    EdgeConfigBuilder::new()
        .vector(DENSE, dense.build())
        .sparse_vector(LEXICAL, sparse())
        .sparse_vector(DOCUMENT, sparse())
        .payload_memory(Memory::Cold)
        .optimizers(EdgeOptimizersConfig {
            max_segment_size: Some(MAX_SEGMENT_KB),
            ..Default::default()
        })
        .build()
}

/// Where a configuration keeps the dense vectors, and whether it quantizes them.
fn placement(config: &EdgeConfig) -> (Option<Memory>, bool) {
    config.vectors.get(DENSE).map_or((None, false), |dense| {
        (
            dense.memory_placement(),
            dense.quantization_config.is_some(),
        )
    })
}

fn count(shard: &EdgeShard) -> Result<usize> {
    shard
        .count(CountRequest {
            filter: None,
            exact: true,
        })
        .map_err(|e| anyhow!("counting points: {e}"))
}

/// Creates the payload indexes of [`layout::INDEXES`] the shard does not have yet.
fn index_payload(shard: &EdgeShard) -> Result<()> {
    let existing = shard
        .info()
        .map_err(|e| anyhow!("reading the store's indexes: {e}"))?
        .payload_schema;
    for (field, kind) in layout::INDEXES {
        let path = json_path(field);
        if existing.contains_key(&path) {
            continue;
        }
        let schema = match kind {
            layout::IndexType::Keyword => PayloadSchemaType::Keyword,
            layout::IndexType::Integer => PayloadSchemaType::Integer,
        };
        shard
            .update(UpdateOperation::FieldIndexOperation(
                FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: path,
                    field_schema: Some(PayloadFieldSchema::FieldType(schema)),
                }),
            ))
            .map_err(|e| anyhow!("indexing {field}: {e}"))?;
    }
    Ok(())
}

/// Locks the store folder `dir` for this process. The shard locks its write-ahead log too, but
/// says so only in the text of an error; this lock tells a busy store by its kind.
fn lock(dir: &Path, location: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the store folder {location}"))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .with_context(|| format!("opening the store at {location}"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "the store at {location} is in use by another docent process; wait for it to finish or use another --store"
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking the store at {location}"))
        }
    }
}

fn json_path(field: &str) -> JsonPath {
    field
        .parse()
        .expect("payload field names are valid JSON paths")
}

/// A search filter's conditions as the shard's own (on indexed payload fields).
fn native_filter(conditions: Vec<layout::Condition>) -> Filter {
    let must = conditions
        .into_iter()
        .map(|condition| {
            Condition::Field(match condition {
                layout::Condition::AnyOf { field, values } => {
                    FieldCondition::new_match(json_path(field), Match::from(values))
                }
                layout::Condition::Above { field, bound } => FieldCondition::new_range(
                    json_path(field),
                    Range {
                        gt: Some(OrderedFloat(bound as f64)),
                        gte: None,
                        lt: None,
                        lte: None,
                    },
                ),
            })
        })
        .collect();
    Filter {
        must: Some(must),
        ..Default::default()
    }
}

impl EdgeStore {
    /// The `k` best points for `query` among those `filter` admits, with the payload fields
    /// `payload` selects.
    fn query(
        &self,
        query: &StoreQuery,
        filter: &docent_core::store::Filter,
        k: usize,
        payload: WithPayloadInterface,
    ) -> Result<Vec<(f32, serde_json::Value)>> {
        let (using, vector) = layout::channel(query);
        let nearest =
            ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(internal(vector), using)));
        let mut request = QueryRequestBuilder::new(k)
            .with_payload(payload)
            .query(nearest);
        if self.quantized && matches!(query, StoreQuery::Dense(_)) {
            request = request.params(SearchParams {
                quantization: Some(QuantizationSearchParams {
                    ignore: false,
                    rescore: Some(true),
                    oversampling: None,
                }),
                ..Default::default()
            });
        }
        if !filter.is_everything() {
            match layout::conditions(filter, || self.paths())? {
                Some(conditions) => request = request.filter(native_filter(conditions)),
                None => return Ok(Vec::new()),
            }
        }
        let found = self
            .shard
            .query(request.build())
            .map_err(|e| anyhow!("searching the store: {e}"))?;
        found
            .into_iter()
            .map(|p| Ok((p.score, payload_of(p.payload)?)))
            .collect()
    }

    /// How many dense vectors sit in an HNSW index (the rest are searched exhaustively: small
    /// segments, below the optimizer's indexing threshold).
    pub fn indexed_vectors(&self) -> Result<usize> {
        Ok(self
            .shard
            .info()
            .map_err(|e| anyhow!("reading the store's state: {e}"))?
            .indexed_vectors_count)
    }
}

/// A facet's keyword values, each with its number of points.
fn keywords(facet: FacetResponse) -> impl Iterator<Item = (String, usize)> {
    facet.hits.into_iter().filter_map(|hit| match hit.value {
        FacetValue::Keyword(value) => Some((value, hit.count)),
        _ => None,
    })
}

/// The first chunk of every document (one point per document).
fn first_chunks() -> Filter {
    Filter::new_must(Condition::Field(FieldCondition::new_range(
        json_path(layout::CHUNK_INDEX),
        Range {
            gt: None,
            gte: Some(OrderedFloat(0.0)),
            lt: None,
            lte: Some(OrderedFloat(0.0)),
        },
    )))
}

fn doc_filter(doc_id: &str) -> Filter {
    Filter::new_must(Condition::Field(FieldCondition::new_match(
        json_path(layout::DOC_ID),
        Match::from(doc_id.to_string()),
    )))
}

fn internal(vector: layout::Vector) -> VectorInternal {
    match vector {
        layout::Vector::Dense(values) => VectorInternal::Dense(values),
        layout::Vector::Sparse { indices, values } => {
            VectorInternal::Sparse(SparseVector { indices, values })
        }
    }
}

fn payload_of(payload: Option<qdrant_edge::Payload>) -> Result<serde_json::Value> {
    let map = payload
        .ok_or_else(|| anyhow!("a stored point has no payload"))?
        .0;
    Ok(serde_json::Value::Object(map))
}

impl VectorStore for EdgeStore {
    fn meta(&self) -> &StoreMeta {
        &self.meta
    }

    fn upsert(&self, points: Vec<Point>) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.written.fetch_add(points.len(), Ordering::Relaxed) >= STEP {
            self.flush()?;
            self.optimize()?;
        }
        let points = points
            .into_iter()
            .map(|p| {
                let vectors = layout::vectors(&p)
                    .into_iter()
                    .map(|(name, v)| (name, Vector(internal(v))));
                Ok(PointStruct::new(
                    PointId::Uuid(p.id()),
                    Vectors::new_named(vectors),
                    layout::payload(&p)?,
                )
                .into())
            })
            .collect::<Result<Vec<_>>>()?;
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
            ))
            .map_err(|e| anyhow!("writing to the store: {e}"))
    }

    fn delete_document(&self, doc_id: &str) -> Result<()> {
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(doc_filter(doc_id)),
            ))
            .map_err(|e| anyhow!("deleting document {doc_id}: {e}"))
    }

    fn restamp(&self, doc_id: &str, stamp: &str) -> Result<()> {
        let mut payload = Payload::default();
        payload.0.insert(layout::STAMP.into(), stamp.into());
        self.shard
            .update(UpdateOperation::PayloadOperation(PayloadOps::SetPayload(
                SetPayloadOp {
                    payload,
                    points: None,
                    filter: Some(doc_filter(doc_id)),
                    key: None,
                },
            )))
            .map_err(|e| anyhow!("updating document {doc_id}: {e}"))
    }

    fn documents(&self) -> Result<Vec<StoredDocument>> {
        let fields = LISTING_FIELDS
            .iter()
            .map(|f| json_path(f))
            .collect::<Vec<_>>();
        let mut listed = Vec::new();
        let mut offset = None;
        loop {
            let mut request = ScrollRequestBuilder::new()
                .limit(SCROLL_PAGE)
                .with_payload(WithPayloadInterface::Fields(fields.clone()));
            if let Some(offset) = offset {
                request = request.offset(offset);
            }
            let (records, next) = self
                .shard
                .scroll(request.build())
                .map_err(|e| anyhow!("listing the store: {e}"))?;
            for record in records {
                listed.push(layout::listed(payload_of(record.payload)?)?);
            }
            match next {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(fold_documents(listed))
    }

    fn documents_page(&self, from: Option<&str>, limit: usize) -> Result<DocumentsPage> {
        let fields = LISTING_FIELDS.iter().map(|f| json_path(f)).collect();
        // One more than asked: the next page's first document.
        let mut request = ScrollRequestBuilder::new()
            .limit(limit + 1)
            .filter(first_chunks())
            .with_payload(WithPayloadInterface::Fields(fields));
        if let Some(from) = from {
            request = request.offset(PointId::Uuid(point_id(from, 0)));
        }
        let (records, _) = self
            .shard
            .scroll(request.build())
            .map_err(|e| anyhow!("listing the store: {e}"))?;
        let listed = records
            .into_iter()
            .map(|record| layout::listed(payload_of(record.payload)?))
            .collect::<Result<Vec<_>>>()?;
        let (listed, next) = layout::split_page(listed, limit);
        let ids: Vec<String> = listed.iter().map(|p| p.doc_id.clone()).collect();
        let mut request = FacetRequest::new(json_path(layout::DOC_ID));
        request.limit = ids.len();
        request.exact = true;
        request.filter = Some(Filter::new_must(Condition::Field(
            FieldCondition::new_match(json_path(layout::DOC_ID), Match::from(ids)),
        )));
        let counted = self
            .shard
            .facet(request)
            .map_err(|e| anyhow!("counting the documents' chunks: {e}"))?;
        let counts = keywords(counted).map(|(id, count)| (id, count as u64));
        Ok(page_from_first_chunks(listed, counts, next))
    }

    /// The distinct document paths, from the path index (a facet).
    fn paths(&self) -> Result<Vec<String>> {
        let mut request = FacetRequest::new(json_path(layout::PATH));
        request.limit = usize::MAX;
        let found = self
            .shard
            .facet(request)
            .map_err(|e| anyhow!("listing the store's paths: {e}"))?;
        Ok(keywords(found).map(|(path, _)| path).collect())
    }

    fn search(
        &self,
        query: &StoreQuery,
        filter: &docent_core::store::Filter,
        k: usize,
    ) -> Result<Vec<Hit>> {
        self.query(query, filter, k, WithPayloadInterface::Bool(true))?
            .into_iter()
            .map(|(score, payload)| layout::hit(score, payload))
            .collect()
    }

    fn candidates(
        &self,
        query: &StoreQuery,
        filter: &docent_core::store::Filter,
        k: usize,
    ) -> Result<Vec<Candidate>> {
        let fields = CANDIDATE_FIELDS.iter().map(|f| json_path(f)).collect();
        self.query(query, filter, k, WithPayloadInterface::Fields(fields))?
            .into_iter()
            .map(|(score, payload)| layout::candidate(score, payload))
            .collect()
    }

    fn hits(&self, found: &[Candidate]) -> Result<Vec<Hit>> {
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let ids = layout::ids(found).into_iter().map(PointId::Uuid).collect();
        let request = RetrieveRequestBuilder::new(ids)
            .with_payload(WithPayloadInterface::Bool(true))
            .build();
        let records = self
            .shard
            .retrieve(request)
            .map_err(|e| anyhow!("reading found chunks: {e}"))?;
        let stored = records
            .into_iter()
            .map(|record| {
                let id = match record.id {
                    PointId::Uuid(id) => id,
                    PointId::NumId(n) => bail!("the store holds a point with numeric id {n}"),
                };
                Ok((id, layout::chunk(payload_of(record.payload)?)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(hits_in_order(found, stored))
    }

    fn count(&self) -> Result<usize> {
        count(&self.shard)
    }

    fn flush(&self) -> Result<()> {
        self.shard
            .flush()
            .map_err(|e| anyhow!("flushing the store: {e}"))
    }

    fn optimize(&self) -> Result<()> {
        self.written.store(0, std::sync::atomic::Ordering::Relaxed);
        self.shard
            .optimize()
            .map(drop)
            .map_err(|e| anyhow!("optimizing the store: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docent_core::{ChunkPayload, DocumentKind};

    /// Chunk `chunk` of document `doc`, with term 7 at `chunk_weight` in its own BM25 vector
    /// and, on a first chunk, at `document_weight` in its document's.
    fn point(
        doc: &str,
        chunk: u32,
        vector: [f32; 2],
        chunk_weight: Option<f32>,
        document_weight: Option<f32>,
    ) -> Point {
        let payload = ChunkPayload {
            chunk_index: chunk,
            chunk_count: 2,
            kind: Some(if doc == "a" {
                DocumentKind::Md
            } else {
                DocumentKind::Pdf
            }),
            modified: if doc == "a" { 100 } else { 200 },
            ..docent_core::testing::chunk(doc, &format!("{doc}#{chunk}"))
        };
        Point {
            vector: vector.to_vec(),
            sparse: chunk_weight.map(|w| vec![(7, w)]).unwrap_or_default(),
            document_terms: (chunk == 0)
                .then(|| document_weight.map(|w| vec![(7, w)]).unwrap_or_default()),
            payload,
        }
    }

    #[test]
    fn a_store_open_elsewhere_is_in_use_and_free_again_once_closed() {
        let dir = tempfile::tempdir().unwrap();
        let meta = StoreMeta::new("test", 2);
        let first = EdgeStore::open(dir.path(), &meta, Layout::default()).unwrap();
        let err = EdgeStore::open(dir.path(), &meta, Layout::default())
            .err()
            .expect("a second open is refused")
            .to_string();
        assert!(err.contains("in use by another docent process"), "{err}");
        drop(first);
        EdgeStore::open(dir.path(), &meta, Layout::default()).unwrap();
    }

    fn names(store: &EdgeStore, query: StoreQuery) -> Vec<String> {
        names_in(store, query, &docent_core::store::Filter::default())
    }

    fn names_in(
        store: &EdgeStore,
        query: StoreQuery,
        filter: &docent_core::store::Filter,
    ) -> Vec<String> {
        store
            .search(&query, filter, 10)
            .unwrap()
            .into_iter()
            .map(|h| format!("{}#{}", h.doc_id, h.chunk))
            .collect()
    }

    /// Each query searches one channel: chunks by vector, chunks by their own terms, documents
    /// by their whole text's terms (found as their first chunk).
    #[test]
    fn each_channel_searches_its_own_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            EdgeStore::open(dir.path(), &StoreMeta::new("test", 2), Layout::default()).unwrap();
        store
            .upsert(vec![
                point("a", 0, [1.0, 0.0], None, Some(1.0)),
                point("a", 1, [0.8, 0.2], Some(2.0), None),
                point("b", 0, [0.0, 1.0], None, Some(3.0)),
                point("b", 1, [0.6, 0.4], None, None),
            ])
            .unwrap();
        assert_eq!(
            names(&store, StoreQuery::Dense(vec![1.0, 0.0])),
            ["a#0", "a#1", "b#1", "b#0"]
        );
        assert_eq!(names(&store, StoreQuery::Lexical(vec![(7, 1.0)])), ["a#1"]);
        assert_eq!(
            names(&store, StoreQuery::Documents(vec![(7, 1.0)])),
            ["b#0", "a#0"]
        );
        assert!(names(&store, StoreQuery::Documents(vec![(8, 1.0)])).is_empty());

        // A filter applies inside every channel's search.
        let only_b = docent_core::store::Filter {
            documents: vec!["b".into()],
            ..Default::default()
        };
        assert_eq!(
            names_in(&store, StoreQuery::Dense(vec![1.0, 0.0]), &only_b),
            ["b#1", "b#0"]
        );
        assert!(names_in(&store, StoreQuery::Lexical(vec![(7, 1.0)]), &only_b).is_empty());
        assert_eq!(
            names_in(&store, StoreQuery::Documents(vec![(7, 1.0)]), &only_b),
            ["b#0"]
        );
        // Kinds, times and path globs too, each on its indexed field.
        let dense = || StoreQuery::Dense(vec![1.0, 0.0]);
        let pdfs = docent_core::store::Filter {
            kinds: vec![DocumentKind::Pdf],
            ..Default::default()
        };
        assert_eq!(names_in(&store, dense(), &pdfs), ["b#1", "b#0"]);
        let recent = docent_core::store::Filter {
            modified_after: Some(150),
            ..Default::default()
        };
        assert_eq!(names_in(&store, dense(), &recent), ["b#1", "b#0"]);
        let glob = |g: &str| docent_core::store::Filter {
            paths: vec![g.into()],
            ..Default::default()
        };
        assert_eq!(names_in(&store, dense(), &glob("[a]")), ["a#0", "a#1"]);
        assert!(names_in(&store, dense(), &glob("c*")).is_empty());
        let both = docent_core::store::Filter {
            kinds: vec![DocumentKind::Md],
            modified_after: Some(150),
            ..Default::default()
        };
        assert!(names_in(&store, dense(), &both).is_empty());
    }

    /// Hybrid search ranks candidates (no text read) and reads the winners afterwards: the two
    /// steps give what one full search gives, in its order, for every channel; a chunk deleted
    /// in between is left out.
    #[test]
    fn candidates_then_hits_equal_a_full_search() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            EdgeStore::open(dir.path(), &StoreMeta::new("test", 2), Layout::default()).unwrap();
        store
            .upsert(vec![
                point("a", 0, [1.0, 0.0], None, Some(1.0)),
                point("a", 1, [0.8, 0.2], Some(2.0), None),
                point("b", 0, [0.0, 1.0], Some(1.0), Some(3.0)),
                point("b", 1, [0.6, 0.4], None, None),
            ])
            .unwrap();
        let everything = docent_core::store::Filter::default();
        for query in [
            StoreQuery::Dense(vec![1.0, 0.0]),
            StoreQuery::Lexical(vec![(7, 1.0)]),
            StoreQuery::Documents(vec![(7, 1.0)]),
        ] {
            let full = store.search(&query, &everything, 10).unwrap();
            let found = store.candidates(&query, &everything, 10).unwrap();
            assert_eq!(store.hits(&found).unwrap(), full, "{query:?}");
        }
        let found = store
            .candidates(&StoreQuery::Dense(vec![1.0, 0.0]), &everything, 10)
            .unwrap();
        store.delete_document("a").unwrap();
        let left: Vec<String> = store
            .hits(&found)
            .unwrap()
            .into_iter()
            .map(|h| format!("{}#{}", h.doc_id, h.chunk))
            .collect();
        assert_eq!(left, ["b#1", "b#0"]);
    }

    /// A store opened with vectors on disk and int8 quantization is configured so, finds the
    /// same nearest chunk, and one reopened under another layout takes it.
    #[test]
    fn documents_are_listed_a_page_at_a_time_and_restamped_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            EdgeStore::open(dir.path(), &StoreMeta::new("test", 2), Layout::default()).unwrap();
        let mut points = Vec::new();
        for doc in ["a", "b", "c", "d", "e"] {
            points.push(point(doc, 0, [1.0, 0.0], None, None));
            // "c" lost its second chunk, as an interrupted write leaves a document.
            if doc != "c" {
                points.push(point(doc, 1, [0.0, 1.0], None, None));
            }
        }
        store.upsert(points).unwrap();

        let mut listed = Vec::new();
        let mut from = None;
        let mut pages = 0;
        loop {
            let page = store.documents_page(from.as_deref(), 2).unwrap();
            assert!(page.documents.len() <= 2, "{page:?}");
            pages += 1;
            listed.extend(page.documents);
            match page.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        listed.sort_by(|a, b| a.doc_id.cmp(&b.doc_id));
        // The pages hold what the full listing does, completeness included.
        assert_eq!(listed, store.documents().unwrap());
        let incomplete: Vec<&str> = listed
            .iter()
            .filter(|d| !d.complete)
            .map(|d| d.doc_id.as_str())
            .collect();
        assert_eq!(incomplete, ["c"]);

        store.restamp("a", "s1").unwrap();
        let stamps: Vec<Option<String>> = store
            .documents()
            .unwrap()
            .into_iter()
            .map(|d| d.stamp)
            .collect();
        assert_eq!(stamps, [Some("s1".into()), None, None, None, None]);
    }

    #[test]
    fn layouts_configure_the_shard_and_follow_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let meta = StoreMeta::new("test", 2);
        let scaled = Layout {
            on_disk: crate::OnDisk::Always,
            quantization: crate::Quantization::Int8,
        };
        let store = EdgeStore::open(dir.path(), &meta, scaled).unwrap();
        assert_eq!(placement(&store.shard.config()), (Some(Memory::Cold), true));
        store
            .upsert(vec![
                point("a", 0, [1.0, 0.0], None, None),
                point("b", 0, [0.0, 1.0], None, None),
            ])
            .unwrap();
        store.optimize().unwrap();
        assert_eq!(names(&store, StoreQuery::Dense(vec![0.9, 0.1]))[0], "a#0");
        drop(store);
        let store = EdgeStore::open(dir.path(), &meta, Layout::default()).unwrap();
        assert_eq!(
            placement(&store.shard.config()),
            (Some(Memory::Cached), false)
        );
        assert_eq!(names(&store, StoreQuery::Dense(vec![0.1, 0.9]))[0], "b#0");
    }
}
