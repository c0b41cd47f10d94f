//! The embedded default: one Qdrant Edge shard on local disk (segments, WAL, payload index, HNSW),
//! in this process. `<store>/docent.json` records which embedder filled it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, Fusion, JsonPath, Match, Modifier,
    NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations, PointOperations,
    PointStruct, PrefetchBuilder, QueryEnum, QueryRequestBuilder, ScoringQuery, ScrollRequestBuilder,
    SparseVector, UpdateOperation, Vector, VectorInternal, Vectors, WithPayloadInterface,
};

use super::{
    DENSE, LEXICAL, LISTING_FIELDS, ListingPayload, Point, StoreMeta, StoreQuery, StoredDocument, VectorStore,
    fold_documents,
};
use crate::lexical::Sparse;
use crate::types::{ChunkPayload, Hit};

const SCROLL_PAGE: usize = 1024;
/// Reciprocal rank fusion's constant: a document at rank r in a channel scores weight / (K + r).
pub(super) const RRF_K: usize = 60;

pub struct EdgeStore {
    shard: EdgeShard,
    dir: PathBuf,
}

impl EdgeStore {
    /// Opens the store in `dir`, creating it if it does not exist yet.
    pub fn open(dir: &Path, meta: &StoreMeta) -> Result<Self> {
        let meta_path = dir.join("docent.json");
        let shard_dir = dir.join("shard");
        let location = dir.display().to_string();
        let shard = if meta_path.is_file() {
            let found: StoreMeta = serde_json::from_slice(&std::fs::read(&meta_path)?)
                .with_context(|| format!("reading {}", meta_path.display()))?;
            found.check_compatible(meta, &location)?;
            EdgeShard::load(&shard_dir, None).map_err(|e| open_error(&location, e))?
        } else {
            std::fs::create_dir_all(&shard_dir)
                .with_context(|| format!("creating the store folder {}", shard_dir.display()))?;
            let config = EdgeConfigBuilder::new()
                .vector(DENSE, EdgeVectorParams::builder(meta.dimension, Distance::Cosine).build())
                .sparse_vector(LEXICAL, EdgeSparseVectorParams::builder().modifier(Modifier::Idf).build())
                .build();
            let shard = EdgeShard::new(&shard_dir, config)
                .map_err(|e| anyhow!("creating the store at {location}: {e}"))?;
            shard
                .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: json_path("doc_id"),
                    field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
                })))
                .map_err(|e| anyhow!("indexing doc_id: {e}"))?;
            // Written last: a folder without it is an unfinished creation and is created again.
            std::fs::write(&meta_path, serde_json::to_vec_pretty(meta)?)?;
            shard
        };
        Ok(EdgeStore { shard, dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The shard locks its write-ahead log: a second process gets `WouldBlock`.
fn open_error(location: &str, error: impl std::fmt::Display) -> anyhow::Error {
    let error = error.to_string();
    if error.contains("WouldBlock") {
        anyhow!("the store at {location} is in use by another docent process; wait for it to finish or use another --store")
    } else {
        anyhow!("opening the store at {location}: {error}")
    }
}

fn json_path(field: &str) -> JsonPath {
    field.parse().expect("payload field names are valid JSON paths")
}

fn doc_filter(doc_id: &str) -> Filter {
    Filter::new_must(Condition::Field(FieldCondition::new_match(
        json_path("doc_id"),
        Match::from(doc_id.to_string()),
    )))
}

fn sparse(vector: &Sparse) -> SparseVector {
    SparseVector { indices: vector.iter().map(|(i, _)| *i).collect(), values: vector.iter().map(|(_, v)| *v).collect() }
}

fn nearest(vector: VectorInternal, using: &str) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(vector, using)))
}

fn payload_of(payload: Option<qdrant_edge::Payload>) -> Result<serde_json::Value> {
    let map = payload.ok_or_else(|| anyhow!("a stored point has no payload"))?.0;
    Ok(serde_json::Value::Object(map))
}

impl VectorStore for EdgeStore {
    fn upsert(&self, points: Vec<Point>) -> Result<()> {
        let points = points
            .into_iter()
            .map(|p| {
                let id = PointId::Uuid(p.id());
                let payload = serde_json::to_value(&p.payload)?;
                let vectors = Vectors::new_named([
                    (DENSE, Vector::new_dense(p.vector)),
                    (LEXICAL, Vector(VectorInternal::Sparse(sparse(&p.sparse)))),
                ]);
                Ok(PointStruct::new(id, vectors, payload).into())
            })
            .collect::<Result<Vec<_>>>()?;
        self.shard
            .update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(points),
            )))
            .map_err(|e| anyhow!("writing to the store: {e}"))
    }

    fn delete_document(&self, doc_id: &str) -> Result<()> {
        self.shard
            .update(UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(doc_filter(doc_id))))
            .map_err(|e| anyhow!("deleting document {doc_id}: {e}"))
    }

    fn documents(&self) -> Result<Vec<StoredDocument>> {
        let fields = LISTING_FIELDS.iter().map(|f| json_path(f)).collect::<Vec<_>>();
        let mut listed = Vec::new();
        let mut offset = None;
        loop {
            let mut request = ScrollRequestBuilder::new()
                .limit(SCROLL_PAGE)
                .with_payload(WithPayloadInterface::Fields(fields.clone()));
            if let Some(offset) = offset {
                request = request.offset(offset);
            }
            let (records, next) =
                self.shard.scroll(request.build()).map_err(|e| anyhow!("listing the store: {e}"))?;
            for record in records {
                listed.push(serde_json::from_value::<ListingPayload>(payload_of(record.payload)?)?);
            }
            match next {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(fold_documents(listed))
    }

    fn search(&self, query: &StoreQuery, k: usize) -> Result<Vec<Hit>> {
        let request = QueryRequestBuilder::new(k).with_payload(WithPayloadInterface::Bool(true));
        let request = match query {
            StoreQuery::Dense(v) => request.query(nearest(VectorInternal::Dense(v.clone()), DENSE)),
            StoreQuery::Lexical(s) => request.query(nearest(VectorInternal::Sparse(sparse(s)), LEXICAL)),
            StoreQuery::Hybrid { dense, sparse: terms, dense_weight, lexical_weight, candidates } => request
                .add_prefetch(PrefetchBuilder::new(*candidates).query(nearest(VectorInternal::Dense(dense.clone()), DENSE)).build())
                .add_prefetch(PrefetchBuilder::new(*candidates).query(nearest(VectorInternal::Sparse(sparse(terms)), LEXICAL)).build())
                .query(ScoringQuery::Fusion(Fusion::Rrf {
                    k: RRF_K,
                    weights: Some(vec![(*dense_weight).into(), (*lexical_weight).into()]),
                })),
        };
        let request = request.build();
        let found = self.shard.query(request).map_err(|e| anyhow!("searching the store: {e}"))?;
        found
            .into_iter()
            .map(|p| {
                let payload: ChunkPayload = serde_json::from_value(payload_of(p.payload)?)?;
                Ok(Hit::from_payload(p.score, payload))
            })
            .collect()
    }

    fn count(&self) -> Result<usize> {
        self.shard
            .count(CountRequest { filter: None, exact: true })
            .map_err(|e| anyhow!("counting points: {e}"))
    }

    fn flush(&self) -> Result<()> {
        self.shard.flush().map_err(|e| anyhow!("flushing the store: {e}"))
    }

    fn optimize(&self) -> Result<()> {
        self.shard.optimize().map(drop).map_err(|e| anyhow!("optimizing the store: {e}"))
    }
}
