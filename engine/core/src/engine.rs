//! [`Engine`]: search, and ask (retrieve → grounded prompt → generate → checked citations).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::limits::{MAX_QUERY_CHARS, check_filter, check_query};
use serde::Serialize;

use crate::answer::{self, Answer, AnswerMode, AnsweredBy, SentenceStream, Timings};
use crate::citations::CitationFilter;
use crate::conversation;
use crate::embed::Embedder;
use crate::evidence::{self, Evidence, EvidenceOptions};
use crate::fusion::{self, Channel, Fusion};
use crate::generate::{GenerationParams, Generator};
use crate::language::Language;
use crate::lexical;
use crate::prompt;
use crate::store::{Filter, StoreQuery, VectorStore, check_pairing};
use crate::support::{SentenceCheck, SupportChecker, content_tokens};
use crate::types::Hit;

/// Which retrieval channel answers a query.
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
    /// Both, and BM25 over whole documents, fused (see [`crate::fusion`]).
    #[default]
    Hybrid,
}

/// In `auto`, generation stops after this many unsupported statements in a row: every further
/// token costs time, and what follows a drift is rarely back on its sources.
const MAX_UNSUPPORTED_IN_A_ROW: usize = 2;

/// Candidates each channel contributes to fusion (or k, when more are asked for).
pub const FUSION_CANDIDATES: usize = 400;

/// Candidates each search of a follow-up contributes to their fusion (or k, when more).
const FOLLOWUP_CANDIDATES: usize = 20;

/// Each channel's say in hybrid retrieval: dense chunks, BM25 chunks, BM25 documents. Meaning
/// leads; the two lexical channels share the rest (weights between 0.5/0.25/0.25 and
/// 0.6/0.1/0.3 all scored within 0.02 of each other on every development set).
const HYBRID_WEIGHTS: [f32; 3] = [0.6, 0.2, 0.2];

/// What a question's search found: the hits, the query searched for (the question, or a
/// follow-up made standalone), and the embeddings computed on the way.
struct Turn {
    hits: Vec<Hit>,
    query: String,
    /// The query's embedding, when the search computed it (not in lexical mode).
    query_vector: Option<Vec<f32>>,
    /// A follow-up's embedding as asked, when the search computed it.
    asked_vector: Option<Vec<f32>>,
}

/// How a question is answered; every field has a default ([`AskOptions::check`] says what is allowed).
#[derive(Debug, Clone)]
pub struct AskOptions {
    /// Chunks to retrieve; the evidence is chosen from their sentences.
    pub k: usize,
    /// Which channels retrieve.
    pub mode: Mode,
    /// Below this best-hit similarity docent says it doesn't know, without generating;
    /// `None`: the embedder's own [`Embedder::relevance_floor`].
    pub min_score: Option<f32>,
    /// How the answer is written.
    pub answer_mode: AnswerMode,
    /// How much evidence the answer is written from.
    pub evidence: EvidenceOptions,
    /// How the generator writes.
    pub generation: GenerationParams,
    /// Which documents the answer may draw on.
    pub filter: Filter,
    /// The user's earlier questions in this conversation, oldest first: a follow-up is searched
    /// for with its topic carried over (see [`conversation`]).
    pub earlier: Vec<String>,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            k: 4,
            mode: Mode::default(),
            min_score: None,
            answer_mode: AnswerMode::default(),
            evidence: EvidenceOptions::default(),
            generation: GenerationParams::default(),
            filter: Filter::default(),
            earlier: Vec::new(),
        }
    }
}

/// The retrieval-augmented answerer: an embedder, a store and, optionally, a generator, wired
/// into [`Engine::search`] and [`Engine::ask`]. Cheap to share between threads.
pub struct Engine {
    embedder: Arc<dyn Embedder>,
    store: Arc<dyn VectorStore>,
    generator: Option<Arc<dyn Generator>>,
    fusion: Fusion,
}

impl Engine {
    /// An engine over these backends (without a generator, answers are quoted, as in `extract`);
    /// fails when another embedder filled the store.
    pub fn new(
        embedder: Arc<dyn Embedder>,
        store: Arc<dyn VectorStore>,
        generator: Option<Arc<dyn Generator>>,
    ) -> Result<Self> {
        check_pairing(embedder.as_ref(), store.as_ref())?;
        Ok(Engine {
            embedder,
            store,
            generator,
            fusion: Fusion::default(),
        })
    }

    /// How hybrid retrieval merges its channels.
    pub fn with_fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    /// The embedder queries and chunks are embedded with.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The store searched.
    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.store
    }

    /// The `k` chunks that best match `query` through `mode`'s channels, best first, among
    /// those `filter` admits.
    pub fn search(&self, query: &str, k: usize, mode: Mode, filter: &Filter) -> Result<Vec<Hit>> {
        let filter = self.scope(filter)?;
        Ok(self.search_embedded(query, k, mode, &filter)?.0)
    }

    /// [`Self::search`] for a question asked after `earlier` ones (oldest first): a follow-up
    /// that refers back is searched for both as asked and with its topic carried over
    /// ([`conversation::standalone`]), and the two rankings are fused (RAG-Fusion: the
    /// follow-up's own words keep their say, the carried topic adds what "it" meant).
    pub fn search_followup(
        &self,
        question: &str,
        earlier: &[String],
        k: usize,
        mode: Mode,
        filter: &Filter,
    ) -> Result<Vec<Hit>> {
        let filter = self.scope(filter)?;
        Ok(self.search_turn(question, earlier, k, mode, &filter)?.hits)
    }

    /// `filter`, checked, with its path globs resolved against the store's paths: once per
    /// question, however many channels and searches it takes.
    fn scope(&self, filter: &Filter) -> Result<Filter> {
        check_filter(filter)?;
        filter.resolve(|| self.store.paths())
    }

    /// [`Self::search_followup`], also handing back the query searched for (the standalone
    /// question) and the embeddings computed on the way.
    fn search_turn(
        &self,
        question: &str,
        earlier: &[String],
        k: usize,
        mode: Mode,
        filter: &Filter,
    ) -> Result<Turn> {
        let mut query = conversation::standalone(question, earlier);
        // A question near the length limit may pass it with the topic carried over: then it
        // is searched as asked.
        if query.chars().count() > MAX_QUERY_CHARS {
            query = question.trim().to_string();
        }
        if query == question.trim() {
            let (hits, query_vector) = self.search_embedded(question, k, mode, filter)?;
            return Ok(Turn {
                hits,
                query,
                query_vector,
                asked_vector: None,
            });
        }
        let candidates = k.max(FOLLOWUP_CANDIDATES);
        let (as_asked, asked_vector) = self.search_embedded(question, candidates, mode, filter)?;
        let (carried, query_vector) = self.search_embedded(&query, candidates, mode, filter)?;
        // Equal say: weighting the standalone query 1.5–2× scored the same on the follow-up
        // sets, 3× and more lost follow-ups whose own words matter most.
        let channels = [as_asked, carried].map(|hits| Channel {
            hits,
            weight: 1.0,
            per_document: false,
        });
        Ok(Turn {
            hits: fusion::fuse(channels.into(), Fusion::Rrf, k),
            query,
            query_vector,
            asked_vector,
        })
    }

    /// [`Self::search`], also handing back the query's embedding when it was computed.
    fn search_embedded(
        &self,
        query: &str,
        k: usize,
        mode: Mode,
        filter: &Filter,
    ) -> Result<(Vec<Hit>, Option<Vec<f32>>)> {
        check_query(query, k)?;
        let terms = lexical::query_vector(query);
        if mode == Mode::Lexical {
            return Ok((
                self.store.search(&StoreQuery::Lexical(terms), filter, k)?,
                None,
            ));
        }
        let dense = self.embedder.embed_query(query)?;
        // Nothing to match lexically (only punctuation, say): the dense channel alone.
        if mode == Mode::Dense || terms.is_empty() {
            return Ok((
                self.store
                    .search(&StoreQuery::Dense(dense.clone()), filter, k)?,
                Some(dense),
            ));
        }
        let hits = self.search_hybrid(&dense, terms, Language::detect(query), k, filter)?;
        Ok((hits, Some(dense)))
    }

    /// Hybrid search for a query already embedded (`dense`) and cut into BM25 terms (in
    /// `language`): the three channels searched and fused, as [`Self::search`] does once it has
    /// embedded the query (benchmarks time the store through it).
    pub fn search_hybrid(
        &self,
        dense: &[f32],
        terms: lexical::Sparse,
        language: Language,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Hit>> {
        let candidates = k.max(FUSION_CANDIDATES);
        let [dense_weight, lexical_weight, document_weight] = self.fusion_weights(language);
        let channels = [
            (StoreQuery::Dense(dense.to_vec()), dense_weight, false),
            (StoreQuery::Lexical(terms.clone()), lexical_weight, false),
            (StoreQuery::Documents(terms), document_weight, true),
        ]
        .into_iter()
        // A channel without weight has no say: not searching it saves the store a query.
        .filter(|(_, weight, _)| *weight > 0.0);
        // The channels are searched at once, each on its own thread: at a million chunks each
        // takes 5–10 ms, and one after another they added up past 20.
        let channels = std::thread::scope(|scope| {
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
        })?;
        // Only the winners' text is read: fusion ranks 1,200 candidates to keep k.
        Ok(self.store.hits(&fusion::fuse(channels, self.fusion, k))?)
    }

    /// How much each channel counts in fusion: an embedder that cannot read the question's
    /// language gets no say (MiniLM turns most Chinese characters into unknown tokens, and its
    /// ranking only dilutes the lexical ones).
    fn fusion_weights(&self, language: Language) -> [f32; 3] {
        let [dense, lexical, document] = HYBRID_WEIGHTS;
        if self.embedder.supports(language) {
            [dense, lexical, document]
        } else {
            [0.0, lexical, document]
        }
    }

    /// How similar the best chunk is to `question` by meaning (cosine, −1..1): the bar a
    /// question must clear before docent answers, whatever channel ranked the sources.
    fn relevance(
        &self,
        question_vector: &[f32],
        hits: &[Hit],
        mode: Mode,
        filter: &Filter,
    ) -> Result<f32> {
        if mode == Mode::Dense {
            return Ok(hits.first().map_or(f32::MIN, |h| h.score));
        }
        Ok(self
            .store
            .search(&StoreQuery::Dense(question_vector.to_vec()), filter, 1)?
            .first()
            .map_or(f32::MIN, |h| h.score))
    }

    /// Answers `question` from the store, streaming the answer's text to `on_text` (which may
    /// stop generation by returning `Break`). See [`AnswerMode`] for how the answer is written.
    /// After earlier questions ([`AskOptions::earlier`]), a follow-up is searched for, written
    /// and checked as the standalone question ([`Answer::query`]); its evidence sentences are
    /// chosen for the question as asked.
    pub fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Answer> {
        let started = Instant::now();
        options.check(question)?;
        let filter = self.scope(&options.filter)?;
        let Turn {
            mut hits,
            query,
            query_vector,
            asked_vector,
        } = self.search_turn(question, &options.earlier, options.k, options.mode, &filter)?;
        let asked = question;
        let question = query.as_str();
        // Each text embedded once: the query for the relevance bar and (unless a follow-up)
        // for choosing the evidence; a follow-up as asked for its evidence.
        let question_vector = match query_vector {
            Some(vector) => vector,
            None => self.embedder.embed_query(question)?,
        };
        let best = self.relevance(&question_vector, &hits, options.mode, &filter)?;
        let mut timings = Timings {
            retrieval_ms: elapsed_ms(started),
            ..Default::default()
        };
        let language = Language::detect(question);

        let floor = options
            .min_score
            .unwrap_or_else(|| self.embedder.relevance_floor());
        if best < floor {
            let answer = language.dont_know().to_string();
            let _ = on_text(&answer);
            return Ok(Answer {
                query,
                answer,
                answered_by: AnsweredBy::None,
                sentences: Vec::new(),
                citations: Vec::new(),
                sources: Vec::new(),
                hits,
                grounded: false,
                timings,
            });
        }
        // Dense sources below the bar would only add noise (fused scores are ranks, not
        // similarities, so only the dense channel's can be held to it).
        if options.mode == Mode::Dense {
            hits.retain(|h| h.score >= floor);
        }

        let started = Instant::now();
        // A follow-up's carried topic found the passages; their sentences are chosen for the
        // question as asked, or they would lean back to what the earlier answer said ("Where
        // does it hide? prompt injection" picks the definition of prompt injection again).
        let asked_vector = match asked_vector {
            _ if asked.trim() == question => question_vector,
            Some(vector) => vector,
            None => self.embedder.embed_query(asked)?,
        };
        let mut sources = evidence::select(
            asked,
            &asked_vector,
            &hits,
            self.embedder.as_ref(),
            &options.evidence,
        )?;
        timings.evidence_ms = elapsed_ms(started);

        // `auto` asks the generator only for a language it can write.
        let generator = match (options.answer_mode, &self.generator) {
            (AnswerMode::Extract, _) => None,
            (AnswerMode::Auto, Some(g)) if !g.writes(language) => None,
            (AnswerMode::Auto, None) => None,
            (_, Some(g)) => Some(g),
            (AnswerMode::Generate, None) => {
                return Err(Error::InvalidInput(
                    "answer mode generate needs a generator, and this one was started without (--answer-mode extract)".into(),
                ));
            }
        };
        let (sentences, answered_by) = match generator {
            None => (answer::extractive(&sources), AnsweredBy::Extract),
            Some(generator) => {
                let generated = self.generate(
                    question,
                    language,
                    generator.as_ref(),
                    &mut sources,
                    options,
                    &mut timings,
                    on_text,
                )?;
                match generated {
                    Generated::Raw(text, sentences) => {
                        let citations = answer::citations(&sentences, &sources);
                        return Ok(Answer {
                            query,
                            answer: text,
                            answered_by: AnsweredBy::Generator,
                            sentences,
                            citations,
                            sources,
                            hits,
                            grounded: true,
                            timings,
                        });
                    }
                    Generated::Checked(sentences) if sentences.iter().any(|s| s.kept) => {
                        (sentences, AnsweredBy::Generator)
                    }
                    // Nothing the generator wrote survived the check: the extractive answer,
                    // after the dropped sentences (kept: false) for the record.
                    Generated::Checked(mut dropped) => {
                        dropped.extend(answer::extractive(&sources));
                        (dropped, AnsweredBy::Extract)
                    }
                }
            }
        };
        let answer = answer::render(&sentences);
        if answered_by == AnsweredBy::Extract {
            let _ = on_text(&answer);
        }
        let citations = answer::citations(&sentences, &sources);
        Ok(Answer {
            query,
            answer,
            answered_by,
            sentences,
            citations,
            sources,
            hits,
            grounded: true,
            timings,
        })
    }

    /// Runs the generator over the evidence. `generate` streams its text as written (citations to
    /// no source removed) and checks it afterwards, for the record; `auto` streams each sentence
    /// once it is checked, kept ones only, with their citations corrected.
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        question: &str,
        language: Language,
        generator: &dyn Generator,
        sources: &mut Vec<Evidence>,
        options: &AskOptions,
        timings: &mut Timings,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> anyhow::Result<Generated> {
        // Drop the weakest evidence until prompt and answer fit the model's context.
        let budget = generator
            .context_length()
            .saturating_sub(options.generation.max_tokens);
        let messages = prompt::fit(question, sources, language, budget, &|messages| {
            generator.count_tokens(messages)
        })?;
        let checker = SupportChecker::new(self.embedder.as_ref(), question, sources, language)?;

        if options.answer_mode == AnswerMode::Generate {
            let mut filter = CitationFilter::new(sources.len());
            let mut text = String::new();
            timings.generation =
                generator.generate(&messages, &options.generation, &mut |piece| {
                    let shown = filter.push(piece);
                    text.push_str(&shown);
                    if shown.is_empty() {
                        ControlFlow::Continue(())
                    } else {
                        on_text(&shown)
                    }
                })?;
            let rest = filter.finish();
            text.push_str(&rest);
            if !rest.is_empty() {
                let _ = on_text(&rest);
            }
            let started = Instant::now();
            let mut stream = SentenceStream::default();
            let mut sentences = stream.push(&text);
            sentences.extend(stream.finish());
            let checked = sentences
                .iter()
                .map(|s| {
                    checker.check(s).map(|check| SentenceCheck {
                        kept: true,
                        ..check
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            timings.check_ms = elapsed_ms(started);
            return Ok(Generated::Raw(text.trim().to_string(), checked));
        }

        let mut stream = SentenceStream::default();
        let mut checked: Vec<SentenceCheck> = Vec::new();
        let mut shown = String::new();
        let mut failure = None;
        let mut check_ms = 0.0;
        let mut misses = 0;
        let mut take =
            |sentences: Vec<String>, checked: &mut Vec<SentenceCheck>| -> ControlFlow<()> {
                for sentence in sentences {
                    let started = Instant::now();
                    let check = match checker.check(&sentence) {
                        Ok(check) => check,
                        Err(err) => {
                            failure = Some(err);
                            return ControlFlow::Break(());
                        }
                    };
                    check_ms += elapsed_ms(started);
                    let wrong_language = check.supported && !check.kept;
                    if check.kept {
                        let before = shown.len();
                        crate::sentences::join(&mut shown, &check.cited_text());
                        if on_text(&shown[before..]).is_break() {
                            checked.push(check);
                            return ControlFlow::Break(());
                        }
                    }
                    let states_something = !content_tokens(&check.text).is_empty();
                    misses = if check.supported || !states_something {
                        0
                    } else {
                        misses + 1
                    };
                    checked.push(check);
                    // An answer in another language than the question's is not going to be shown,
                    // and a model that has drifted from its sources rarely comes back to them.
                    if (wrong_language && !checked.iter().any(|c| c.kept))
                        || misses >= MAX_UNSUPPORTED_IN_A_ROW
                    {
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            };
        let mut stopped = false;
        timings.generation = generator.generate(&messages, &options.generation, &mut |piece| {
            let flow = take(stream.push(piece), &mut checked);
            stopped = flow.is_break();
            flow
        })?;
        // What is left is checked only when the model finished by itself: after a drift, a
        // language mismatch or a client gone, nothing more is shown.
        if !stopped {
            let _ = take(stream.finish(), &mut checked);
        }
        if let Some(err) = failure {
            return Err(err);
        }
        timings.check_ms = check_ms;
        Ok(Generated::Checked(checked))
    }
}

/// What the generator produced: raw text with its sentences checked for the record
/// (`generate`), or checked sentences, the kept ones shown (`auto`).
enum Generated {
    Raw(String, Vec<SentenceCheck>),
    Checked(Vec<SentenceCheck>),
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    //! The engine's wiring over the in-memory fakes: which channels search, the relevance bar,
    //! citations, and the prompt fitted to the generator's context.

    use super::*;
    use crate::limits::{
        MAX_ASK_K, MAX_EARLIER_QUESTIONS, MAX_FILTER_DOCUMENTS, MAX_K, MAX_QUERY_CHARS,
    };
    use crate::store::Point;
    use crate::store::StoreMeta;
    use crate::testing::{MemoryStore, ScriptedGenerator, WordEmbedder};
    use crate::types::ChunkPayload;

    const DOCS: [(&str, &str); 4] = [
        (
            "apt.md",
            "APT installs packages and resolves their dependencies. Run apt install to add a package.",
        ),
        (
            "tea.md",
            "Green tea is brewed at 70 to 80 degrees. Boiling water makes it bitter.",
        ),
        (
            "mirrors.md",
            "The archives are updated twice every day. Mirrors copy them with rsync.",
        ),
        (
            "codes.md",
            "Error XK-4471 means the keyring expired; renew the keyring to fix it.",
        ),
    ];

    fn store(embedder: &WordEmbedder) -> MemoryStore {
        let store = MemoryStore::default();
        let points = DOCS
            .iter()
            .map(|(path, text)| Point {
                vector: embedder.embed_query(text).unwrap(),
                sparse: lexical::passage_vector(text),
                document_terms: Some(lexical::passage_vector(text)),
                payload: ChunkPayload {
                    root: "/docs".into(),
                    path: path.to_string(),
                    doc_id: path.to_string(),
                    content_hash: "h".into(),
                    chunk_index: 0,
                    chunk_count: 1,
                    start_line: 1,
                    end_line: 1,
                    headings: Vec::new(),
                    text: text.to_string(),
                    ingested_at: 0,
                    kind: "md".into(),
                    modified: 0,
                },
            })
            .collect();
        store.upsert(points).unwrap();
        store
    }

    fn engine(generator: Option<ScriptedGenerator>) -> Engine {
        let embedder = WordEmbedder::default();
        let store = store(&embedder);
        Engine::new(
            Arc::new(embedder),
            Arc::new(store),
            generator.map(|g| Arc::new(g) as Arc<dyn Generator>),
        )
        .unwrap()
    }

    /// Vectors of two models must never be compared: an engine over a store another embedder
    /// filled is refused, whatever the store, even when the two have the same dimension.
    #[test]
    fn a_store_filled_by_another_embedder_is_refused() {
        let embedder = Arc::new(WordEmbedder::default());
        let other = MemoryStore::recording(StoreMeta::new("another-model", embedder.dimension));
        let err = Engine::new(embedder.clone(), Arc::new(other), None)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("holds another-model vectors") && err.contains("fake-words"),
            "{err}"
        );
        assert!(Engine::new(embedder, Arc::new(MemoryStore::default()), None).is_ok());
    }

    fn paths(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.path.as_str()).collect()
    }

    #[test]
    fn every_mode_searches_its_channels_and_hybrid_fuses_them() {
        let engine = engine(None);
        let everything = Filter::default();
        for mode in [Mode::Dense, Mode::Lexical, Mode::Hybrid] {
            let hits = engine
                .search("how often are the archives updated", 2, mode, &everything)
                .unwrap();
            assert_eq!(paths(&hits)[0], "mirrors.md", "{mode}: {hits:?}");
            assert!(hits.len() <= 2);
        }
        // An exact code: the lexical channel finds it, and fusion keeps it first.
        let hits = engine
            .search("XK-4471", 3, Mode::Hybrid, &everything)
            .unwrap();
        assert_eq!(paths(&hits)[0], "codes.md", "{hits:?}");
        // Bad queries are the caller's mistake, whatever the mode.
        let err = engine
            .search("  ", 3, Mode::Hybrid, &everything)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        let err = engine
            .search("tea", MAX_K + 1, Mode::Dense, &everything)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        let too_many = Filter {
            documents: vec!["a.md".into(); MAX_FILTER_DOCUMENTS + 1],
            ..Default::default()
        };
        let err = engine
            .search("tea", 3, Mode::Hybrid, &too_many)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    }

    /// A filter reaches every channel: only the named documents are found, and an answer is
    /// written from them alone.
    #[test]
    fn a_filter_keeps_search_and_answer_to_its_documents() {
        let engine = engine(None);
        let only_apt = Filter {
            documents: vec!["apt.md".into()],
            ..Default::default()
        };
        for mode in [Mode::Dense, Mode::Lexical, Mode::Hybrid] {
            let hits = engine
                .search("how often are the archives updated", 4, mode, &only_apt)
                .unwrap();
            assert!(
                paths(&hits).iter().all(|p| *p == "apt.md"),
                "{mode}: {hits:?}"
            );
        }
        let options = AskOptions {
            filter: only_apt,
            min_score: Some(0.0),
            answer_mode: AnswerMode::Extract,
            ..Default::default()
        };
        let answer = engine
            .ask("How do I add a package with apt?", &options, &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        assert!(answer.grounded);
        assert!(
            answer.sources.iter().all(|s| s.path == "apt.md"),
            "{answer:?}"
        );
    }

    /// Path globs are matched against the store's paths once per question, whatever the
    /// channels and searches it takes (a follow-up searches twice, an answer also checks its
    /// relevance), and the filter they make applies to every one.
    #[test]
    fn path_globs_are_resolved_once_per_question() {
        let embedder = WordEmbedder::default();
        let store = Arc::new(store(&embedder));
        let engine = Engine::new(Arc::new(embedder), store.clone(), None).unwrap();
        let only_apt = Filter {
            paths: vec!["a*.md".into()],
            ..Default::default()
        };
        let hits = engine
            .search(
                "how often are the archives updated",
                4,
                Mode::Hybrid,
                &only_apt,
            )
            .unwrap();
        assert!(paths(&hits).iter().all(|p| *p == "apt.md"), "{hits:?}");
        assert_eq!(store.paths_listed(), 1);
        let options = AskOptions {
            filter: only_apt,
            earlier: vec!["When are the archives updated?".to_string()],
            min_score: Some(0.0),
            answer_mode: AnswerMode::Extract,
            ..Default::default()
        };
        let answer = engine
            .ask("Which tool copies them?", &options, &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        assert!(
            answer.sources.iter().all(|s| s.path == "apt.md"),
            "{answer:?}"
        );
        assert_eq!(store.paths_listed(), 2);
        let nothing = Filter {
            paths: vec!["none/**".into()],
            ..Default::default()
        };
        assert!(
            engine
                .search("archives", 4, Mode::Hybrid, &nothing)
                .unwrap()
                .is_empty()
        );
    }

    /// A follow-up that refers back is searched for with the earlier question's topic, and
    /// the answer says what was searched for; a question that stands alone is searched as asked.
    #[test]
    fn a_follow_up_finds_what_it_refers_to() {
        let engine = engine(None);
        let earlier = vec!["When are the archives updated?".to_string()];
        let everything = Filter::default();
        let alone = engine
            .search("Which tool copies them?", 1, Mode::Hybrid, &everything)
            .unwrap();
        let followup = engine
            .search_followup(
                "Which tool copies them?",
                &earlier,
                1,
                Mode::Hybrid,
                &everything,
            )
            .unwrap();
        assert_eq!(paths(&followup), ["mirrors.md"], "alone: {alone:?}");

        let options = AskOptions {
            earlier: earlier.clone(),
            answer_mode: AnswerMode::Extract,
            min_score: Some(0.0),
            ..Default::default()
        };
        let answer = engine
            .ask("Which tool copies them?", &options, &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(answer.query, "Which tool copies them? archives updated");
        assert_eq!(answer.sources[0].path, "mirrors.md");
        let answer = engine
            .ask(
                "How hot should the water for green tea be?",
                &options,
                &mut |_| ControlFlow::Continue(()),
            )
            .unwrap();
        assert_eq!(answer.query, "How hot should the water for green tea be?");
    }

    #[test]
    fn every_caller_gets_the_same_checks_before_any_work() {
        let engine = engine(Some(ScriptedGenerator::new("Unused.")));
        let with = |change: fn(&mut AskOptions)| {
            let mut options = AskOptions::default();
            change(&mut options);
            options
        };
        assert!(
            AskOptions::default()
                .check("How often are the archives updated?")
                .is_ok()
        );
        let wrong = [
            (with(|o| o.k = MAX_ASK_K + 1), "k must be at most 50"),
            (
                with(|o| o.generation.max_tokens = 0),
                "max_tokens must be between 1 and 2048",
            ),
            (
                with(|o| o.generation.temperature = 2.5),
                "temperature must be between 0 and 2",
            ),
            (
                with(|o| o.earlier = vec!["q".into(); MAX_EARLIER_QUESTIONS + 1]),
                "at most 32 earlier questions",
            ),
            (
                with(|o| o.earlier = vec!["q".repeat(MAX_QUERY_CHARS + 1)]),
                "an earlier question is",
            ),
            (
                with(|o| o.filter.documents = vec!["d".into(); MAX_FILTER_DOCUMENTS + 1]),
                "a search may be restricted to at most 100",
            ),
        ];
        for (options, why) in wrong {
            let err = engine
                .ask("How often are the archives updated?", &options, &mut |_| {
                    ControlFlow::Continue(())
                })
                .unwrap_err();
            let Error::InvalidInput(message) = err else {
                panic!("not the caller's mistake: {err}")
            };
            assert!(message.starts_with(why), "{message}");
        }
    }

    #[test]
    fn below_the_relevance_bar_the_answer_is_i_dont_know_without_generating() {
        let engine = engine(Some(ScriptedGenerator::new("Invented [1].")));
        let options = AskOptions {
            min_score: Some(0.5),
            ..Default::default()
        };
        let mut streamed = String::new();
        let answer = engine
            .ask("Which volcano erupted in 1783?", &options, &mut |t| {
                streamed.push_str(t);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(answer.answered_by, AnsweredBy::None);
        assert!(!answer.grounded && answer.citations.is_empty());
        assert_eq!(streamed, answer.answer);
        assert_eq!(answer.answer, Language::English.dont_know());
    }

    #[test]
    fn a_supported_sentence_is_cited_to_its_source_and_an_invention_is_dropped() {
        let generator = ScriptedGenerator::new(
            "The archives are updated twice every day [{mirrors.md}]. The archives are painted blue every day [{mirrors.md}].",
        );
        let engine = engine(Some(generator));
        let options = AskOptions {
            min_score: Some(0.1),
            k: 3,
            ..Default::default()
        };
        let answer = engine
            .ask("How often are the archives updated?", &options, &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        let mirrors = answer
            .sources
            .iter()
            .find(|s| s.path == "mirrors.md")
            .expect("mirrors.md is a source")
            .n;
        assert_eq!(answer.answered_by, AnsweredBy::Generator, "{answer:?}");
        assert_eq!(
            answer.answer,
            format!("The archives are updated twice every day. [{mirrors}]")
        );
        assert_eq!(answer.citations.len(), 1);
        assert_eq!(
            (answer.citations[0].n, answer.citations[0].path.as_str()),
            (mirrors, "mirrors.md")
        );
        assert!(!answer.sentences[1].kept, "{:?}", answer.sentences);
    }

    /// Each kept sentence names, per source it cites, the source's sentence that backs it.
    #[test]
    fn a_checked_sentence_quotes_the_sentence_of_its_source_that_backs_it() {
        let generator =
            ScriptedGenerator::new("Mirrors copy the archives with rsync [{mirrors.md}].");
        let engine = engine(Some(generator));
        let options = AskOptions {
            min_score: Some(0.1),
            k: 3,
            ..Default::default()
        };
        let answer = engine
            .ask("How are the archives mirrored?", &options, &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        let kept = &answer.sentences[0];
        assert!(kept.kept, "{answer:?}");
        assert_eq!(kept.quotes, ["Mirrors copy them with rsync."], "{answer:?}");
        let source = &answer.sources[kept.sources[0] - 1];
        assert!(source.text.contains(&kept.quotes[0]), "{source:?}");
    }

    #[test]
    fn the_prompt_is_fitted_to_a_small_context_by_dropping_the_weakest_sources() {
        let question = "How often are the archives updated?";
        let script = "The archives are updated twice every day [1].";
        let options = AskOptions {
            min_score: Some(0.0),
            k: 4,
            answer_mode: AnswerMode::Generate,
            ..Default::default()
        };
        let roomy = engine(Some(ScriptedGenerator::new(script)));
        let all = roomy
            .ask(question, &options, &mut |_| ControlFlow::Continue(()))
            .unwrap()
            .sources;
        assert!(all.len() > 1, "{all:?}");
        // Room for the prompt over the best source alone, and the answer.
        let mut generator = ScriptedGenerator::new(script);
        let one_source = generator
            .count_tokens(&prompt::build(question, &all[..1], Language::English))
            .unwrap();
        generator.context = one_source + options.generation.max_tokens;
        let tight = engine(Some(generator));
        let answer = tight
            .ask(question, &options, &mut |_| ControlFlow::Continue(()))
            .unwrap();
        assert_eq!(answer.sources, all[..1], "the weakest sources are dropped");
        assert_eq!(answer.timings.generation.prompt_tokens, one_source);
    }
}
