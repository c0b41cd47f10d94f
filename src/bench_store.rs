//! `docent bench store`: fills a fresh store (embedded, or a Qdrant server's collection) with
//! synthetic points in today's layout
//! (384-d dense vectors in clusters, BM25 vectors for chunks and documents, payloads of a real
//! chunk's size) and reports insert time, the optimizer's index build, memory, disk, and search
//! latency per channel — store only, and end to end with the query embedded by the real model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use docent_core::Language;
use docent_core::embed::normalized;
use docent_core::store::{Filter, Point, StoreMeta, StoreQuery, VectorStore};
use docent_core::{ChunkPayload, DocumentKind};
use docent_core::{Embedder, Engine, SearchRequest};
use docent_eval::metrics::percentile;
use docent_qdrant::{EdgeStore, Layout, OnDisk, QdrantServerStore, Quantization, ServerOptions};
use serde::Serialize;

/// Chunks per synthetic document (the first carries the document's BM25 vector).
const CHUNKS_PER_DOCUMENT: usize = 4;
/// Terms in a chunk's BM25 vector, and in a document's (about what 200–400-token chunks hold).
const CHUNK_TERMS: usize = 120;
const DOCUMENT_TERMS: usize = 300;
/// Distinct terms; term ids are drawn log-uniformly, so a few are common and most are rare.
const VOCABULARY: f64 = 200_000.0;
/// Clusters the dense vectors gather in (real embeddings are not uniform on the sphere).
const CLUSTERS: usize = 1024;
/// Points written per upsert.
const BATCH: usize = 1000;

/// What one run measured.
#[derive(Serialize)]
pub struct StoreFigures {
    points: usize,
    /// How the store was written (absent when an earlier run's store was reused).
    fill: Option<Fill>,
    /// Vectors in an HNSW index after the optimizer ran (the rest are searched exhaustively).
    indexed_vectors: Option<usize>,
    /// Where the vectors lived, and whether they were quantized.
    layout: String,
    /// Peak RSS of the searches, the store reopened as a server would open it (the embedder's
    /// ~100 MB included).
    search_peak_rss_mb: Option<f64>,
    /// Of the RSS after the searches: memory the process owns (heap, pinned indexes)...
    search_anonymous_mb: Option<f64>,
    /// ...and pages of the store's memory-mapped files (the page cache; the kernel evicts them
    /// under pressure and reads them back on use).
    search_file_backed_mb: Option<f64>,
    /// The embedded store's folder on disk (a server's is not counted).
    disk_mb: Option<f64>,
    queries: usize,
    #[serde(flatten)]
    latencies: Latencies,
}

/// Search latencies, (p50, p95) in milliseconds.
#[derive(Serialize)]
pub struct Latencies {
    /// Store only.
    dense_ms: (f64, f64),
    lexical_ms: (f64, f64),
    /// Each channel of hybrid search alone, at its depth (400 candidates, no text read).
    dense_candidates_ms: (f64, f64),
    lexical_candidates_ms: (f64, f64),
    document_candidates_ms: (f64, f64),
    hybrid_ms: (f64, f64),
    /// Hybrid end to end: the question embedded by the real model, then searched.
    hybrid_end_to_end_ms: (f64, f64),
}

/// Writing the points and building the indexes.
#[derive(Serialize)]
pub struct Fill {
    insert_seconds: f64,
    insert_points_per_second: f64,
    optimize_seconds: f64,
    /// Peak RSS while writing and optimizing.
    peak_rss_mb: Option<f64>,
}

/// A small deterministic generator (splitmix64): the same points for the same count.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn term(&mut self) -> u32 {
        VOCABULARY.powf(self.unit()) as u32
    }
    fn terms(&mut self, n: usize) -> Vec<(u32, f32)> {
        let mut terms: Vec<(u32, f32)> = (0..n)
            .map(|_| (self.term(), 1.0 + 1.2 * self.unit() as f32))
            .collect();
        terms.sort_by_key(|t| t.0);
        terms.dedup_by_key(|t| t.0);
        terms
    }
}

/// `dimension`-d cluster centres, and a point near centre `c`.
struct Space {
    centres: Vec<Vec<f32>>,
}

impl Space {
    fn new(random: &mut Random, dimension: usize) -> Self {
        let centres = (0..CLUSTERS)
            .map(|_| normalized((0..dimension).map(|_| random.unit() as f32 - 0.5).collect()))
            .collect();
        Space { centres }
    }
    fn near(&self, random: &mut Random, c: usize) -> Vec<f32> {
        normalized(
            self.centres[c % CLUSTERS]
                .iter()
                .map(|x| x + 0.08 * (random.unit() as f32 - 0.5))
                .collect(),
        )
    }
}

fn point(random: &mut Random, space: &Space, index: usize, now: u64) -> Point {
    let doc = index / CHUNKS_PER_DOCUMENT;
    let chunk = (index % CHUNKS_PER_DOCUMENT) as u32;
    // About the 1.2 KB of text a 200–400-token chunk holds.
    let text: String = (0..170).map(|_| format!("w{} ", random.term())).collect();
    Point {
        vector: {
            let cluster = (random.next() % CLUSTERS as u64) as usize;
            space.near(random, cluster)
        },
        sparse: random.terms(CHUNK_TERMS),
        document_terms: (chunk == 0).then(|| random.terms(DOCUMENT_TERMS)),
        payload: ChunkPayload {
            root: "/bench".into(),
            path: format!("dir{}/doc{doc}.md", doc % 100),
            doc_id: format!("{doc:016x}"),
            content_hash: "bench".into(),
            chunk_index: chunk,
            chunk_count: CHUNKS_PER_DOCUMENT as u32,
            start_line: chunk * 20 + 1,
            end_line: chunk * 20 + 20,
            headings: vec![format!("Document {doc}")],
            text,
            ingested_at: now,
            kind: Some(DocumentKind::Md),
            modified: now,
            pages: None,
            stamp: Some(format!("{doc:032x}")),
        },
    }
}

/// Starts the kernel's peak-RSS count (VmHWM) afresh, so that the search phase is measured on
/// its own (Linux: `5` written to clear_refs; elsewhere the peak stays the whole run's).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn disk_mb(dir: &Path) -> f64 {
    fn bytes(path: &Path) -> u64 {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
                .map(|entries| entries.flatten().map(|e| bytes(&e.path())).sum())
                .unwrap_or(0),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        }
    }
    bytes(dir) as f64 / 1e6
}

fn p50_p95(samples: &[f64]) -> (f64, f64) {
    (
        percentile(samples, 50.0).unwrap_or(0.0),
        percentile(samples, 95.0).unwrap_or(0.0),
    )
}

/// Questions for the end-to-end figure (what they find does not matter, only the time).
const QUESTIONS: [&str; 8] = [
    "How do I install a package from a local file?",
    "What does the unstable distribution contain?",
    "How can I keep a log of the packages I added?",
    "Which program manages services at boot?",
    "如何配置网络接口？",
    "What is the format of a binary package?",
    "Why is the kernel not upgraded automatically?",
    "Debian 的最新版本是哪个？",
];

/// The store a run fills: the embedded one in a folder, or a Qdrant server's collection.
pub enum Target {
    /// An embedded store in this folder, laid out so.
    Edge {
        /// Its folder (must be empty, unless reused).
        dir: PathBuf,
        /// Where its vectors live.
        layout: Layout,
    },
    /// A collection of a Qdrant server or cluster (must be empty, unless reused).
    Server(ServerOptions),
}

impl Target {
    /// Opens the store, for a run of `points` points; `fresh`: it must hold nothing yet. With
    /// it, how many vectors an embedded store has in its indexes (a server does not say).
    fn open(
        &self,
        meta: &StoreMeta,
        points: usize,
        fresh: bool,
    ) -> Result<(Arc<dyn VectorStore>, Option<usize>)> {
        match self {
            Target::Edge { dir, layout } => {
                if fresh && dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
                    bail!(
                        "{} is not empty: the bench fills a fresh store (name another --dir, remove it, or --reuse it)",
                        dir.display()
                    );
                }
                if !fresh && EdgeStore::recorded_meta(dir)?.is_none() {
                    bail!(
                        "{} holds no store to reuse: fill one first with --keep",
                        dir.display()
                    );
                }
                let store = EdgeStore::open(dir, meta, placed(*layout, points))?;
                let indexed = store.indexed_vectors()?;
                Ok((Arc::new(store), Some(indexed)))
            }
            Target::Server(options) => {
                let store = QdrantServerStore::connect(options, meta)?;
                if fresh && store.count()? > 0 {
                    bail!(
                        "Qdrant collection {} holds points: the bench fills a fresh one (name another --collection, or --reuse it)",
                        options.collection
                    );
                }
                Ok((Arc::new(store), None))
            }
        }
    }

    /// What the figures say about where the points were.
    fn describe(&self, points: usize) -> String {
        match self {
            Target::Edge { layout, .. } => {
                let layout = placed(*layout, points);
                format!(
                    "embedded, vectors {}, quantization {}",
                    if layout.vectors_on_disk(points) {
                        "on disk"
                    } else {
                        "in RAM"
                    },
                    layout.quantization
                )
            }
            Target::Server(options) => {
                format!(
                    "Qdrant server, collection {} (the server's own memory and disk not counted)",
                    options.collection
                )
            }
        }
    }
}

/// `layout` placed for a store of `points` points from the start (a real store under `auto`
/// moves when reopened past the threshold).
fn placed(layout: Layout, points: usize) -> Layout {
    Layout {
        on_disk: if layout.vectors_on_disk(points) {
            OnDisk::Always
        } else {
            OnDisk::Never
        },
        quantization: if layout.quantized(points) {
            Quantization::Int8
        } else {
            Quantization::None
        },
    }
}

/// Writes `points` synthetic points into `store` and optimizes it.
fn write(
    store: &dyn VectorStore,
    points: usize,
    random: &mut Random,
    space: &Space,
    progress: bool,
) -> Result<Fill> {
    let now = 1_790_000_000;
    let started = Instant::now();
    let mut written = 0;
    while written < points {
        let batch: Vec<Point> = (written..(written + BATCH).min(points))
            .map(|i| point(random, space, i, now))
            .collect();
        written += batch.len();
        store.upsert(batch)?;
        if progress && written % (BATCH * 50) == 0 {
            eprintln!("bench store: {written}/{points} points written");
        }
    }
    store.flush()?;
    let insert_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    store.optimize()?;
    let optimize_seconds = started.elapsed().as_secs_f64();
    if progress {
        eprintln!(
            "bench store: written in {insert_seconds:.1} s, optimized in {optimize_seconds:.1} s"
        );
    }
    Ok(Fill {
        insert_seconds,
        insert_points_per_second: points as f64 / insert_seconds,
        optimize_seconds,
        peak_rss_mb: crate::output::peak_rss_mb(),
    })
}

/// Fills a fresh store of `target` with `points` synthetic points (or, with `reuse`, opens
/// the one an earlier run filled) and measures it with `queries` searches per channel.
pub fn run(
    target: &Target,
    points: usize,
    queries: usize,
    embedder: Arc<dyn Embedder>,
    reuse: bool,
    progress: bool,
) -> Result<StoreFigures> {
    let meta = StoreMeta::of(embedder.as_ref());
    let mut random = Random(points as u64);
    let space = Space::new(&mut random, embedder.dimension());
    let fill = if reuse {
        None
    } else {
        let (store, _) = target.open(&meta, points, true)?;
        Some(write(
            store.as_ref(),
            points,
            &mut random,
            &space,
            progress,
        )?)
    };
    // Searched as a server would: the store opened afresh, memory counted from there (in a
    // run that also filled it, the allocator may still hold what the optimizer freed: --reuse
    // in a new process measures a server's memory alone).
    reset_peak_rss();
    let (store, indexed_vectors) = target.open(&meta, points, false)?;
    if reuse && store.count()? != points {
        bail!(
            "the store holds {} points, not {points}: pass the --points it was filled with",
            store.count()?
        );
    }

    let layout = target.describe(points);
    let engine = Engine::new(embedder.clone(), store.clone(), None)?;
    let latencies = time_searches(&engine, &space, queries)?;
    Ok(StoreFigures {
        points,
        fill,
        indexed_vectors,
        layout,
        search_peak_rss_mb: crate::output::peak_rss_mb(),
        search_anonymous_mb: crate::output::process_mb("RssAnon:"),
        search_file_backed_mb: crate::output::process_mb("RssFile:"),
        disk_mb: match target {
            Target::Edge { dir, .. } => Some(disk_mb(dir)),
            Target::Server(_) => None,
        },
        queries,
        latencies,
    })
}

/// Times `queries` searches of every kind, each set run once untimed first.
fn time_searches(engine: &Engine, space: &Space, queries: usize) -> Result<Latencies> {
    let store = engine.store();
    let everything = Filter::default();
    // Warm up first (the model, the page cache): the figures are for a running service.
    for question in QUESTIONS {
        engine.search(&SearchRequest::new(question, 5))?;
    }
    let time = |search: &mut dyn FnMut(usize) -> Result<()>| -> Result<(f64, f64)> {
        // Each set of queries once untimed: a store on disk is read into the page cache by
        // its first searches, and whichever section ran first would pay for all the others.
        for q in 0..queries {
            search(q)?;
        }
        let mut samples = Vec::with_capacity(queries);
        for q in 0..queries {
            let started = Instant::now();
            search(q)?;
            samples.push(started.elapsed().as_secs_f64() * 1e3);
        }
        Ok(p50_p95(&samples))
    };
    let mut random = Random(7);
    let vectors: Vec<Vec<f32>> = (0..queries)
        .map(|q| space.near(&mut random, q * 7))
        .collect();
    let terms: Vec<Vec<(u32, f32)>> = (0..queries).map(|_| random.terms(5)).collect();
    let dense_ms = time(&mut |q| {
        store.search(&StoreQuery::Dense(vectors[q].clone()), &everything, 10)?;
        Ok(())
    })?;
    let lexical_ms = time(&mut |q| {
        store.search(&StoreQuery::Lexical(terms[q].clone()), &everything, 10)?;
        Ok(())
    })?;
    let depth = docent_core::retrieve::FUSION_CANDIDATES;
    let candidates = |query: &dyn Fn(usize) -> StoreQuery| {
        time(&mut |q| {
            store.candidates(&query(q), &everything, depth)?;
            Ok(())
        })
    };
    let dense_candidates_ms = candidates(&|q| StoreQuery::Dense(vectors[q].clone()))?;
    let lexical_candidates_ms = candidates(&|q| StoreQuery::Lexical(terms[q].clone()))?;
    let document_candidates_ms = candidates(&|q| StoreQuery::Documents(terms[q].clone()))?;
    let hybrid_ms = time(&mut |q| {
        engine.retriever().hybrid(
            &vectors[q],
            terms[q].clone(),
            Language::English,
            5,
            &everything,
        )?;
        Ok(())
    })?;
    let hybrid_end_to_end_ms = time(&mut |q| {
        engine.search(&SearchRequest::new(QUESTIONS[q % QUESTIONS.len()], 5))?;
        Ok(())
    })?;
    Ok(Latencies {
        dense_ms,
        lexical_ms,
        dense_candidates_ms,
        lexical_candidates_ms,
        document_candidates_ms,
        hybrid_ms,
        hybrid_end_to_end_ms,
    })
}

impl StoreFigures {
    /// Prints the figures for a terminal.
    pub fn print(&self) {
        let mb = |m: Option<f64>| m.map_or("?".into(), |m| format!("{m:.0}"));
        let indexed = self
            .indexed_vectors
            .map_or(String::new(), |n| format!("; {n} vectors in HNSW"));
        match &self.fill {
            Some(fill) => println!(
                "points      {} (written in {:.1} s: {:.0} points/s; optimized in {:.1} s; peak RSS {} MB{indexed})",
                self.points,
                fill.insert_seconds,
                fill.insert_points_per_second,
                fill.optimize_seconds,
                mb(fill.peak_rss_mb),
            ),
            None => println!("points      {} (reused{indexed})", self.points),
        }
        println!(
            "memory      peak RSS {} MB searching (then {} MB own, {} MB mapped files); disk {} MB ({})",
            mb(self.search_peak_rss_mb),
            mb(self.search_anonymous_mb),
            mb(self.search_file_backed_mb),
            mb(self.disk_mb),
            self.layout
        );
        for (name, (p50, p95)) in [
            ("dense", self.latencies.dense_ms),
            ("lexical", self.latencies.lexical_ms),
            ("dense, 400", self.latencies.dense_candidates_ms),
            ("BM25 chunks, 400", self.latencies.lexical_candidates_ms),
            ("BM25 documents, 400", self.latencies.document_candidates_ms),
            ("hybrid", self.latencies.hybrid_ms),
            ("hybrid, end to end", self.latencies.hybrid_end_to_end_ms),
        ] {
            println!(
                "{name:<20} p50 {p50:.1} ms, p95 {p95:.1} ms ({} queries)",
                self.queries
            );
        }
    }
}

/// The folder a run fills when none is named: a fresh one under the system's temporary folder.
pub fn default_dir(points: usize) -> PathBuf {
    std::env::temp_dir().join(format!(
        "docent-bench-store-{points}-{}",
        std::process::id()
    ))
}
