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

/// Records what the store was built with ([`StoreMeta`]), next to the shard folder.
const META_FILE: &str = "docent.json";
const SCROLL_PAGE: usize = 1024;
/// Reciprocal rank fusion's constant: a document at rank r (from 1) in a channel scores
/// 1 / (r / weight + K - 1). The customary 60 flattens the top of each ranking; with only two
/// channels the first few places carry the signal, and 10 scored higher on the three dev sets
/// it was tried on.
pub(super) const RRF_K: usize = 10;

pub struct EdgeStore {
    shard: EdgeShard,
    dir: PathBuf,
}

impl EdgeStore {
    /// Opens the store in `dir`, creating it if it does not exist yet.
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

    pub fn open(dir: &Path, meta: &StoreMeta) -> Result<Self> {
        let meta_path = dir.join(META_FILE);
        let shard_dir = dir.join("shard");
        let location = dir.display().to_string();
        let shard = if let Some(found) = Self::recorded_meta(dir)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, vector: [f32; 2], term_weight: Option<f32>) -> Point {
        let payload = ChunkPayload {
            root: "/corpus".into(),
            path: name.into(),
            doc_id: name.into(),
            content_hash: "h".into(),
            chunk_index: 0,
            chunk_count: 1,
            start_line: 1,
            end_line: 1,
            headings: Vec::new(),
            text: name.into(),
        };
        Point { vector: vector.to_vec(), sparse: term_weight.map(|w| vec![(7, w)]).unwrap_or_default(), payload }
    }

    /// Dense ranking for the query [1, 0]: a b c d e. Lexical ranking for term 7: e c a b
    /// (d lacks the term).
    fn store(dir: &Path) -> EdgeStore {
        let store = EdgeStore::open(dir, &StoreMeta::new("test", 2)).unwrap();
        store
            .upsert(vec![
                point("a", [1.0, 0.0], Some(2.0)),
                point("b", [0.9, 0.1], Some(1.0)),
                point("c", [0.7, 0.3], Some(3.0)),
                point("d", [0.0, 1.0], None),
                point("e", [-1.0, 0.1], Some(4.0)),
            ])
            .unwrap();
        store
    }

    fn fused(store: &EdgeStore, dense_weight: f32, lexical_weight: f32) -> Vec<(String, f32)> {
        let query = StoreQuery::Hybrid {
            dense: vec![1.0, 0.0],
            sparse: vec![(7, 1.0)],
            dense_weight,
            lexical_weight,
            candidates: 5,
        };
        store.search(&query, 5).unwrap().into_iter().map(|h| (h.path, h.score)).collect()
    }

    /// Position p (from 0) in a channel of weight w adds 1 / ((p + 1) / w + K - 1), K = 10.
    #[test]
    fn reciprocal_rank_fusion_matches_hand_computed_scores() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let expect = |got: Vec<(String, f32)>, want: &[(&str, f32)]| {
            let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
            let wanted: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, wanted, "{got:?}");
            for ((_, score), (name, value)) in got.iter().zip(want) {
                assert!((score - value).abs() < 1e-5, "{name}: {score} != {value}");
            }
        };
        // Equal weights: a 1/10 + 1/12, c 1/12 + 1/11, e 1/14 + 1/10, b 1/11 + 1/13, d 1/13.
        expect(
            fused(&store, 1.0, 1.0),
            &[("a", 0.183333), ("c", 0.174242), ("e", 0.171429), ("b", 0.167832), ("d", 0.076923)],
        );
        // Lexical at half weight counts its places double, so c falls behind e.
        // a 1/10 + 1/15, e 1/14 + 1/11, c 1/12 + 1/13, b 1/11 + 1/17, d 1/13.
        expect(
            fused(&store, 1.0, 0.5),
            &[("a", 0.166667), ("e", 0.162338), ("c", 0.160256), ("b", 0.149733), ("d", 0.076923)],
        );
        // A channel of weight 0 has no say: the lexical order alone.
        let lexical_only: Vec<String> = fused(&store, 0.0, 1.0).into_iter().map(|(n, _)| n).take(4).collect();
        assert_eq!(lexical_only, ["e", "c", "a", "b"]);
    }
}
