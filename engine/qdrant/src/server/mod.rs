//! A Qdrant server or cluster over gRPC, for stores larger than one machine. Same payload schema
//! and point ids as [`crate::EdgeStore`]; the collection plays the role of the store folder.
//! `nodes` sends each request to a node that answers; `collection` creates the collection with
//! its replicas and reports how its shards stand.

mod collection;
mod nodes;

use anyhow::{Context, Result, anyhow, bail};
use qdrant_client::Payload;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, DeletePointsBuilder, FacetCountsBuilder, FacetResponse, Filter,
    GetPointsBuilder, NamedVectors, PayloadIncludeSelector, PointId, PointStruct, Query,
    QueryPointsBuilder, Range, ScrollPointsBuilder, SetPayloadPointsBuilder, UpsertPointsBuilder,
    Vector, VectorInput, facet_value, point_id::PointIdOptions,
    with_payload_selector::SelectorOptions,
};

pub use collection::{ReadConsistency, ServerOptions};
use nodes::Nodes;

use crate::layout;
use docent_core::store::{
    CANDIDATE_FIELDS, Candidate, DocumentsPage, LISTING_FIELDS, Point, StoreMeta, StoreQuery,
    StoredDocument, Topology, VectorStore, fold_documents, hits_in_order, page_from_first_chunks,
    point_id,
};
use docent_core::types::Hit;

const SCROLL_PAGE: u32 = 1024;

/// A Qdrant server or cluster, over gRPC: one collection is one store.
pub struct QdrantServerStore {
    nodes: Nodes,
    collection: String,
    meta: StoreMeta,
    read_consistency: ReadConsistency,
}

impl QdrantServerStore {
    /// Connects to the nodes `options` names and opens its collection, creating it if needed.
    pub fn connect(options: &ServerOptions, meta: &StoreMeta) -> Result<Self> {
        let nodes = Nodes::new(&options.urls)?;
        collection::prepare(&nodes, options, meta)?;
        Ok(QdrantServerStore {
            nodes,
            collection: options.collection.clone(),
            meta: meta.clone(),
            read_consistency: options.read_consistency,
        })
    }
}

impl QdrantServerStore {
    /// Runs `request` on a node that answers ([`Nodes::call`]); when a shard is out of reach,
    /// the error names it.
    fn call<T, F, Fut>(&self, what: &str, request: F) -> Result<T>
    where
        F: Fn(qdrant_client::Qdrant) -> Fut,
        Fut: std::future::Future<Output = Result<T, qdrant_client::QdrantError>>,
    {
        self.nodes.call(what, request).map_err(|error| {
            collection::name_lost_shards(&self.nodes, &self.collection, what, error)
        })
    }
}

/// A search filter's conditions as the server's own (on indexed payload fields).
fn native_filter(conditions: Vec<layout::Condition>) -> Filter {
    Filter::must(conditions.into_iter().map(|condition| match condition {
        layout::Condition::AnyOf { field, values } => Condition::matches(field, values),
        layout::Condition::Above { field, bound } => Condition::range(
            field,
            Range {
                gt: Some(bound as f64),
                ..Default::default()
            },
        ),
    }))
}

fn payload_json(
    payload: std::collections::HashMap<String, qdrant_client::qdrant::Value>,
) -> serde_json::Value {
    payload
        .into_iter()
        .map(|(k, v)| (k, v.into_json()))
        .collect()
}

impl QdrantServerStore {
    /// The `k` best points for `query` among those `filter` admits, with the payload fields
    /// `payload` selects.
    fn query(
        &self,
        query: &StoreQuery,
        filter: &docent_core::store::Filter,
        k: usize,
        payload: SelectorOptions,
    ) -> Result<Vec<(f32, serde_json::Value)>> {
        let (using, vector) = layout::channel(query);
        let nearest = Query::new_nearest(match vector {
            layout::Vector::Dense(values) => VectorInput::new_dense(values),
            layout::Vector::Sparse { indices, values } => VectorInput::new_sparse(indices, values),
        });
        let mut request = QueryPointsBuilder::new(&self.collection)
            .limit(k as u64)
            .with_payload(payload)
            .query(nearest)
            .using(using)
            .read_consistency(self.read_consistency.value());
        if !filter.is_everything() {
            match layout::conditions(filter, || self.paths())? {
                Some(conditions) => request = request.filter(native_filter(conditions)),
                None => return Ok(Vec::new()),
            }
        }
        let request = request.build();
        let found = self.call("searching", |client| {
            let request = request.clone();
            async move { client.query(request).await }
        })?;
        Ok(found
            .result
            .into_iter()
            .map(|p| (p.score, payload_json(p.payload)))
            .collect())
    }
}

/// A facet's keyword values, each with its number of points.
fn keywords(facet: FacetResponse) -> impl Iterator<Item = (String, u64)> {
    facet
        .hits
        .into_iter()
        .filter_map(|hit| match hit.value?.variant? {
            facet_value::Variant::StringValue(value) => Some((value, hit.count)),
            _ => None,
        })
}

fn doc_filter(doc_id: &str) -> Filter {
    Filter::must([Condition::matches(layout::DOC_ID, doc_id.to_string())])
}

impl VectorStore for QdrantServerStore {
    fn meta(&self) -> &StoreMeta {
        &self.meta
    }

    fn upsert(&self, points: Vec<Point>) -> Result<()> {
        let points = points
            .into_iter()
            .map(|p| {
                let payload = qdrant_client::Payload::try_from(layout::payload(&p)?)
                    .map_err(|e| anyhow!("payload: {e}"))?;
                let vectors = layout::vectors(&p).into_iter().fold(
                    NamedVectors::default(),
                    |named, (name, vector)| {
                        named.add_vector(
                            name,
                            match vector {
                                layout::Vector::Dense(values) => Vector::new_dense(values),
                                layout::Vector::Sparse { indices, values } => {
                                    Vector::new_sparse(indices, values)
                                }
                            },
                        )
                    },
                );
                Ok(PointStruct::new(p.id().to_string(), vectors, payload))
            })
            .collect::<Result<Vec<_>>>()?;
        let count = points.len();
        let request = UpsertPointsBuilder::new(&self.collection, points)
            .wait(true)
            .build();
        self.call(&format!("writing {count} chunks"), |client| {
            let request = request.clone();
            async move { client.upsert_points(request).await }
        })
        .map(drop)
    }

    fn delete_document(&self, doc_id: &str) -> Result<()> {
        let request = DeletePointsBuilder::new(&self.collection)
            .points(doc_filter(doc_id))
            .wait(true)
            .build();
        self.call(&format!("deleting document {doc_id}"), |client| {
            let request = request.clone();
            async move { client.delete_points(request).await }
        })
        .map(drop)
    }

    fn restamp(&self, doc_id: &str, stamp: &str) -> Result<()> {
        let payload = Payload::try_from(serde_json::json!({ layout::STAMP: stamp }))
            .context("building a payload")?;
        let request = SetPayloadPointsBuilder::new(&self.collection, payload)
            .points_selector(doc_filter(doc_id))
            .wait(true)
            .build();
        self.call(&format!("updating document {doc_id}"), |client| {
            let request = request.clone();
            async move { client.set_payload(request).await }
        })
        .map(drop)
    }

    fn documents(&self) -> Result<Vec<StoredDocument>> {
        let mut listed = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .limit(SCROLL_PAGE)
                .with_payload(SelectorOptions::Include(PayloadIncludeSelector {
                    fields: LISTING_FIELDS.iter().map(|f| f.to_string()).collect(),
                }))
                .read_consistency(self.read_consistency.value());
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let request = request.build();
            let page = self.call("listing documents", |client| {
                let request = request.clone();
                async move { client.scroll(request).await }
            })?;
            for point in page.result {
                listed.push(layout::listed(payload_json(point.payload))?);
            }
            match page.next_page_offset {
                Some(PointId {
                    point_id_options: Some(PointIdOptions::Uuid(_) | PointIdOptions::Num(_)),
                }) => offset = page.next_page_offset,
                _ => break,
            }
        }
        Ok(fold_documents(listed))
    }

    fn documents_page(&self, from: Option<&str>, limit: usize) -> Result<DocumentsPage> {
        // One more than asked: the next page's first document.
        let mut request = ScrollPointsBuilder::new(&self.collection)
            .limit(limit as u32 + 1)
            .filter(Filter::must([Condition::matches(
                layout::CHUNK_INDEX,
                0i64,
            )]))
            .with_payload(SelectorOptions::Include(PayloadIncludeSelector {
                fields: LISTING_FIELDS.iter().map(|f| f.to_string()).collect(),
            }))
            .read_consistency(self.read_consistency.value());
        if let Some(from) = from {
            request = request.offset(PointId::from(point_id(from, 0).to_string()));
        }
        let request = request.build();
        let page = self.call("listing documents", |client| {
            let request = request.clone();
            async move { client.scroll(request).await }
        })?;
        let listed = page
            .result
            .into_iter()
            .map(|point| layout::listed(payload_json(point.payload)))
            .collect::<Result<Vec<_>>>()?;
        let (listed, next) = layout::split_page(listed, limit);
        let ids: Vec<String> = listed.iter().map(|p| p.doc_id.clone()).collect();
        let request = FacetCountsBuilder::new(&self.collection, layout::DOC_ID)
            .limit(ids.len() as u64)
            .exact(true)
            .filter(Filter::must([Condition::matches(layout::DOC_ID, ids)]))
            .read_consistency(self.read_consistency.value())
            .build();
        let counted = self.call("counting the documents' chunks", |client| {
            let request = request.clone();
            async move { client.facet(request).await }
        })?;
        Ok(page_from_first_chunks(listed, keywords(counted), next))
    }

    /// The distinct document paths the collection holds (from the path index).
    fn paths(&self) -> Result<Vec<String>> {
        let request = FacetCountsBuilder::new(&self.collection, layout::PATH)
            .limit(u64::MAX)
            .exact(false)
            .read_consistency(self.read_consistency.value())
            .build();
        let found = self.call("listing paths", |client| {
            let request = request.clone();
            async move { client.facet(request).await }
        })?;
        Ok(keywords(found).map(|(path, _)| path).collect())
    }

    fn search(
        &self,
        query: &StoreQuery,
        filter: &docent_core::store::Filter,
        k: usize,
    ) -> Result<Vec<Hit>> {
        self.query(query, filter, k, SelectorOptions::Enable(true))?
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
        let fields = SelectorOptions::Include(PayloadIncludeSelector {
            fields: CANDIDATE_FIELDS.iter().map(|f| f.to_string()).collect(),
        });
        self.query(query, filter, k, fields)?
            .into_iter()
            .map(|(score, payload)| layout::candidate(score, payload))
            .collect()
    }

    fn hits(&self, found: &[Candidate]) -> Result<Vec<Hit>> {
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<PointId> = layout::ids(found)
            .into_iter()
            .map(|id| id.to_string().into())
            .collect();
        let request = GetPointsBuilder::new(&self.collection, ids)
            .with_payload(true)
            .read_consistency(self.read_consistency.value())
            .build();
        let records = self.call("reading found chunks", |client| {
            let request = request.clone();
            async move { client.get_points(request).await }
        })?;
        let stored = records
            .result
            .into_iter()
            .map(|record| {
                let id = match record.id.and_then(|id| id.point_id_options) {
                    Some(PointIdOptions::Uuid(id)) => id
                        .parse()
                        .with_context(|| format!("Qdrant returned the point id {id:?}"))?,
                    other => bail!("Qdrant returned a point without a UUID id: {other:?}"),
                };
                Ok((id, layout::chunk(payload_json(record.payload))?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(hits_in_order(found, stored))
    }

    fn count(&self) -> Result<usize> {
        let request = CountPointsBuilder::new(&self.collection)
            .exact(true)
            .read_consistency(self.read_consistency.value())
            .build();
        let counted = self.call("counting chunks", |client| {
            let request = request.clone();
            async move { client.count(request).await }
        })?;
        Ok(counted.result.map_or(0, |r| r.count as usize))
    }

    fn topology(&self) -> Result<Option<Topology>> {
        collection::topology(&self.nodes, &self.collection).map(Some)
    }

    fn flush(&self) -> Result<()> {
        // Every write above waits for the server to apply it (`wait(true)`).
        Ok(())
    }
}
