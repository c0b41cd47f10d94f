//! [`Engine`]: search, and ask (retrieve → grounded prompt → generate → checked citations).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, anyhow};
use serde::Serialize;

use crate::citations::CitationFilter;
use crate::embed::Embedder;
use crate::fusion::{self, Channel, Fusion};
use crate::generate::{GenerationParams, GenerationStats, Generator};
use crate::language::Language;
use crate::prompt;
use crate::lexical;
use crate::store::{StoreQuery, VectorStore};
use crate::types::Hit;

/// Which retrieval channel answers a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Embedding similarity only.
    Dense,
    /// BM25 only.
    Lexical,
    /// Both, and BM25 over whole documents, fused (see [`crate::fusion`]).
    #[default]
    Hybrid,
}

impl std::str::FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "dense" => Ok(Mode::Dense),
            "lexical" => Ok(Mode::Lexical),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(InvalidInput(format!("unknown mode {other:?}: use dense, lexical or hybrid")).into()),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Dense => "dense",
            Mode::Lexical => "lexical",
            Mode::Hybrid => "hybrid",
        })
    }
}

/// Candidates each channel contributes to fusion (or k, when more are asked for).
const FUSION_CANDIDATES: usize = 400;

/// Each channel's say in hybrid retrieval: dense chunks, BM25 chunks, BM25 documents. Meaning
/// leads; the two lexical channels share the rest (weights between 0.5/0.25/0.25 and
/// 0.6/0.1/0.3 all scored within 0.02 of each other on every development set).
const HYBRID_WEIGHTS: [f32; 3] = [0.6, 0.2, 0.2];

/// A request the caller got wrong (empty question, k out of range): a 400, not a 500.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// The most hits one search returns (evaluation ranks up to 100 documents from their chunks).
pub const MAX_K: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub struct AskOptions {
    /// Sources to retrieve and show the model.
    pub k: usize,
    pub mode: Mode,
    /// Below this best-hit similarity docent says it doesn't know, without generating;
    /// `None`: the embedder's own [`Embedder::relevance_floor`].
    pub min_score: Option<f32>,
    pub generation: GenerationParams,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions { k: 4, mode: Mode::default(), min_score: None, generation: GenerationParams::default() }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Citation {
    pub n: usize,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    pub retrieval_ms: f64,
    #[serde(flatten)]
    pub generation: GenerationStats,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub answer: String,
    /// Sources the answer cites, in order of first citation; always a subset of `hits`.
    pub citations: Vec<Citation>,
    /// The sources shown to the model, numbered from 1 in this order.
    pub hits: Vec<Hit>,
    /// False when retrieval found nothing relevant enough and docent answered "I don't know".
    pub grounded: bool,
    pub timings: Timings,
}

pub struct Engine {
    embedder: Arc<dyn Embedder>,
    store: Arc<dyn VectorStore>,
    generator: Option<Arc<dyn Generator>>,
    fusion: Fusion,
}

/// The longest question, in characters: far beyond any real question, short of what would
/// make embedding and the prompt slow or the prompt overflow the generator's context.
pub const MAX_QUERY_CHARS: usize = 4000;

/// Rejects what no search can answer: an empty or overlong query, or k out of 1..=MAX_K.
pub fn check_query(text: &str, k: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(InvalidInput("the question is empty".into()).into());
    }
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(InvalidInput(format!("the question is {chars} characters long; the limit is {MAX_QUERY_CHARS}")).into());
    }
    if !(1..=MAX_K).contains(&k) {
        return Err(InvalidInput(format!("k must be between 1 and {MAX_K}, got {k}")).into());
    }
    Ok(())
}

impl Engine {
    pub fn new(
        embedder: Arc<dyn Embedder>,
        store: Arc<dyn VectorStore>,
        generator: Option<Arc<dyn Generator>>,
    ) -> Self {
        Engine { embedder, store, generator, fusion: Fusion::default() }
    }

    /// How hybrid retrieval merges its channels.
    pub fn with_fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.store
    }

    pub fn generator(&self) -> Option<&Arc<dyn Generator>> {
        self.generator.as_ref()
    }

    /// The `k` chunks that best match `query` through `mode`'s channels, best first.
    pub fn search(&self, query: &str, k: usize, mode: Mode) -> Result<Vec<Hit>> {
        Ok(self.search_embedded(query, k, mode)?.0)
    }

    /// [`Self::search`], also handing back the query's embedding when it was computed.
    fn search_embedded(&self, query: &str, k: usize, mode: Mode) -> Result<(Vec<Hit>, Option<Vec<f32>>)> {
        check_query(query, k)?;
        let terms = lexical::query_vector(query);
        if mode == Mode::Lexical {
            return Ok((self.store.search(&StoreQuery::Lexical(terms), k)?, None));
        }
        let dense = self.embedder.embed_query(query)?;
        // Nothing to match lexically (only punctuation, say): the dense channel alone.
        if mode == Mode::Dense || terms.is_empty() {
            return Ok((self.store.search(&StoreQuery::Dense(dense.clone()), k)?, Some(dense)));
        }
        let candidates = k.max(FUSION_CANDIDATES);
        let [dense_weight, lexical_weight, document_weight] = self.fusion_weights(Language::detect(query));
        let channels = [
            (StoreQuery::Dense(dense.clone()), dense_weight, false),
            (StoreQuery::Lexical(terms.clone()), lexical_weight, false),
            (StoreQuery::Documents(terms), document_weight, true),
        ]
        .into_iter()
        // A channel without weight has no say: not searching it saves the store a query.
        .filter(|(_, weight, _)| *weight > 0.0)
        .map(|(query, weight, per_document)| Ok(Channel { hits: self.store.search(&query, candidates)?, weight, per_document }))
        .collect::<Result<Vec<_>>>()?;
        Ok((fusion::fuse(channels, self.fusion, k), Some(dense)))
    }

    /// How much each channel counts in fusion: an embedder that cannot read the question's
    /// language gets no say (MiniLM turns most Chinese characters into unknown tokens, and its
    /// ranking only dilutes the lexical ones).
    fn fusion_weights(&self, language: Language) -> [f32; 3] {
        let [dense, lexical, document] = HYBRID_WEIGHTS;
        if self.embedder.supports(language) { [dense, lexical, document] } else { [0.0, lexical, document] }
    }

    /// How similar the best chunk is to `question` by meaning (cosine, −1..1): the bar a
    /// question must clear before docent answers, whatever channel ranked the sources.
    fn relevance(&self, question: &str, hits: &[Hit], mode: Mode, embedding: Option<Vec<f32>>) -> Result<f32> {
        if mode == Mode::Dense {
            return Ok(hits.first().map_or(f32::MIN, |h| h.score));
        }
        let dense = match embedding {
            Some(dense) => dense,
            None => self.embedder.embed_query(question)?,
        };
        Ok(self.store.search(&StoreQuery::Dense(dense), 1)?.first().map_or(f32::MIN, |h| h.score))
    }

    /// Answers `question` from the store, streaming the answer's text to `on_text` (which may
    /// stop generation by returning `Break`).
    pub fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Answer> {
        let generator =
            self.generator.as_ref().ok_or_else(|| anyhow!("this engine was started without a generator"))?;
        let started = Instant::now();
        let (mut hits, embedding) = self.search_embedded(question, options.k, options.mode)?;
        let best = self.relevance(question, &hits, options.mode, embedding)?;
        let mut timings = Timings { retrieval_ms: started.elapsed().as_secs_f64() * 1e3, ..Default::default() };
        let language = Language::detect(question);

        let floor = options.min_score.unwrap_or_else(|| self.embedder.relevance_floor());
        if best < floor {
            let answer = language.dont_know().to_string();
            let _ = on_text(&answer);
            return Ok(Answer { answer, citations: Vec::new(), hits, grounded: false, timings });
        }

        // Dense sources below the bar would only add noise and prompt time (fused scores are
        // ranks, not similarities, so only the dense channel's can be held to it).
        if options.mode == Mode::Dense {
            hits.retain(|h| h.score >= floor);
        }
        // Drop the weakest sources until prompt and answer fit the model's context.
        let mut messages = prompt::build(question, &hits, language);
        while hits.len() > 1
            && generator.count_tokens(&messages)? + options.generation.max_tokens > generator.context_length()
        {
            hits.pop();
            messages = prompt::build(question, &hits, language);
        }

        let mut filter = CitationFilter::new(hits.len());
        let mut answer = String::new();
        let mut emit = |text: &str, answer: &mut String| {
            answer.push_str(text);
            if text.is_empty() { ControlFlow::Continue(()) } else { on_text(text) }
        };
        timings.generation = generator.generate(&messages, &options.generation, &mut |piece| {
            let shown = filter.push(piece);
            emit(&shown, &mut answer)
        })?;
        let rest = filter.finish();
        let _ = emit(&rest, &mut answer);

        let citations = filter
            .cited()
            .iter()
            .map(|&n| {
                let hit = &hits[n - 1];
                Citation { n, path: hit.path.clone(), start_line: hit.start_line, end_line: hit.end_line }
            })
            .collect();
        Ok(Answer { answer: answer.trim().to_string(), citations, hits, grounded: true, timings })
    }
}
