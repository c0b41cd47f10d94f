//! An evaluation run (`docent eval`): ingest a BEIR-layout corpus through the normal pipeline, run
//! every judged query through the normal retrieval path, and report nDCG@10, MRR@10,
//! Recall@10/100 and latency; with a QA file, also answer each question with `ask` and score the
//! answers; with a follow-up file, how retrieval does on follow-up questions.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::beir;
use crate::metrics::{
    Judgments, containment, faithfulness, mrr_at, ndcg_at, percentile, rank_documents, recall_at,
    token_f1,
};
use anyhow::{Context, Result, bail};
use docent_core::retrieve::followup::refers_back;
use docent_core::{
    Answer, AnswerMode, AnsweredBy, AskOptions, Engine, Hit, MAX_K, Mode, QueryPlanner,
    SearchRequest,
};
use docent_ingest::{IngestOptions, ProgressMode};
use serde::Serialize;

/// The three files of an evaluation set.
pub struct EvalSet {
    /// `corpus.jsonl`: the documents.
    pub corpus: PathBuf,
    /// `queries.jsonl`: the questions.
    pub queries: PathBuf,
    /// `qrels.tsv`: which documents answer which question.
    pub qrels: PathBuf,
}

impl EvalSet {
    /// From a folder in the BEIR layout, or the three files named one by one (which win).
    pub fn resolve(
        dir: Option<&Path>,
        corpus: Option<PathBuf>,
        queries: Option<PathBuf>,
        qrels: Option<PathBuf>,
    ) -> Result<Self> {
        let from_dir = |name: &str| dir.map(|d| d.join(name));
        match (
            corpus.or_else(|| from_dir("corpus.jsonl")),
            queries.or_else(|| from_dir("queries.jsonl")),
            qrels.or_else(|| from_dir("qrels.tsv")),
        ) {
            (Some(corpus), Some(queries), Some(qrels)) => Ok(EvalSet {
                corpus,
                queries,
                qrels,
            }),
            _ => bail!(
                "name an evaluation folder (with corpus.jsonl, queries.jsonl, qrels.tsv) or all of --corpus, --queries and --qrels"
            ),
        }
    }

    /// A store of its own per corpus and embedder under `cache`, reused by later runs.
    pub fn default_store(&self, cache: &Path, embedder: &str) -> PathBuf {
        let canonical = std::fs::canonicalize(&self.corpus).unwrap_or_else(|_| self.corpus.clone());
        let name = canonical
            .parent()
            .and_then(|p| p.file_name())
            .map_or("corpus".into(), |n| n.to_string_lossy().into_owned());
        let mut digest = fnv::FnvHasher::default();
        digest.write(canonical.to_string_lossy().as_bytes());
        cache.join(format!("{name}-{:016x}-{embedder}", digest.finish()))
    }
}

/// What an evaluation run measured.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// nDCG@10 over the documents ranked by their best chunk.
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    /// MRR@10.
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    /// Recall@10.
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    /// Recall@100.
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    /// Queries run.
    pub queries: usize,
    /// Search latency, median.
    pub latency_ms_p50: f64,
    /// Search latency, 95th percentile.
    pub latency_ms_p95: f64,
    /// Answer quality, when a QA file was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qa: Option<QaReport>,
    /// Retrieval for follow-up questions, when a follow-up file was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followups: Option<FollowupReport>,
}

/// Retrieval for follow-up questions: the share whose full question's relevant document is
/// among the first [`FOLLOWUP_HITS`] chunks, searched alone, as planned by each planner, and as
/// the full question.
#[derive(Debug, Serialize)]
pub struct FollowupReport {
    /// Follow-ups run.
    pub pairs: usize,
    /// Searching for the follow-up as asked.
    #[serde(rename = "hit@5_alone")]
    pub alone: f64,
    /// Searching for it as a follow-up of the question before it, as each planner plans it.
    pub planners: Vec<PlannerScore>,
    /// Searching for the full question of the set.
    #[serde(rename = "hit@5_full")]
    pub full: f64,
    /// Follow-ups the rule found referring back (it searches the others as asked).
    pub changed: usize,
}

/// How one query planner did on the follow-ups.
#[derive(Debug, Serialize)]
pub struct PlannerScore {
    /// Which planner (`rule`, `model`).
    pub planner: String,
    /// Share of follow-ups whose relevant document was found.
    #[serde(rename = "hit@5")]
    pub hit_5: f64,
    /// Time spent planning (the time a planner adds to a search), median, in seconds.
    pub plan_seconds_p50: f64,
    /// Time spent planning, 95th percentile, in seconds.
    pub plan_seconds_p95: f64,
}

/// Chunks a follow-up's search is judged on: about what an answer is written from.
pub const FOLLOWUP_HITS: usize = 5;

/// Answer quality over a QA file: means over its questions (an "I don't know" scores 0).
#[derive(Debug, Serialize)]
pub struct QaReport {
    /// How answers were written (`--answer-mode`).
    pub answer_mode: AnswerMode,
    /// Questions asked.
    pub questions: usize,
    /// Questions docent answered rather than declining.
    pub answered: usize,
    /// Answers the generator wrote and answers quoted from the evidence.
    pub answered_by_generator: usize,
    /// Answers quoted from the evidence.
    pub answered_by_extract: usize,
    /// Share of an answer's content words found in the sources it cites (mean over answered
    /// questions; an answer that cites nothing scores 0).
    pub faithfulness: f64,
    /// Token F1 against the best-matching gold answer.
    pub token_f1: f64,
    /// Share of the answer's tokens found in the gold answer.
    pub containment: f64,
    /// Share of answers whose citations include a relevant document.
    pub cited_relevant: f64,
    /// Seconds per answer, median.
    pub seconds_p50: f64,
    /// Seconds per answer, 95th percentile.
    pub seconds_p95: f64,
}

/// Chunks retrieved per ranked document: documents have several chunks, and ranking `k`
/// distinct documents needs more chunks than that.
const CHUNKS_PER_DOCUMENT: usize = 4;

/// Ingests the set's corpus into `engine`'s store (only what changed) and runs every judged
/// query with `mode`, ranking documents by their best of `k` × 4 chunks.
pub fn run(
    engine: &Engine,
    set: &EvalSet,
    k: usize,
    mode: Mode,
    progress: bool,
) -> Result<EvalReport> {
    let (retrieval, _) = retrieval(engine, set, k, mode, progress)?;
    Ok(retrieval)
}

/// [`run`], then `qa`'s questions answered with `ask` and scored against their gold answers;
/// each answer also written to `answers` (a JSON line: the question's id, the question, the
/// gold answers and docent's answer whole), for reading them.
pub fn run_with_qa(
    engine: &Engine,
    set: &EvalSet,
    k: usize,
    qa: &Path,
    options: &AskOptions,
    answers: Option<&Path>,
    progress: bool,
) -> Result<EvalReport> {
    let items = beir::load_qa(qa)?;
    let mut answers = answers
        .map(|path| {
            std::fs::File::create(path)
                .map(std::io::BufWriter::new)
                .with_context(|| format!("creating {}", path.display()))
        })
        .transpose()?;
    let (mut report, qrels) = retrieval(engine, set, k, options.mode, progress)?;
    let (mut tally, mut seconds) = (QaTally::default(), Vec::new());
    for (n, item) in items.iter().enumerate() {
        let relevant = qrels.get(&item.id).ok_or_else(|| {
            anyhow::anyhow!(
                "question {} of {} has no judgments in {}",
                item.id,
                qa.display(),
                set.qrels.display()
            )
        })?;
        let started = Instant::now();
        let answer = engine.ask(&item.question, options, &mut |_| {
            std::ops::ControlFlow::Continue(())
        })?;
        seconds.push(started.elapsed().as_secs_f64());
        tally.add(&answer, &item.answers, relevant);
        if let Some(out) = answers.as_mut() {
            let line = serde_json::json!({
                "id": item.id,
                "question": item.question,
                "gold": item.answers,
                "seconds": seconds[n],
                "answer": answer,
            });
            writeln!(out, "{line}")?;
        }
        if progress {
            eprintln!(
                "qa: {}/{} answered in {:.1} s",
                n + 1,
                items.len(),
                seconds[n]
            );
        }
    }
    if let Some(mut out) = answers {
        out.flush()?;
    }
    let n = items.len().max(1) as f64;
    report.qa = Some(QaReport {
        answer_mode: options.answer_mode,
        questions: items.len(),
        answered: tally.answered,
        answered_by_generator: tally.by_generator,
        answered_by_extract: tally.by_extract,
        faithfulness: tally.faithful / tally.answered.max(1) as f64,
        token_f1: tally.f1 / n,
        containment: tally.contained / n,
        cited_relevant: tally.cited / n,
        seconds_p50: percentile(&seconds, 50.0).unwrap_or(0.0),
        seconds_p95: percentile(&seconds, 95.0).unwrap_or(0.0),
    });
    Ok(report)
}

/// The answer metrics summed over the questions answered so far.
#[derive(Default)]
struct QaTally {
    answered: usize,
    by_generator: usize,
    by_extract: usize,
    f1: f64,
    contained: f64,
    faithful: f64,
    cited: f64,
}

impl QaTally {
    /// Adds `answer`, scored against the `gold` answers and the `relevant` documents.
    fn add(&mut self, answer: &Answer, gold: &[String], relevant: &Judgments) {
        let best = |score: fn(&str, &str) -> f64| {
            gold.iter()
                .map(|gold| score(&answer.answer, gold))
                .fold(0.0, f64::max)
        };
        if answer.grounded {
            self.answered += 1;
            self.f1 += best(token_f1);
            self.contained += best(containment);
            let cited: Vec<&str> = answer
                .citations
                .iter()
                .filter_map(|c| answer.sources.get(c.n - 1))
                .map(|s| s.text.as_str())
                .collect();
            self.faithful += faithfulness(&answer.answer, &cited);
        }
        match answer.answered_by {
            AnsweredBy::Generator => self.by_generator += 1,
            AnsweredBy::Extract => self.by_extract += 1,
            // eval offers no tools: neither is an answer written or quoted.
            AnsweredBy::None | AnsweredBy::Tools => {}
        }
        if answer
            .citations
            .iter()
            .any(|c| relevant.get(&c.path).is_some_and(|&g| g > 0.0))
        {
            self.cited += 1.0;
        }
    }
}

type Qrels = std::collections::HashMap<String, Judgments>;

/// Fills `engine`'s store with the set's corpus (incrementally: an unchanged corpus is not
/// embedded again); refuses a store that holds anything else.
fn ingest_corpus(engine: &Engine, set: &EvalSet, progress: bool) -> Result<()> {
    let (sources, scope) = beir::load_corpus(&set.corpus)?;
    let docent_ingest::Scope::Folder { root } = &scope else {
        unreachable!("a corpus fills a whole scope")
    };
    let options = IngestOptions {
        progress: if progress {
            ProgressMode::Auto
        } else {
            ProgressMode::Quiet
        },
        ..Default::default()
    };
    let report = docent_ingest::ingest_sources(
        sources,
        std::slice::from_ref(&scope),
        Vec::new(),
        engine.embedder().as_ref(),
        engine.store().as_ref(),
        &options,
    )?;
    if progress {
        eprintln!(
            "eval: corpus {} documents ({} added, {} updated, {} unchanged) in {:.1} s",
            report.files_seen, report.added, report.updated, report.unchanged, report.seconds
        );
    }
    if let Some(other) = engine
        .store()
        .documents()?
        .into_iter()
        .find(|d| &d.root != root)
    {
        bail!(
            "the store also holds documents that are not part of this corpus (e.g. {}/{}), which would skew the scores; \
             leave out --store (eval then uses a store of its own) or name an empty one",
            other.root,
            other.path
        );
    }

    Ok(())
}

fn retrieval(
    engine: &Engine,
    set: &EvalSet,
    k: usize,
    mode: Mode,
    progress: bool,
) -> Result<(EvalReport, Qrels)> {
    ingest_corpus(engine, set, progress)?;
    let queries = beir::load_queries(&set.queries)?;
    let qrels = beir::load_qrels(&set.qrels)?;
    let chunk_k = (k * CHUNKS_PER_DOCUMENT).min(MAX_K);
    let (mut ndcg, mut mrr, mut r10, mut r100, mut latencies) = (0.0, 0.0, 0.0, 0.0, Vec::new());
    for query in queries.iter().filter(|q| qrels.contains_key(&q.id)) {
        let judged = &qrels[&query.id];
        let started = Instant::now();
        let hits = engine.search(&SearchRequest {
            mode,
            ..SearchRequest::new(&query.text, chunk_k)
        })?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        let mut ranked = rank_documents(hits.iter().map(|h| h.path.as_str()));
        ranked.truncate(k);
        ndcg += ndcg_at(&ranked, judged, 10);
        mrr += mrr_at(&ranked, judged, 10);
        r10 += recall_at(&ranked, judged, 10);
        r100 += recall_at(&ranked, judged, 100);
    }
    let n = latencies.len();
    if n == 0 {
        bail!(
            "no query in {} has judgments in {}",
            set.queries.display(),
            set.qrels.display()
        );
    }
    let mean = |sum: f64| sum / n as f64;
    let report = EvalReport {
        ndcg_10: mean(ndcg),
        mrr_10: mean(mrr),
        recall_10: mean(r10),
        recall_100: mean(r100),
        queries: n,
        latency_ms_p50: percentile(&latencies, 50.0).unwrap_or(0.0),
        latency_ms_p95: percentile(&latencies, 95.0).unwrap_or(0.0),
        qa: None,
        followups: None,
    };
    Ok((report, qrels))
}

/// Runs the follow-ups of `path` against `engine`'s store (filled by [`run`] first): each is
/// searched alone, as a follow-up of the question before it as each of `planners` plans it,
/// and as the set's full question.
pub fn followups(
    engine: &Engine,
    set: &EvalSet,
    path: &Path,
    mode: Mode,
    planners: &[(&str, &dyn QueryPlanner)],
    progress: bool,
) -> Result<FollowupReport> {
    let items = beir::load_followups(path)?;
    let queries = beir::load_queries(&set.queries)?;
    let qrels = beir::load_qrels(&set.qrels)?;
    let hit = |hits: Vec<Hit>, id: &str| -> Result<bool> {
        let judged = qrels.get(id).ok_or_else(|| {
            anyhow::anyhow!(
                "follow-up {id} of {} has no judgments in {}",
                path.display(),
                set.qrels.display()
            )
        })?;
        Ok(hits
            .iter()
            .any(|h| judged.get(&h.path).is_some_and(|&g| g > 0.0)))
    };
    let request = |query: &str| SearchRequest {
        mode,
        ..SearchRequest::new(query, FOLLOWUP_HITS)
    };
    let (mut alone, mut full, mut changed) = (0, 0, 0);
    let mut found_by = vec![0usize; planners.len()];
    let mut seconds = vec![Vec::new(); planners.len()];
    for item in &items {
        let question = queries.iter().find(|q| q.id == item.id).ok_or_else(|| {
            anyhow::anyhow!(
                "follow-up {} names no query of {}",
                item.id,
                set.queries.display()
            )
        })?;
        changed += usize::from(refers_back(&item.followup));
        let found_alone = hit(engine.search(&request(&item.followup))?, &item.id)?;
        let found_full = hit(engine.search(&request(&question.text))?, &item.id)?;
        let mut line = format!("follow-up {}: alone {}", item.id, mark(found_alone));
        for (i, (name, planner)) in planners.iter().enumerate() {
            let started = Instant::now();
            let plan = planner.plan(&item.followup, std::slice::from_ref(&item.first), mode)?;
            seconds[i].push(started.elapsed().as_secs_f64());
            let found = hit(
                engine.search_plan(&plan, &request(&item.followup))?,
                &item.id,
            )?;
            found_by[i] += usize::from(found);
            line.push_str(&format!(", {name} {} {:?}", mark(found), plan.texts()));
        }
        if progress {
            eprintln!("{line}, full question {}", mark(found_full));
        }
        alone += usize::from(found_alone);
        full += usize::from(found_full);
    }
    let share = |n: usize| n as f64 / items.len().max(1) as f64;
    Ok(FollowupReport {
        pairs: items.len(),
        alone: share(alone),
        planners: planners
            .iter()
            .zip(found_by.iter().zip(&seconds))
            .map(|((name, _), (&found, seconds))| PlannerScore {
                planner: name.to_string(),
                hit_5: share(found),
                plan_seconds_p50: percentile(seconds, 50.0).unwrap_or(0.0),
                plan_seconds_p95: percentile(seconds, 95.0).unwrap_or(0.0),
            })
            .collect(),
        full: share(full),
        changed,
    })
}

fn mark(found: bool) -> &'static str {
    if found { "found" } else { "missed" }
}

/// Prints a report for a terminal.
pub fn print(report: &EvalReport) {
    println!("queries     {}", report.queries);
    println!("nDCG@10     {:.3}", report.ndcg_10);
    println!("MRR@10      {:.3}", report.mrr_10);
    println!("Recall@10   {:.3}", report.recall_10);
    println!("Recall@100  {:.3}", report.recall_100);
    println!(
        "latency     p50 {:.1} ms, p95 {:.1} ms",
        report.latency_ms_p50, report.latency_ms_p95
    );
    if let Some(qa) = &report.qa {
        println!(
            "QA          {} questions, {} answered ({} by the generator, {} quoted; --answer-mode {})",
            qa.questions,
            qa.answered,
            qa.answered_by_generator,
            qa.answered_by_extract,
            qa.answer_mode
        );
        println!("faithfulness {:.3}", qa.faithfulness);
        println!("token F1    {:.3}", qa.token_f1);
        println!("containment {:.3}", qa.containment);
        println!("cited relevant document {:.3}", qa.cited_relevant);
        println!(
            "answer time p50 {:.1} s, p95 {:.1} s",
            qa.seconds_p50, qa.seconds_p95
        );
    }
    if let Some(f) = &report.followups {
        println!(
            "follow-ups  {} ({} referring back by the rule); hit@5 alone {:.3}, full question {:.3}",
            f.pairs, f.changed, f.alone, f.full
        );
        for p in &f.planners {
            println!(
                "  planned by the {:<6} hit@5 {:.3}, planning p50 {:.2} s, p95 {:.2} s",
                p.planner, p.hit_5, p.plan_seconds_p50, p.plan_seconds_p95
            );
        }
    }
}
