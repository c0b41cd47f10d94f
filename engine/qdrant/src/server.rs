//! A Qdrant server or cluster over gRPC, for stores larger than one machine. Same payload schema
//! and point ids as [`crate::EdgeStore`]; the collection plays the role of the store folder.

use anyhow::{Context, Result, anyhow, bail};
use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FacetCountsBuilder, FieldType, Filter, GetPointsBuilder,
    Modifier, NamedVectors, PayloadIncludeSelector, PointId, PointStruct, Query,
    QueryPointsBuilder, Range, ScrollPointsBuilder, SparseVectorParamsBuilder,
    SparseVectorsConfigBuilder, UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder,
    VectorsConfigBuilder, facet_value, point_id::PointIdOptions, vectors_config::Config,
    with_payload_selector::SelectorOptions,
};
use tokio::runtime::Runtime;

use crate::layout::{self, DENSE, DOCUMENT, LEXICAL};
use docent_core::store::{
    CANDIDATE_FIELDS, Candidate, LISTING_FIELDS, Point, StoreMeta, StoreQuery, StoredDocument,
    VectorStore, fold_documents, hits_in_order,
};
use docent_core::types::Hit;

const SCROLL_PAGE: u32 = 1024;

/// The collection metadata key under which the [`StoreMeta`] is recorded, as `docent.json` is
/// in an embedded store's folder.
const META_KEY: &str = "docent";

/// A Qdrant server or cluster, over gRPC: one collection is one store.
pub struct QdrantServerStore {
    client: Qdrant,
    collection: String,
    meta: StoreMeta,
    /// The client is async; this store's API is blocking, so it drives the client on its own
    /// runtime. Callers on another runtime call it from a blocking thread, as for every store.
    runtime: Runtime,
}

impl QdrantServerStore {
    /// Connects to `url` and opens `collection`, creating it if needed.
    pub fn connect(url: &str, collection: &str, meta: &StoreMeta) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the Qdrant client runtime")?;
        let client = Qdrant::from_url(url)
            .skip_compatibility_check()
            .build()
            .with_context(|| format!("configuring the Qdrant client for {url}"))?;
        let store = QdrantServerStore {
            client,
            collection: collection.to_string(),
            meta: meta.clone(),
            runtime,
        };
        store.prepare(url, meta)?;
        Ok(store)
    }

    fn prepare(&self, url: &str, meta: &StoreMeta) -> Result<()> {
        let name = &self.collection;
        self.runtime.block_on(async {
            let exists = self.client.collection_exists(name).await.with_context(|| {
                format!("cannot reach the Qdrant server at {url}: is it running, and is this its gRPC port (6334)?")
            })?;
            if exists {
                let info = self.client.collection_info(name).await?;
                let config = info.result.and_then(|i| i.config);
                let recorded = config.as_ref().and_then(|c| c.metadata.get(META_KEY)).map(|v| v.clone().into_json());
                StoreMeta::check_recorded(recorded, meta, &format!("Qdrant collection {name} at {url}"))?;
                let params = config.and_then(|c| c.params);
                let size = params.as_ref().and_then(|p| p.vectors_config.clone()).and_then(|v| v.config).and_then(|c| match c {
                    Config::ParamsMap(map) => map.map.get(DENSE).map(|p| p.size as usize),
                    Config::Params(_) => None,
                });
                let has_lexical = params.and_then(|p| p.sparse_vectors_config).is_some_and(|s| s.map.contains_key(LEXICAL));
                if size != Some(meta.dimension) || !has_lexical {
                    bail!(
                        "Qdrant collection {name} at {url} was not made by this docent: it needs a {}-d vector \
                         \"{DENSE}\" and a sparse vector \"{LEXICAL}\" per point; use another --collection",
                        meta.dimension
                    );
                }
            } else {
                let mut dense = VectorsConfigBuilder::default();
                dense.add_named_vector_params(DENSE, VectorParamsBuilder::new(meta.dimension as u64, Distance::Cosine));
                let mut lexical = SparseVectorsConfigBuilder::default();
                lexical.add_named_vector_params(LEXICAL, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
                lexical.add_named_vector_params(DOCUMENT, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
                let recorded = std::collections::HashMap::from([(META_KEY.to_string(), serde_json::to_value(meta)?)]);
                self.client
                    .create_collection(
                        CreateCollectionBuilder::new(name).vectors_config(dense).sparse_vectors_config(lexical).metadata(recorded),
                    )
                    .await
                    .with_context(|| format!("creating Qdrant collection {name}"))?;
            }
            // The payload indexes of the layout, also on a collection an older docent made.
            let info = self.client.collection_info(name).await?;
            let existing = info.result.map(|i| i.payload_schema).unwrap_or_default();
            for (field, kind) in layout::INDEXES {
                if existing.contains_key(field) {
                    continue;
                }
                let kind = match kind {
                    layout::IndexType::Keyword => FieldType::Keyword,
                    layout::IndexType::Integer => FieldType::Integer,
                };
                self.client
                    .create_field_index(CreateFieldIndexCollectionBuilder::new(name, field, kind).wait(true))
                    .await
                    .with_context(|| format!("indexing {field} in Qdrant collection {name}"))?;
            }
            Ok(())
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
            .using(using);
        if !filter.is_everything() {
            match layout::conditions(filter, || self.paths())? {
                Some(conditions) => request = request.filter(native_filter(conditions)),
                None => return Ok(Vec::new()),
            }
        }
        let found = self
            .runtime
            .block_on(self.client.query(request))
            .context("searching Qdrant")?;
        Ok(found
            .result
            .into_iter()
            .map(|p| (p.score, payload_json(p.payload)))
            .collect())
    }
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
        self.runtime
            .block_on(
                self.client
                    .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true)),
            )
            .context("writing to Qdrant")?;
        Ok(())
    }

    fn delete_document(&self, doc_id: &str) -> Result<()> {
        self.runtime
            .block_on(
                self.client.delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(doc_filter(doc_id))
                        .wait(true),
                ),
            )
            .with_context(|| format!("deleting document {doc_id} from Qdrant"))?;
        Ok(())
    }

    fn documents(&self) -> Result<Vec<StoredDocument>> {
        let mut listed = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .limit(SCROLL_PAGE)
                .with_payload(SelectorOptions::Include(PayloadIncludeSelector {
                    fields: LISTING_FIELDS.iter().map(|f| f.to_string()).collect(),
                }));
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let page = self
                .runtime
                .block_on(self.client.scroll(request))
                .context("listing Qdrant points")?;
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

    /// The distinct document paths the collection holds (from the path index).
    fn paths(&self) -> Result<Vec<String>> {
        let found = self
            .runtime
            .block_on(
                self.client.facet(
                    FacetCountsBuilder::new(&self.collection, layout::PATH)
                        .limit(u64::MAX)
                        .exact(false),
                ),
            )
            .context("listing the paths in Qdrant")?;
        Ok(found
            .hits
            .into_iter()
            .filter_map(|hit| match hit.value?.variant? {
                facet_value::Variant::StringValue(path) => Some(path),
                _ => None,
            })
            .collect())
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
        let records = self
            .runtime
            .block_on(
                self.client
                    .get_points(GetPointsBuilder::new(&self.collection, ids).with_payload(true)),
            )
            .context("reading found chunks from Qdrant")?;
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
        let counted = self
            .runtime
            .block_on(
                self.client
                    .count(CountPointsBuilder::new(&self.collection).exact(true)),
            )
            .context("counting Qdrant points")?;
        Ok(counted.result.map_or(0, |r| r.count as usize))
    }

    fn flush(&self) -> Result<()> {
        // Every write above waits for the server to apply it (`wait(true)`).
        Ok(())
    }
}
