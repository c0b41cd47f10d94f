//! How results look on a terminal, and as JSON.

use docent_core::store::Topology;
use docent_core::{Answer, AnsweredBy, Hit, Located, Plan, StoredDocument};
use docent_ingest::IngestReport;

pub fn print_hits(hits: &[Hit]) {
    if hits.is_empty() {
        println!(
            "No results: the store is empty. Ingest documents first with `docent ingest PATH`."
        );
    }
    for (i, hit) in hits.iter().enumerate() {
        println!("{}. {:.3}  {}", i + 1, hit.score, hit.location());
        if !hit.headings.is_empty() {
            println!("   § {}", hit.headings.join(" › "));
        }
        for line in hit.text.lines().filter(|l| !l.trim().is_empty()).take(4) {
            println!("   {}", line.trim());
        }
        println!();
    }
}

/// The documents of a store, one a line, then their count.
pub fn print_documents(documents: &[StoredDocument], next: Option<&str>) {
    for doc in documents {
        let state = if doc.complete {
            ""
        } else {
            "  (incomplete: re-run ingest)"
        };
        println!(
            "{}  {:>4} chunks  {}/{}{state}",
            doc.doc_id, doc.points, doc.root, doc.path
        );
    }
    match next {
        Some(next) => println!("{} documents; more from --from {next}", documents.len()),
        None => println!("{} documents", documents.len()),
    }
}

/// A cluster's shards: each with its replicas, the ones out of reach marked.
pub fn print_topology(topology: &Topology) {
    println!(
        "{} shards, replication factor {}, write consistency {}",
        topology.shards.len(),
        topology.replication_factor,
        topology.write_consistency
    );
    for shard in &topology.shards {
        let replicas: Vec<String> = shard
            .replicas
            .iter()
            .map(|r| {
                let at = r
                    .url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default();
                let live = if r.live { "" } else { ", NOT LIVE" };
                format!("peer {}{at}: {}{live}", r.peer, r.state)
            })
            .collect();
        let warning = if shard.is_lost() {
            "  — out of reach: no live replica"
        } else {
            ""
        };
        println!("  shard {}: {}{warning}", shard.id, replicas.join("; "));
    }
}

/// `search --json`: every query searched (the question first; RAG-Fusion's phrasings after
/// it) and the hits.
pub fn search_json(plan: &Plan, hits: &[Hit]) -> serde_json::Value {
    serde_json::json!({ "queries": plan.texts(), "hits": hits })
}

pub fn print_sources(answer: &Answer) {
    println!("\n\nSources:");
    for source in &answer.sources {
        let cited = if answer.citations.iter().any(|c| c.n == source.n) {
            "cited"
        } else {
            "     "
        };
        println!("  [{}] {cited}  {}", source.n, source.location());
    }
    let t = &answer.timings;
    let by = match answer.answered_by {
        AnsweredBy::Generator => "written by the generator",
        AnsweredBy::Extract => "quoted from the sources",
        AnsweredBy::None => "nothing relevant found",
        AnsweredBy::Tools => "the model called tools",
    };
    let generation = if t.generation.prompt_tokens > 0 {
        format!(
            " · prompt {} tokens in {:.0} ms · answer {} tokens in {:.0} ms · check {:.0} ms",
            t.generation.prompt_tokens,
            t.generation.prompt_ms,
            t.generation.generated_tokens,
            t.generation.generation_ms,
            t.check_ms
        )
    } else {
        String::new()
    };
    eprintln!(
        "\n{by} · retrieval {:.0} ms · evidence {:.0} ms{generation}",
        t.retrieval_ms, t.evidence_ms
    );
}

pub fn print_report(report: &IngestReport) {
    println!(
        "ingested {} files in {:.1} s: {} added, {} updated, {} removed, {} unchanged ({} not read), {} unsupported, {} skipped, {} failed; \
         {} chunks written ({:.1} chunks/s)",
        report.files_seen,
        report.seconds,
        report.added,
        report.updated,
        report.removed,
        report.unchanged,
        report.not_read,
        report.unsupported,
        report.skipped,
        report.failed.len(),
        report.chunks_written,
        report.chunks_per_second()
    );
    for failure in &report.failed {
        println!("  failed: {}: {}", failure.path, failure.error);
    }
}

/// What `docent bench generate` reports: the rate of each phase and the peak memory.
#[derive(serde::Serialize)]
pub struct GenerationFigures {
    prompt_tokens: usize,
    prompt_tokens_per_s: f64,
    decoded_tokens: usize,
    decode_tokens_per_s: f64,
    /// The process's peak resident memory (Linux), model loading included.
    peak_rss_mb: Option<f64>,
    /// The prompt's token ids and the greedy ones that followed, to compare with another
    /// engine's.
    prompt_ids: Vec<u32>,
    tokens: Vec<u32>,
    /// With --follow: how far below the model's best logit each followed token was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    margins: Vec<f32>,
}

impl GenerationFigures {
    pub fn new(continuation: &docent_generate::Continuation) -> Self {
        let stats = &continuation.stats;
        let rate = |tokens: usize, ms: f64| {
            if ms > 0.0 {
                tokens as f64 / ms * 1e3
            } else {
                0.0
            }
        };
        GenerationFigures {
            prompt_tokens: stats.prompt_tokens,
            prompt_tokens_per_s: rate(stats.prompt_tokens, stats.prompt_ms),
            decoded_tokens: stats.generated_tokens,
            decode_tokens_per_s: rate(stats.generated_tokens, stats.generation_ms),
            peak_rss_mb: peak_rss_mb(),
            prompt_ids: continuation.prompt.clone(),
            tokens: continuation.tokens.clone(),
            margins: continuation.margins.clone(),
        }
    }

    pub fn print(&self) {
        println!(
            "prompt: {} tokens at {:.1} tokens/s",
            self.prompt_tokens, self.prompt_tokens_per_s
        );
        println!(
            "decode: {} tokens at {:.1} tokens/s",
            self.decoded_tokens, self.decode_tokens_per_s
        );
        if let Some(mb) = self.peak_rss_mb {
            println!("peak RSS: {mb:.0} MB");
        }
    }
}

/// Peak resident set size from /proc (VmHWM), where there is one.
pub fn peak_rss_mb() -> Option<f64> {
    process_mb("VmHWM:")
}

/// A memory figure of this process from /proc/self/status (`field` as written there, e.g.
/// `RssAnon:`), in MB; `None` where there is no such file.
pub fn process_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
