//! `docent eval`: ingest a BEIR-layout corpus through the normal pipeline, run every judged query
//! through the normal retrieval path, and report nDCG@10, MRR@10, Recall@10/100 and latency.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use docent_engine::metrics::{mrr_at, ndcg_at, percentile, rank_documents, recall_at};
use docent_engine::{Engine, MAX_K, Mode};
use docent_ingest::{IngestOptions, ProgressMode, beir};
use serde::Serialize;

/// The three files of an evaluation set.
pub struct EvalSet {
    pub corpus: PathBuf,
    pub queries: PathBuf,
    pub qrels: PathBuf,
}

impl EvalSet {
    /// From a folder in the BEIR layout, or the three files named one by one (which win).
    pub fn resolve(dir: Option<&Path>, corpus: Option<PathBuf>, queries: Option<PathBuf>, qrels: Option<PathBuf>) -> Result<Self> {
        let from_dir = |name: &str| dir.map(|d| d.join(name));
        match (corpus.or_else(|| from_dir("corpus.jsonl")), queries.or_else(|| from_dir("queries.jsonl")), qrels.or_else(|| from_dir("qrels.tsv"))) {
            (Some(corpus), Some(queries), Some(qrels)) => Ok(EvalSet { corpus, queries, qrels }),
            _ => bail!("name an evaluation folder (with corpus.jsonl, queries.jsonl, qrels.tsv) or all of --corpus, --queries and --qrels"),
        }
    }

    /// A store of its own per corpus under the cache folder, reused by later runs.
    pub fn default_store(&self) -> PathBuf {
        let canonical = std::fs::canonicalize(&self.corpus).unwrap_or_else(|_| self.corpus.clone());
        let name = canonical.parent().and_then(|p| p.file_name()).map_or("corpus".into(), |n| n.to_string_lossy().into_owned());
        let digest: u64 = canonical.to_string_lossy().bytes().fold(0xcbf29ce484222325, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        cache.join("docent/eval").join(format!("{name}-{digest:016x}"))
    }
}

#[derive(Debug, Serialize)]
pub struct EvalReport {
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    pub queries: usize,
    pub latency_ms_p50: f64,
    pub latency_ms_p95: f64,
}

/// Chunks retrieved per ranked document: documents have several chunks, and ranking `k`
/// distinct documents needs more chunks than that.
const CHUNKS_PER_DOCUMENT: usize = 4;

pub fn run(engine: &Engine, set: &EvalSet, k: usize, mode: Mode, progress: bool) -> Result<EvalReport> {
    let (sources, scope) = beir::load_corpus(&set.corpus)?;
    let docent_ingest::Scope::Folder { root } = &scope else { unreachable!("a corpus fills a whole scope") };
    let options = IngestOptions {
        progress: if progress { ProgressMode::Auto } else { ProgressMode::Quiet },
        ..Default::default()
    };
    let report = docent_ingest::ingest_sources(sources, &[scope.clone()], Vec::new(), engine.embedder().as_ref(), engine.store().as_ref(), &options)?;
    if progress {
        eprintln!(
            "eval: corpus {} documents ({} added, {} updated, {} unchanged) in {:.1} s",
            report.files_seen, report.added, report.updated, report.unchanged, report.seconds
        );
    }
    if let Some(other) = engine.store().documents()?.into_iter().find(|d| &d.root != root) {
        bail!(
            "the store also holds documents that are not part of this corpus (e.g. {}/{}), which would skew the scores; \
             leave out --store (eval then uses a store of its own) or name an empty one",
            other.root,
            other.path
        );
    }

    let queries = beir::load_queries(&set.queries)?;
    let qrels = beir::load_qrels(&set.qrels)?;
    let chunk_k = (k * CHUNKS_PER_DOCUMENT).min(MAX_K);
    let (mut ndcg, mut mrr, mut r10, mut r100, mut latencies) = (0.0, 0.0, 0.0, 0.0, Vec::new());
    for query in queries.iter().filter(|q| qrels.contains_key(&q.id)) {
        let judged = &qrels[&query.id];
        let started = Instant::now();
        let hits = engine.search(&query.text, chunk_k, mode)?;
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
        bail!("no query in {} has judgments in {}", set.queries.display(), set.qrels.display());
    }
    let mean = |sum: f64| sum / n as f64;
    Ok(EvalReport {
        ndcg_10: mean(ndcg),
        mrr_10: mean(mrr),
        recall_10: mean(r10),
        recall_100: mean(r100),
        queries: n,
        latency_ms_p50: percentile(&latencies, 50.0).unwrap_or(0.0),
        latency_ms_p95: percentile(&latencies, 95.0).unwrap_or(0.0),
    })
}

pub fn print(report: &EvalReport) {
    println!("queries     {}", report.queries);
    println!("nDCG@10     {:.3}", report.ndcg_10);
    println!("MRR@10      {:.3}", report.mrr_10);
    println!("Recall@10   {:.3}", report.recall_10);
    println!("Recall@100  {:.3}", report.recall_100);
    println!("latency     p50 {:.1} ms, p95 {:.1} ms", report.latency_ms_p50, report.latency_ms_p95);
}
