//! [`Engine`]: the answer's chain wired together — plan the search, retrieve, hold the
//! relevance bar, select evidence, then write (generator, judged by the verifier) or quote.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use crate::answer::evidence::{self, Evidence, EvidenceOptions};
use crate::answer::tool_calls::ToolUse;
use crate::answer::verify::{SentenceCheck, SupportVerifier, Verifier};
use crate::answer::write::{Writer, Written, elapsed_ms};
use crate::answer::{self, Answer, AnswerMode, AnsweredBy, Timings, extract};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::generate::{GenerationParams, Generator, ToolCall};
use crate::limits::check_filter;
use crate::retrieve::fusion::Fusion;
use crate::retrieve::{
    FollowUpRule, Mode, Plan, Query, QueryPlanner, QueryVectors, Retriever, SearchRequest,
    search_tool,
};
use crate::store::{Filter, VectorStore, check_pairing};
use crate::text::language::Language;
use crate::types::Hit;

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
    /// The user's earlier questions in this conversation, oldest first: the query planner reads
    /// them to make a follow-up stand alone.
    pub earlier: Vec<String>,
    /// Function calling: tools the model may call instead of answering, and the calls and
    /// results since the question (which become sources of the answer).
    pub tools: Option<ToolUse>,
    /// Agentic search: how many further searches the model may make with `docent_search`
    /// after the question's own, having read what it found (0: none; at most
    /// [`search_tool::MAX_SEARCHES`]).
    pub searches: usize,
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
            tools: None,
            searches: 0,
        }
    }
}

/// The retrieval-augmented answerer: a retriever (embedder and store), a query planner, a
/// verifier and, optionally, a generator, wired into [`Engine::search`] and [`Engine::ask`].
/// Cheap to share between threads.
pub struct Engine {
    retriever: Retriever,
    planner: Arc<dyn QueryPlanner>,
    verifier: Arc<dyn Verifier>,
    generator: Option<Arc<dyn Generator>>,
}

impl Engine {
    /// An engine over these backends, with the follow-up rule as its planner and the support
    /// check as its verifier (without a generator, answers are quoted, as in `extract`); fails
    /// when another embedder filled the store.
    pub fn new(
        embedder: Arc<dyn Embedder>,
        store: Arc<dyn VectorStore>,
        generator: Option<Arc<dyn Generator>>,
    ) -> Result<Self> {
        check_pairing(embedder.as_ref(), store.as_ref())?;
        Ok(Engine {
            verifier: Arc::new(SupportVerifier::new(embedder.clone())),
            retriever: Retriever::new(embedder, store, Fusion::default()),
            planner: Arc::new(FollowUpRule),
            generator,
        })
    }

    /// How hybrid retrieval merges its channels.
    pub fn with_fusion(mut self, fusion: Fusion) -> Self {
        self.retriever = Retriever::new(self.embedder().clone(), self.store().clone(), fusion);
        self
    }

    /// Who turns questions into queries.
    pub fn with_planner(mut self, planner: Arc<dyn QueryPlanner>) -> Self {
        self.planner = planner;
        self
    }

    /// Who judges the generator's sentences.
    pub fn with_verifier(mut self, verifier: Arc<dyn Verifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// The embedder queries and chunks are embedded with.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        self.retriever.embedder()
    }

    /// The store searched.
    pub fn store(&self) -> &Arc<dyn VectorStore> {
        self.retriever.store()
    }

    /// The generator answers are written with, if one was loaded.
    pub fn generator(&self) -> Option<&Arc<dyn Generator>> {
        self.generator.as_ref()
    }

    /// The retriever, for benchmarks that time its channels on vectors made beforehand.
    pub fn retriever(&self) -> &Retriever {
        &self.retriever
    }

    /// The `k` chunks that best match the request's query (planned with its earlier
    /// questions) through its mode's channels, best first, among those its filter admits.
    pub fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>> {
        Ok(self.search_planned(request)?.1)
    }

    /// [`Engine::search`], with the plan it searched (what was searched for).
    pub fn search_planned(&self, request: &SearchRequest) -> Result<(Plan, Vec<Hit>)> {
        let filter = self.scope(&request.filter)?;
        let (plan, hits, _) = self.retrieve(
            &request.query,
            &request.earlier,
            request.k,
            request.mode,
            &filter,
        )?;
        Ok((plan, hits))
    }

    /// [`Engine::search`] for a plan made beforehand (the request's query and earlier
    /// questions are not read): to compare planners on the same searches.
    pub fn search_plan(&self, plan: &Plan, request: &SearchRequest) -> Result<Vec<Hit>> {
        let filter = self.scope(&request.filter)?;
        Ok(self.run(plan, request.k, request.mode, &filter)?.0)
    }

    /// Plans `question` (asked after `earlier`) and searches for the plan's queries among what
    /// `filter` (resolved) admits: the plan, the hits, and the query vectors computed on the way.
    fn retrieve(
        &self,
        question: &str,
        earlier: &[String],
        k: usize,
        mode: Mode,
        filter: &Filter,
    ) -> Result<(Plan, Vec<Hit>, QueryVectors<'_>)> {
        let plan = self.planner.plan(question, earlier, mode)?;
        let (hits, vectors) = self.run(&plan, k, mode, filter)?;
        Ok((plan, hits, vectors))
    }

    /// Searches for `plan`'s queries: the hits, and the query vectors computed on the way.
    fn run(
        &self,
        plan: &Plan,
        k: usize,
        mode: Mode,
        filter: &Filter,
    ) -> Result<(Vec<Hit>, QueryVectors<'_>)> {
        let mut vectors = QueryVectors::new(self.embedder().as_ref());
        let hits = self.retriever.search(plan, k, mode, filter, &mut vectors)?;
        Ok((hits, vectors))
    }

    /// `filter`, checked, with its path globs resolved against the store's paths: once per
    /// question, however many channels and searches it takes.
    fn scope(&self, filter: &Filter) -> Result<Filter> {
        check_filter(filter)?;
        filter.resolve(|| self.store().paths())
    }

    /// Answers `question` from the store, streaming the answer's text to `on_text` (which may
    /// stop generation by returning `Break`). See [`AnswerMode`] for how the answer is written.
    /// The query planner makes a follow-up stand alone ([`Answer::query`]): it is searched for,
    /// written and checked as that; its evidence sentences are chosen for the question as asked.
    pub fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Answer> {
        let started = Instant::now();
        options.check(question)?;
        self.check_tools(options)?;
        let filter = self.scope(&options.filter)?;
        let (mut plan, mut hits, mut vectors) =
            self.retrieve(question, &options.earlier, options.k, options.mode, &filter)?;
        if options.searches > 0 {
            let generator = self.generator.as_deref().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{} needs a generator, and this one was started without",
                    search_tool::NAME
                ))
            })?;
            let more = search_tool::further_queries(
                generator,
                question,
                &plan.standalone,
                &hits,
                options.searches,
                &mut |query| {
                    let plan = Plan::as_asked(query);
                    Ok(self.run(&plan, options.k, options.mode, &filter)?.0)
                },
            )?;
            if !more.is_empty() {
                plan.queries
                    .extend(more.into_iter().map(|text| Query { text, weight: 1.0 }));
                (hits, vectors) = self.run(&plan, options.k, options.mode, &filter)?;
            }
        }
        let queries: Vec<String> = plan.texts().into_iter().map(String::from).collect();
        let query = plan.standalone;
        let best = self
            .retriever
            .relevance(&vectors.get(&query)?, &hits, options.mode, &filter)?;
        let mut timings = Timings {
            retrieval_ms: elapsed_ms(started),
            ..Default::default()
        };
        let language = Language::detect(&query);
        let floor = options
            .min_score
            .unwrap_or_else(|| self.embedder().relevance_floor());
        // With tools offered the model may still call one when the store has nothing.
        let relevant = best >= floor;
        if !relevant && options.tools.is_none() {
            return Ok(Answer::dont_know(
                query, queries, language, hits, timings, on_text,
            ));
        }
        // Dense sources below the bar would only add noise (fused scores are ranks, not
        // similarities, so only the dense channel's can be held to it).
        if options.mode == Mode::Dense {
            hits.retain(|h| h.score >= floor);
        }

        let started = Instant::now();
        // A follow-up's standalone query found the passages; their sentences are chosen for the
        // question as asked, or they would lean back to what the earlier answer said ("Where
        // does it hide? prompt injection" picks the definition of prompt injection again).
        let mut sources = if relevant {
            evidence::select(
                question,
                &vectors.get(question)?,
                &hits,
                self.embedder().as_ref(),
                &options.evidence,
            )?
        } else {
            Vec::new()
        };
        // Tools' results come first: the numbers they were read to the model with.
        if let Some(tools) = &options.tools {
            let mut results = tools.results();
            for source in &mut sources {
                source.n += results.len();
            }
            results.append(&mut sources);
            sources = results;
        }
        timings.evidence_ms = elapsed_ms(started);
        let composed = self.compose(
            &query,
            language,
            &mut sources,
            options,
            &mut timings,
            on_text,
        )?;
        if composed.answer.is_empty() && composed.tool_calls.is_empty() {
            return Ok(Answer::dont_know(
                query, queries, language, hits, timings, on_text,
            ));
        }
        Ok(Answer {
            query,
            queries,
            answer: composed.answer,
            answered_by: composed.by,
            citations: answer::citations(&composed.sentences, &sources),
            sentences: composed.sentences,
            tool_calls: composed.tool_calls,
            sources,
            hits,
            grounded: true,
            timings,
        })
    }

    /// Tools can be offered only to a model that calls them, and the one a caller insists on
    /// must be among them.
    fn check_tools(&self, options: &AskOptions) -> Result<()> {
        let Some(tools) = &options.tools else {
            return Ok(());
        };
        let generator = match (&self.generator, options.answer_mode) {
            (Some(generator), AnswerMode::Auto | AnswerMode::Generate) => generator,
            _ => {
                return Err(Error::InvalidInput(
                    "tools need a generator that writes the answer, and this one answers by quoting \
                     (--answer-mode extract, or no --model)"
                        .into(),
                ));
            }
        };
        if !generator.calls_tools() {
            return Err(Error::InvalidInput(format!(
                "the generator {} cannot call tools: its chat template has no tool-call format \
                 (start docent with --model qwen2.5-0.5b or qwen2.5-1.5b)",
                generator.name()
            )));
        }
        tools.check()
    }

    /// Which generator writes in this answer mode, if any: `auto` asks it only for a
    /// language it can write.
    fn writer_for(&self, mode: AnswerMode, language: Language) -> Result<Option<&dyn Generator>> {
        match (mode, &self.generator) {
            (AnswerMode::Extract, _) | (AnswerMode::Auto, None) => Ok(None),
            (AnswerMode::Auto, Some(g)) if !g.writes(language) => Ok(None),
            (_, Some(g)) => Ok(Some(g.as_ref())),
            (AnswerMode::Generate, None) => Err(Error::InvalidInput(
                "answer mode generate needs a generator, and this one was started without (--answer-mode extract)".into(),
            )),
        }
    }

    /// The answer's text and sentences, and who wrote them: the generator (judged in `auto`),
    /// or quotes of the evidence — in `extract`, and in `auto` when nothing written held (the
    /// dropped sentences stay in the record, `kept: false`); or the tools the model called.
    fn compose(
        &self,
        question: &str,
        language: Language,
        sources: &mut Vec<Evidence>,
        options: &AskOptions,
        timings: &mut Timings,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Composed> {
        let written = |answer, sentences, by| Composed {
            answer,
            sentences,
            by,
            tool_calls: Vec::new(),
        };
        let mut sentences = match self.writer_for(options.answer_mode, language)? {
            None => Vec::new(),
            Some(generator) => {
                let writer = Writer {
                    generator,
                    verifier: self.verifier.as_ref(),
                    params: &options.generation,
                    mode: options.answer_mode,
                    tools: options.tools.as_ref(),
                };
                match writer.write(question, language, sources, timings, on_text)? {
                    Written::Raw(text, checks) => {
                        return Ok(written(text, checks, AnsweredBy::Generator));
                    }
                    Written::Checked(checks) if checks.iter().any(|s| s.kept) => {
                        let text = answer::render(&checks);
                        return Ok(written(text, checks, AnsweredBy::Generator));
                    }
                    Written::Calls(text, tool_calls) => {
                        return Ok(Composed {
                            tool_calls,
                            ..written(text, Vec::new(), AnsweredBy::Tools)
                        });
                    }
                    Written::Checked(dropped) => dropped,
                }
            }
        };
        sentences.extend(extract::quotes(question, sources));
        let answer = answer::render(&sentences);
        let _ = on_text(&answer);
        Ok(written(answer, sentences, AnsweredBy::Extract))
    }
}

/// What [`Engine::compose`] made.
struct Composed {
    answer: String,
    sentences: Vec<SentenceCheck>,
    by: AnsweredBy,
    tool_calls: Vec<ToolCall>,
}

#[cfg(test)]
mod tests {
    //! The engine's wiring over the in-memory fakes: which channels search, the relevance bar,
    //! citations, and the prompt fitted to the generator's context.

    use super::*;
    use crate::answer::prompt;
    use crate::answer::tool_calls::ToolChoice;
    use crate::answer::verify::{SentenceJudge, Verdict};
    use crate::generate::{ChatMessage, Role};
    use crate::limits::{
        MAX_ASK_K, MAX_EARLIER_QUESTIONS, MAX_FILTER_DOCUMENTS, MAX_K, MAX_QUERY_CHARS,
    };
    use crate::retrieve::lexical;
    use crate::store::{Point, StoreMeta};
    use crate::testing::{MemoryStore, ScriptedGenerator, WordEmbedder, chunk};

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
                payload: chunk(path, text),
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

    /// A search of `query` alone.
    fn search(
        engine: &Engine,
        query: &str,
        k: usize,
        mode: Mode,
        filter: &Filter,
    ) -> Result<Vec<Hit>> {
        engine.search(&SearchRequest {
            mode,
            filter: filter.clone(),
            ..SearchRequest::new(query, k)
        })
    }

    fn paths(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.path.as_str()).collect()
    }

    #[test]
    fn every_mode_searches_its_channels_and_hybrid_fuses_them() {
        let engine = engine(None);
        let everything = Filter::default();
        for mode in [Mode::Dense, Mode::Lexical, Mode::Hybrid] {
            let hits = search(
                &engine,
                "how often are the archives updated",
                2,
                mode,
                &everything,
            )
            .unwrap();
            assert_eq!(paths(&hits)[0], "mirrors.md", "{mode}: {hits:?}");
            assert!(hits.len() <= 2);
        }
        // An exact code: the lexical channel finds it, and fusion keeps it first.
        let hits = search(&engine, "XK-4471", 3, Mode::Hybrid, &everything).unwrap();
        assert_eq!(paths(&hits)[0], "codes.md", "{hits:?}");
        // Bad queries are the caller's mistake, whatever the mode.
        let err = search(&engine, "  ", 3, Mode::Hybrid, &everything).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        let err = search(&engine, "tea", MAX_K + 1, Mode::Dense, &everything).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        let too_many = Filter {
            documents: vec!["a.md".into(); MAX_FILTER_DOCUMENTS + 1],
            ..Default::default()
        };
        let err = search(&engine, "tea", 3, Mode::Hybrid, &too_many).unwrap_err();
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
            let hits = search(
                &engine,
                "how often are the archives updated",
                4,
                mode,
                &only_apt,
            )
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
        let hits = search(
            &engine,
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
            search(&engine, "archives", 4, Mode::Hybrid, &nothing)
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
        let alone = search(
            &engine,
            "Which tool copies them?",
            1,
            Mode::Hybrid,
            &everything,
        )
        .unwrap();
        let followup = engine
            .search(&SearchRequest {
                earlier: earlier.clone(),
                ..SearchRequest::new("Which tool copies them?", 1)
            })
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
            "The archives are updated twice every day [{mirrors.md}]. The archives are painted blue by robots [{mirrors.md}].",
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
            .count_tokens(crate::generate::Chat::new(&prompt::build(
                question,
                &all[..1],
                Language::English,
            )))
            .unwrap();
        generator.context = one_source + options.generation.max_tokens;
        let tight = engine(Some(generator));
        let answer = tight
            .ask(question, &options, &mut |_| ControlFlow::Continue(()))
            .unwrap();
        assert_eq!(answer.sources, all[..1], "the weakest sources are dropped");
        assert_eq!(answer.timings.generation.prompt_tokens, one_source);
    }

    /// Counts the queries it embeds; otherwise a [`WordEmbedder`].
    #[derive(Default)]
    struct CountingEmbedder {
        words: WordEmbedder,
        queries: std::sync::Mutex<Vec<String>>,
    }

    impl CountingEmbedder {
        fn embedded(&self) -> Vec<String> {
            std::mem::take(&mut self.queries.lock().unwrap())
        }
    }

    impl Embedder for CountingEmbedder {
        fn id(&self) -> &str {
            self.words.id()
        }
        fn dimension(&self) -> usize {
            self.words.dimension()
        }
        fn count_tokens(&self, text: &str) -> usize {
            self.words.count_tokens(text)
        }
        fn max_tokens(&self) -> usize {
            self.words.max_tokens()
        }
        fn embed_passages(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
            self.words.embed_passages(texts)
        }
        fn embed_query(&self, text: &str) -> anyhow::Result<Vec<f32>> {
            self.queries.lock().unwrap().push(text.to_string());
            self.words.embed_query(text)
        }
        fn supports(&self, language: Language) -> bool {
            self.words.supports(language)
        }
        fn relevance_floor(&self) -> f32 {
            self.words.relevance_floor()
        }
    }

    /// Plans the same weighted queries for every question.
    struct FixedPlanner(Vec<(&'static str, f32)>);

    impl QueryPlanner for FixedPlanner {
        fn plan(
            &self,
            question: &str,
            _earlier: &[String],
            _mode: Mode,
        ) -> Result<crate::retrieve::Plan> {
            Ok(crate::retrieve::Plan {
                standalone: question.trim().to_string(),
                queries: self
                    .0
                    .iter()
                    .map(|&(text, weight)| crate::retrieve::Query {
                        text: text.to_string(),
                        weight,
                    })
                    .collect(),
            })
        }
    }

    /// The engine searches whatever the planner asks for: every query, each embedded once,
    /// their rankings fused by the queries' weights; an answer then embeds its question once
    /// more, for the relevance bar and the evidence alike.
    #[test]
    fn every_planned_query_is_searched_once_and_fused_by_its_weight() {
        let planned = |codes: f32, tea: f32| {
            let embedder = Arc::new(CountingEmbedder::default());
            let store = Arc::new(store(&WordEmbedder::default()));
            let engine = Engine::new(embedder.clone(), store, None)
                .unwrap()
                .with_planner(Arc::new(FixedPlanner(vec![
                    ("error XK-4471 keyring", codes),
                    ("green tea brewed", tea),
                ])));
            (engine, embedder)
        };
        let (engine, embedder) = planned(3.0, 1.0);
        let hits = engine
            .search(&SearchRequest::new("whatever was asked", 4))
            .unwrap();
        assert_eq!(paths(&hits)[..2], ["codes.md", "tea.md"], "{hits:?}");
        assert_eq!(
            embedder.embedded(),
            ["error XK-4471 keyring", "green tea brewed"]
        );
        let (engine, embedder) = planned(1.0, 3.0);
        let hits = engine
            .search(&SearchRequest::new("whatever was asked", 4))
            .unwrap();
        assert_eq!(paths(&hits)[0], "tea.md", "{hits:?}");
        assert!(paths(&hits).contains(&"codes.md"), "{hits:?}");
        embedder.embedded();
        let options = AskOptions {
            answer_mode: AnswerMode::Extract,
            min_score: Some(0.0),
            ..Default::default()
        };
        let answer = engine
            .ask(" How hot is tea brewed? ", &options, &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(answer.query, "How hot is tea brewed?");
        assert_eq!(
            embedder.embedded(),
            [
                "error XK-4471 keyring",
                "green tea brewed",
                "How hot is tea brewed?"
            ]
        );
    }

    /// Judges by the sentence's first word: Yes, Foreign, Again, Um, else unsupported.
    struct FirstWordVerifier;

    struct FirstWordJudge;

    impl Verifier for FirstWordVerifier {
        fn prepare(
            &self,
            _question: &str,
            _evidence: &[Evidence],
            _language: Language,
        ) -> anyhow::Result<Box<dyn SentenceJudge>> {
            Ok(Box::new(FirstWordJudge))
        }
    }

    impl SentenceJudge for FirstWordJudge {
        fn judge(
            &self,
            sentence: &str,
            _previous: Option<&SentenceCheck>,
        ) -> anyhow::Result<SentenceCheck> {
            let (text, sources) = crate::text::markers::strip(sentence);
            let verdict = match text.split_whitespace().next() {
                Some("Yes") => Verdict::Supported,
                Some("Foreign") => Verdict::WrongLanguage,
                Some("Again") => Verdict::RestatesQuestion,
                Some("Um.") => Verdict::StatesNothing,
                _ => Verdict::Unsupported,
            };
            Ok(SentenceCheck {
                text,
                sources,
                support: 1.0,
                verdict,
                kept: false,
                quotes: Vec::new(),
            })
        }
    }

    /// `question` answered in `auto` by a generator that writes `script`, judged by
    /// [`FirstWordVerifier`]; with the text streamed meanwhile.
    fn ask_first_words(script: &str, question: &str) -> (Answer, String) {
        let engine =
            engine(Some(ScriptedGenerator::new(script))).with_verifier(Arc::new(FirstWordVerifier));
        let options = AskOptions {
            min_score: Some(0.0),
            ..Default::default()
        };
        let mut streamed = String::new();
        let answer = engine
            .ask(question, &options, &mut |t| {
                streamed.push_str(t);
                ControlFlow::Continue(())
            })
            .unwrap();
        (answer, streamed)
    }

    /// `auto` acts on verdicts alone: it shows supported sentences as they come, stops after two
    /// drifting ones in a row (a sentence that states nothing is no drift), and gives up on an
    /// answer whose first backed sentence is in another language, quoting the evidence instead.
    #[test]
    fn auto_acts_on_the_verifier_s_verdicts() {
        let ask = |script: &str| {
            let (answer, streamed) = ask_first_words(script, "How often are the archives updated?");
            let verdicts: Vec<Verdict> = answer.sentences.iter().map(|s| s.verdict).collect();
            (answer, verdicts, streamed)
        };
        let (answer, verdicts, streamed) =
            ask("Yes one [1]. No two. Um. Yes three [1]. Again four. Nope five. Yes six [1].");
        assert_eq!(answer.answered_by, AnsweredBy::Generator);
        assert_eq!(answer.answer, "Yes one. [1] Yes three. [1]");
        assert_eq!(streamed, answer.answer);
        assert_eq!(
            verdicts,
            [
                Verdict::Supported,
                Verdict::Unsupported,
                Verdict::StatesNothing,
                Verdict::Supported,
                Verdict::RestatesQuestion,
                Verdict::Unsupported,
            ]
        );
        let (answer, verdicts, streamed) = ask("Foreign one [1]. Yes two [1].");
        assert_eq!(answer.answered_by, AnsweredBy::Extract);
        assert_eq!(verdicts[0], Verdict::WrongLanguage);
        assert!(!answer.sentences[0].kept);
        assert!(answer.sentences[1..].iter().all(|s| s.kept), "{answer:?}");
        assert!(!answer.answer.contains("Yes two"));
        assert_eq!(streamed, answer.answer);
    }

    /// A supported sentence that announces the next ("To remove it, run:") is shown with that
    /// one, or not at all: after an unsupported one, or at the end, it is dangling. What states
    /// nothing between the two (a code fence) neither shows nor drops it.
    #[test]
    fn auto_shows_an_announcing_sentence_only_with_what_it_announces() {
        let (answer, streamed) = ask_first_words(
            "Yes run: [1]\nUm.\nYes apt remove foo [1]. Yes then: [1]\nNo code. Yes last: [1]",
            "How do I remove foo?",
        );
        let judged: Vec<(&str, Verdict, bool)> = answer
            .sentences
            .iter()
            .map(|s| (s.text.as_str(), s.verdict, s.kept))
            .collect();
        assert_eq!(
            judged,
            [
                ("Yes run:", Verdict::Supported, true),
                ("Um.", Verdict::StatesNothing, false),
                ("Yes apt remove foo.", Verdict::Supported, true),
                ("Yes then:", Verdict::Dangling, false),
                ("No code.", Verdict::Unsupported, false),
                ("Yes last:", Verdict::Dangling, false),
            ]
        );
        assert_eq!(answer.answer, "Yes run: [1] Yes apt remove foo. [1]");
        assert_eq!(streamed, answer.answer);
    }

    fn weather() -> crate::generate::Tool {
        crate::generate::Tool {
            name: "get_weather".into(),
            description: "Current weather in a city".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }
    }

    fn ask_quietly(engine: &Engine, question: &str, options: &AskOptions) -> Result<Answer> {
        engine.ask(question, options, &mut |_| ControlFlow::Continue(()))
    }

    /// Function calling: a question the store cannot answer gets the model's call (not "I
    /// don't know"); the result sent back is a source the answer cites, checked as any other;
    /// a call the caller insists on is begun for the model.
    #[test]
    fn the_model_calls_a_tool_and_its_result_is_a_cited_source() {
        let call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        let engine = engine(Some(ScriptedGenerator::new(call)));
        let mut options = AskOptions {
            tools: Some(ToolUse {
                tools: vec![weather()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let question = "What is the weather in Paris?";
        let answer = ask_quietly(&engine, question, &options).unwrap();
        assert_eq!(answer.answered_by, AnsweredBy::Tools);
        assert_eq!(answer.answer, "");
        assert_eq!(answer.tool_calls[0].name, "get_weather");
        assert_eq!(answer.tool_calls[0].arguments["city"], "Paris");

        // The result comes back; the model answers from it (source 1), and the answer cites it.
        let engine = self::engine(Some(ScriptedGenerator::new(
            "Paris is sunny at 21 degrees today [1].",
        )));
        options.tools.as_mut().unwrap().turns = vec![
            ChatMessage::calling("", answer.tool_calls.clone()),
            ChatMessage::new(Role::Tool, "Paris is sunny at 21 degrees today."),
        ];
        let answer = ask_quietly(&engine, question, &options).unwrap();
        assert_eq!(answer.answered_by, AnsweredBy::Generator);
        assert_eq!(answer.answer, "Paris is sunny at 21 degrees today. [1]");
        assert_eq!(answer.citations[0].path, "tool:get_weather");
        assert!(answer.sources[0].from_tool);
        // A sentence the result does not back is dropped, as any other.
        let engine = self::engine(Some(ScriptedGenerator::new(
            "Paris is sunny at 21 degrees today [1]. Snow falls in Lyon tomorrow [1].",
        )));
        let answer = ask_quietly(&engine, question, &options).unwrap();
        assert_eq!(answer.answer, "Paris is sunny at 21 degrees today. [1]");
        // The same call again is no call: the result is quoted instead.
        let engine = self::engine(Some(ScriptedGenerator::new(call)));
        let answer = ask_quietly(&engine, question, &options).unwrap();
        assert!(answer.tool_calls.is_empty());
        assert_eq!(answer.answered_by, AnsweredBy::Extract);
        assert_eq!(answer.citations[0].path, "tool:get_weather");

        // A named function: the call is begun for the model, which writes only the arguments.
        let generator = Arc::new(ScriptedGenerator::new("{\"city\": \"Oslo\"}}</tool_call>"));
        let engine = Engine::new(
            engine.embedder().clone(),
            engine.store().clone(),
            Some(generator.clone()),
        )
        .unwrap();
        let options = AskOptions {
            tools: Some(ToolUse {
                tools: vec![weather()],
                choice: ToolChoice::Function("get_weather".into()),
                turns: Vec::new(),
            }),
            ..Default::default()
        };
        let answer = ask_quietly(&engine, "And in Oslo?", &options).unwrap();
        assert_eq!(answer.tool_calls[0].arguments["city"], "Oslo");
        let (chat, tools, start) = generator.last_chat();
        assert_eq!(tools, vec![weather()]);
        assert!(
            start.ends_with("\"name\": \"get_weather\", \"arguments\": "),
            "{start}"
        );
        assert!(chat[0].content.contains("call that tool"));
    }

    /// Tools are refused where they cannot work: no generator, answers quoted, a tool_choice
    /// naming a tool not offered.
    #[test]
    fn tools_are_refused_where_they_cannot_work() {
        let offer = |choice| AskOptions {
            tools: Some(ToolUse {
                tools: vec![weather()],
                choice,
                turns: Vec::new(),
            }),
            ..Default::default()
        };
        let message = |engine: &Engine, options: &AskOptions| match ask_quietly(
            engine,
            "What is the weather?",
            options,
        ) {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(message(&engine(None), &offer(ToolChoice::Auto)).contains("quoting"));
        let extract = AskOptions {
            answer_mode: AnswerMode::Extract,
            ..offer(ToolChoice::Auto)
        };
        assert!(message(&engine(Some(ScriptedGenerator::new("x"))), &extract).contains("quoting"));
        assert!(
            message(
                &engine(Some(ScriptedGenerator::new("x"))),
                &offer(ToolChoice::Function("get_time".into()))
            )
            .contains("get_time, which is not among")
        );
    }

    /// docent_search: the model, having read what the question found, searches again for
    /// words of its choosing; the answer is written from both searches, fused.
    #[test]
    fn the_model_searches_the_store_again_with_docent_search() {
        let generator = Arc::new(ScriptedGenerator::replies(&[
            "<tool_call>{\"name\": \"docent_search\", \"arguments\": {\"query\": \"keyring expired XK-4471\"}}</tool_call>",
            "DONE",
            "Renew the keyring to fix it [{codes.md}].",
        ]));
        let engine = Engine::new(
            engine(None).embedder().clone(),
            engine(None).store().clone(),
            Some(generator.clone()),
        )
        .unwrap();
        let options = AskOptions {
            searches: search_tool::MAX_SEARCHES,
            min_score: Some(0.0),
            ..Default::default()
        };
        let answer = ask_quietly(&engine, "How do I fix the error?", &options).unwrap();
        assert_eq!(
            answer.queries,
            ["How do I fix the error?", "keyring expired XK-4471"]
        );
        assert_eq!(answer.hits[0].path, "codes.md");
        assert_eq!(generator.asked(), 3, "two decisions, then the answer");
        assert!(answer.answer.starts_with("Renew the keyring"), "{answer:?}");
    }
}
