//! Retrieval: from a question to the chunks that answer it. A [`QueryPlanner`] turns the question
//! (and the conversation before it) into weighted queries; the [`Retriever`] embeds each query
//! once, searches its channels (dense, BM25 over chunks, BM25 over documents) and fuses them
//! ([`fusion`]) — in hybrid retrieval the channels of all the queries at once, each weighted by
//! its query's weight; in the single-channel modes the queries' rankings by weighted RRF.

pub mod followup;
pub mod fusion;
pub mod lexical;
pub mod model_plan;
pub mod plan;
pub mod search_tool;

use std::sync::Arc;

use serde::Serialize;

use crate::embed::Embedder;
use crate::error::Result;
use crate::limits::check_query;
use crate::store::{Candidate, Filter, StoreQuery, VectorStore};
use crate::text::language::Language;
use crate::types::Hit;
use fusion::{Channel, Fusion};
pub use model_plan::{ModelPlanner, PlannerBudget};
pub use plan::{FollowUpRule, Plan, Query, QueryPlanner};

/// Which retrieval channels answer a query.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    serde::Deserialize,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Mode {
    /// Embedding similarity only.
    Dense,
    /// BM25 only.
    Lexical,
    /// Both, and BM25 over whole documents, fused (see [`fusion`]).
    #[default]
    Hybrid,
    /// RAG-Fusion: the question and other phrasings of it, written by the model
    /// ([`model_plan`]), each searched hybrid, their rankings fused.
    Fusion,
}

/// Candidates each channel contributes to fusion (or k, when more are asked for).
pub const FUSION_CANDIDATES: usize = 400;

/// Candidates each query of a plan with several contributes to their fusion (or k, when more).
const PLAN_CANDIDATES: usize = 20;

/// Each channel's say in hybrid retrieval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelWeights {
    /// Embedding similarity over chunks.
    pub dense: f32,
    /// BM25 over chunks.
    pub chunks: f32,
    /// BM25 over whole documents (a document's score reaches all its chunks).
    pub documents: f32,
}

impl ChannelWeights {
    /// Meaning leads; the two lexical channels share the rest (weights between 0.5/0.25/0.25
    /// and 0.6/0.1/0.3 all scored within 0.02 of each other on every development set).
    pub const HYBRID: ChannelWeights = ChannelWeights {
        dense: 0.6,
        chunks: 0.2,
        documents: 0.2,
    };
}

/// One search: what to look for, after which questions, through which channels, among which
/// documents. [`SearchRequest::new`] fills in the rest.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The query or question.
    pub query: String,
    /// The user's earlier questions in this conversation, oldest first: a follow-up is searched
    /// for with its topic carried over (see [`followup`]).
    pub earlier: Vec<String>,
    /// Hits to return.
    pub k: usize,
    /// Which channels search.
    pub mode: Mode,
    /// Which documents may be found.
    pub filter: Filter,
}

impl SearchRequest {
    /// A hybrid search of the whole store for `query`, standing alone.
    pub fn new(query: impl Into<String>, k: usize) -> Self {
        SearchRequest {
            query: query.into(),
            earlier: Vec::new(),
            k,
            mode: Mode::default(),
            filter: Filter::default(),
        }
    }
}

/// Each text's embedding, computed once per question however many stages ask for it (the
/// searches, the relevance bar, evidence selection). Keyed by the trimmed text.
pub(crate) struct QueryVectors<'a> {
    embedder: &'a dyn Embedder,
    vectors: Vec<(String, Vec<f32>)>,
}

impl<'a> QueryVectors<'a> {
    pub(crate) fn new(embedder: &'a dyn Embedder) -> Self {
        QueryVectors {
            embedder,
            vectors: Vec::new(),
        }
    }

    /// `text`'s embedding as a query, computed on first use.
    pub(crate) fn get(&mut self, text: &str) -> Result<Vec<f32>> {
        let key = text.trim();
        if let Some((_, vector)) = self.vectors.iter().find(|(k, _)| k == key) {
            return Ok(vector.clone());
        }
        let vector = self.embedder.embed_query(text)?;
        self.vectors.push((key.to_string(), vector.clone()));
        Ok(vector)
    }
}

/// Searches one store through its channels and fuses what they find.
pub struct Retriever {
    embedder: Arc<dyn Embedder>,
    store: Arc<dyn VectorStore>,
    fusion: Fusion,
}

impl Retriever {
    /// A retriever over `store`, whose vectors `embedder` made, merging channels by `fusion`.
    pub fn new(embedder: Arc<dyn Embedder>, store: Arc<dyn VectorStore>, fusion: Fusion) -> Self {
        Retriever {
            embedder,
            store,
            fusion,
        }
    }

    /// The embedder queries are embedded with.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The store searched.
    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.store
    }

    /// The `k` chunks that best match `plan`'s queries through `mode`'s channels, among those
    /// `filter` (resolved) admits. In hybrid retrieval every channel of every query is fused at
    /// once, each weighted by its query's weight, as the channels of one query are; in the
    /// single-channel modes the queries' rankings are fused by weighted RRF.
    pub(crate) fn search(
        &self,
        plan: &Plan,
        k: usize,
        mode: Mode,
        filter: &Filter,
        vectors: &mut QueryVectors,
    ) -> Result<Vec<Hit>> {
        if let [query] = plan.queries.as_slice() {
            return self.search_query(&query.text, k, mode, filter, vectors);
        }
        if matches!(mode, Mode::Hybrid | Mode::Fusion) {
            let mut channels = Vec::new();
            for query in &plan.queries {
                check_query(&query.text, k)?;
                let dense = vectors.get(&query.text)?;
                let terms = lexical::query_vector(&query.text);
                let language = Language::detect(&query.text);
                channels.extend(
                    self.hybrid_channels(&dense, terms, language, k, filter)?
                        .into_iter()
                        .map(|channel| Channel {
                            weight: channel.weight * query.weight,
                            ..channel
                        }),
                );
            }
            return Ok(self.store.hits(&fusion::fuse(channels, self.fusion, k))?);
        }
        let candidates = k.max(PLAN_CANDIDATES);
        let channels = plan
            .queries
            .iter()
            .map(|query| {
                Ok(Channel {
                    hits: self.search_query(&query.text, candidates, mode, filter, vectors)?,
                    weight: query.weight,
                    per_document: false,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(fusion::fuse(channels, Fusion::Rrf, k))
    }

    /// One query through `mode`'s channels.
    fn search_query(
        &self,
        query: &str,
        k: usize,
        mode: Mode,
        filter: &Filter,
        vectors: &mut QueryVectors,
    ) -> Result<Vec<Hit>> {
        check_query(query, k)?;
        let terms = lexical::query_vector(query);
        if mode == Mode::Lexical {
            return Ok(self.store.search(&StoreQuery::Lexical(terms), filter, k)?);
        }
        let dense = vectors.get(query)?;
        // Nothing to match lexically (only punctuation, say): the dense channel alone.
        if mode == Mode::Dense || terms.is_empty() {
            return Ok(self.store.search(&StoreQuery::Dense(dense), filter, k)?);
        }
        self.hybrid(&dense, terms, Language::detect(query), k, filter)
    }

    /// Hybrid search for a query already embedded (`dense`) and cut into BM25 terms (in
    /// `language`): the three channels searched at once and fused (benchmarks time the store
    /// through it).
    pub fn hybrid(
        &self,
        dense: &[f32],
        terms: lexical::Sparse,
        language: Language,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Hit>> {
        let channels = self.hybrid_channels(dense, terms, language, k, filter)?;
        // Only the winners' text is read: fusion ranks 1,200 candidates to keep k.
        Ok(self.store.hits(&fusion::fuse(channels, self.fusion, k))?)
    }

    /// The candidates of hybrid retrieval's channels for one query, weighted for its language,
    /// not yet fused.
    fn hybrid_channels(
        &self,
        dense: &[f32],
        terms: lexical::Sparse,
        language: Language,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Channel<Candidate>>> {
        let candidates = k.max(FUSION_CANDIDATES);
        let weights = self.weights(language);
        let channels = [
            (StoreQuery::Dense(dense.to_vec()), weights.dense, false),
            (StoreQuery::Lexical(terms.clone()), weights.chunks, false),
            (StoreQuery::Documents(terms), weights.documents, true),
        ]
        .into_iter()
        // A channel without weight has no say, and a query with nothing to match lexically (only
        // punctuation, say) finds nothing through BM25: not searching them saves the store a query.
        .filter(|(query, weight, _)| {
            let nothing_to_match = matches!(
                query,
                StoreQuery::Lexical(terms) | StoreQuery::Documents(terms) if terms.is_empty()
            );
            *weight > 0.0 && !nothing_to_match
        });
        // The channels are searched at once, each on its own thread: at a million chunks each
        // takes 5–10 ms, and one after another they added up past 20.
        std::thread::scope(|scope| {
            let searches: Vec<_> = channels
                .map(|(query, weight, per_document)| {
                    let search =
                        scope.spawn(move || self.store.candidates(&query, filter, candidates));
                    (search, weight, per_document)
                })
                .collect();
            searches
                .into_iter()
                .map(|(search, weight, per_document)| {
                    let hits = search
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
                    Ok(Channel {
                        hits,
                        weight,
                        per_document,
                    })
                })
                .collect::<Result<Vec<_>>>()
        })
    }

    /// How much each channel counts in fusion: an embedder that cannot read the question's
    /// language gets no say (MiniLM turns most Chinese characters into unknown tokens, and its
    /// ranking only dilutes the lexical ones).
    fn weights(&self, language: Language) -> ChannelWeights {
        let weights = ChannelWeights::HYBRID;
        if self.embedder.supports(language) {
            weights
        } else {
            ChannelWeights {
                dense: 0.0,
                ..weights
            }
        }
    }

    /// How similar the best chunk is to the question (embedded as `vector`) by meaning (cosine,
    /// −1..1): the bar a question must clear before docent answers, whatever channel ranked the
    /// sources.
    pub(crate) fn relevance(
        &self,
        vector: &[f32],
        hits: &[Hit],
        mode: Mode,
        filter: &Filter,
    ) -> Result<f32> {
        if mode == Mode::Dense {
            return Ok(hits.first().map_or(f32::MIN, |h| h.score));
        }
        Ok(self
            .store
            .search(&StoreQuery::Dense(vector.to_vec()), filter, 1)?
            .first()
            .map_or(f32::MIN, |h| h.score))
    }
}
