//! Command-line arguments and the dispatch to each subcommand.

use std::io::Write;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};
use docent_core::device::{Device, Place};
use docent_core::retrieve::{FollowUpRule, ModelPlanner, PlannerBudget};
use docent_core::{
    AnswerMode, AskOptions, DocumentKind, Embedder, EvidenceOptions, Filter, Fusion,
    GenerationParams, Mode, ModelPaths, QueryPlanner, SearchRequest,
};
use docent_embed::{E5Embedder, EmbedderKind, candle_e5};
use docent_ingest::{IngestOptions, IngestReport, ProgressMode, WatchOptions};
use docent_qdrant::{OnDisk, Quantization, ReadConsistency};
use docent_server::ConnectionLimits;

use crate::{bench_embed, bench_store, output, setup};
use docent_eval::run;

#[derive(Parser)]
#[command(
    name = "docent",
    version,
    about = "Ask questions over your own documents, answered by local models with citations."
)]
pub struct Args {
    /// A TOML file of option values, keyed by long option name (flags and DOCENT_* variables win)
    #[arg(long, global = true, env = "DOCENT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// Folder of the embedded store [default: $XDG_DATA_HOME/docent/store]
    #[arg(long, global = true, env = "DOCENT_STORE")]
    pub store: Option<PathBuf>,
    /// Use a Qdrant server (gRPC, e.g. http://localhost:6334) instead of the embedded store;
    /// repeat it (or separate with commas) for the nodes of a cluster: a request that cannot
    /// reach one goes to the next
    #[arg(long, global = true, env = "DOCENT_QDRANT_URL", value_delimiter = ',')]
    pub qdrant_url: Vec<String>,
    /// Collection to use on the Qdrant server
    #[arg(
        long,
        global = true,
        env = "DOCENT_COLLECTION",
        default_value = "docent"
    )]
    pub collection: String,
    /// Folder with the models fetched by `make models` [default: ./models or the source tree's]
    #[arg(long, global = true, env = "DOCENT_MODELS")]
    pub models: Option<PathBuf>,
    /// Embedding model: e5 (multilingual) or minilm (English only, ~3x faster to ingest)
    /// [default: the one the store was built with; e5 for a new store]
    #[arg(long, global = true, env = "DOCENT_EMBEDDER", value_parser = one_of::<EmbedderKind>())]
    pub embedder: Option<EmbedderKind>,
    /// Where the embedder runs: auto (the GPU when this build has CUDA and one is present, else
    /// the CPU), cpu or cuda. e5 runs on the GPU through candle, on the CPU through its C engine
    #[arg(long, global = true, env = "DOCENT_EMBED_DEVICE", default_value_t = Device::default(), value_parser = one_of::<Device>())]
    pub embed_device: Device,
    /// Where the embedded store keeps vectors and BM25 indexes: auto (in RAM up to 250,000
    /// chunks, then on disk, memory-mapped), always (on disk) or never (in RAM)
    #[arg(long, global = true, env = "DOCENT_VECTORS_ON_DISK", default_value_t = OnDisk::default(), value_parser = one_of::<OnDisk>())]
    pub vectors_on_disk: OnDisk,
    /// Dense vector quantization of the embedded store: auto (int8 when the vectors are on
    /// disk), none, or int8 (copies a quarter the size kept in RAM for the search; the best
    /// candidates rescored with the full vectors)
    #[arg(long, global = true, env = "DOCENT_QUANTIZATION", default_value_t = Quantization::default(), value_parser = one_of::<Quantization>())]
    pub quantization: Quantization,
    /// Shards of a new Qdrant collection [default: Qdrant's, one per node of a cluster]
    #[arg(long, global = true, env = "DOCENT_SHARDS", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub shards: Option<u32>,
    /// Copies of each shard of a new Qdrant collection [default: 2 on a cluster of two or more
    /// nodes, so that one lost node loses no shard; else 1]
    #[arg(long, global = true, env = "DOCENT_REPLICATION_FACTOR", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub replication_factor: Option<u32>,
    /// Copies of a shard that must confirm each write to a new Qdrant collection [default: 1]
    #[arg(long, global = true, env = "DOCENT_WRITE_CONSISTENCY", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub write_consistency: Option<u32>,
    /// Copies of a shard each Qdrant read asks: 1 (any active one), a number, majority, quorum
    /// or all
    #[arg(long, global = true, env = "DOCENT_READ_CONSISTENCY", default_value_t = ReadConsistency::default())]
    pub read_consistency: ReadConsistency,
    /// How hybrid search merges its channels: zscore or rrf
    #[arg(long, global = true, env = "DOCENT_FUSION", default_value_t = Fusion::default(), value_parser = one_of::<Fusion>())]
    pub fusion: Fusion,
}

/// Parses one of `T`'s names; a mistake lists them all.
fn one_of<T>() -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + strum::VariantNames + Clone + Send + Sync + 'static,
{
    clap::builder::PossibleValuesParser::new(T::VARIANTS).map(|name| {
        name.parse::<T>()
            .unwrap_or_else(|_| unreachable!("{name} is one of the names listed"))
    })
}

#[derive(clap::Args, Clone)]
pub struct GeneratorArgs {
    /// The generator: smollm2, qwen2.5-0.5b or qwen2.5-1.5b (fetched by `make models`;
    /// gemma3-270m too, a base model for `bench generate`), or a GGUF chat model's file (llama,
    /// qwen2, qwen3, gemma3 or phi3) [default: smollm2]
    #[arg(long, env = "DOCENT_MODEL", value_name = "NAME|FILE.gguf")]
    pub model: Option<String>,
    /// Where to run the generator: auto, cpu or cuda (cuda needs a build with --features cuda)
    #[arg(long, env = "DOCENT_DEVICE", default_value_t = Device::default(), value_parser = one_of::<Device>())]
    pub device: Device,
    /// Seconds the generator may take to plan a search (a follow-up's topic, RAG-Fusion's
    /// phrasings) before the rule plans instead
    #[arg(long, env = "DOCENT_PLAN_SECONDS", default_value_t = PlannerBudget::default().time.as_secs_f64(), value_parser = plan_seconds)]
    pub plan_seconds: f64,
}

impl GeneratorArgs {
    /// What the generator may spend planning a search.
    pub fn planner_budget(&self) -> PlannerBudget {
        PlannerBudget {
            time: std::time::Duration::from_secs_f64(self.plan_seconds),
            ..Default::default()
        }
    }
}

/// `--plan-seconds`: a positive number of seconds, at most a minute.
fn plan_seconds(value: &str) -> std::result::Result<f64, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 60.0 => Ok(seconds),
        _ => Err(format!(
            "{value:?} is not a number of seconds above 0 and at most 60"
        )),
    }
}

#[derive(clap::Args, Clone)]
pub struct AnswerArgs {
    /// Sources to retrieve for the answer
    #[arg(short, default_value_t = AskOptions::default().k)]
    pub k: usize,
    /// Retrieval: dense (embeddings), lexical (BM25), hybrid (both, fused) or fusion (hybrid
    /// for the question and other phrasings of it that the generator writes)
    #[arg(long, default_value_t = Mode::default(), value_parser = one_of::<Mode>())]
    pub mode: Mode,
    /// Longest answer, in tokens
    #[arg(long, default_value_t = GenerationParams::default().max_tokens)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 always picks the likeliest token
    #[arg(long, default_value_t = GenerationParams::default().temperature)]
    pub temperature: f64,
    /// Below this best-source similarity, answer "I don't know" without generating
    /// [default: the embedder's own: 0.82 for e5, 0.25 for minilm]
    #[arg(long)]
    pub min_score: Option<f32>,
    #[command(flatten)]
    pub writing: WritingArgs,
}

/// How an answer is written, for `ask`, `serve` and `eval --qa`.
#[derive(clap::Args, Clone)]
pub struct WritingArgs {
    /// auto: generate, keep only sentences a source supports, else quote the evidence;
    /// generate: the model's answer unchecked; extract: quote the evidence (no generator)
    #[arg(long, env = "DOCENT_ANSWER_MODE", default_value_t = AnswerMode::default(), value_parser = one_of::<AnswerMode>())]
    pub answer_mode: AnswerMode,
    /// Tokens of evidence (the best sentences with their neighbours) the answer is written from
    #[arg(long, default_value_t = EvidenceOptions::default().budget_tokens)]
    pub evidence_tokens: usize,
    /// Who makes a follow-up stand alone: rule (the earlier question's key terms carried over)
    /// or model (the generator names what the follow-up points at; the rule too is searched).
    /// RAG-Fusion's phrasings (--mode fusion) are always the generator's
    #[arg(long, env = "DOCENT_PLANNER", default_value_t = Planner::default(), value_parser = one_of::<Planner>())]
    pub planner: Planner,
    /// Agentic search: how many more searches the generator may make with `docent_search`,
    /// for words of its choosing, after reading what the question found (0 to 3)
    #[arg(long, env = "DOCENT_SEARCHES", default_value_t = 0)]
    pub searches: usize,
    #[command(flatten)]
    pub generator: GeneratorArgs,
}

/// Who makes a follow-up stand alone (`--planner`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum Planner {
    /// The follow-up rule.
    #[default]
    Rule,
    /// The generator, with the rule beside it (needs a generator).
    Model,
}

impl WritingArgs {
    /// The generator to load for answers in `mode`: none when answers are only quoted, the
    /// search is not RAG-Fusion, follow-ups are the rule's and the model does not search.
    pub fn generator(&self, mode: Mode) -> Option<&GeneratorArgs> {
        let needed = self.answer_mode != AnswerMode::Extract
            || mode == Mode::Fusion
            || self.planner == Planner::Model
            || self.searches > 0;
        needed.then_some(&self.generator)
    }
}

impl AnswerArgs {
    /// The engine these flags answer with: the generator and the planner they ask for.
    fn engine(&self, store: &StoreArgs) -> Result<docent_core::Engine> {
        setup::engine(
            store,
            self.writing.generator(self.mode),
            self.writing.planner,
        )
    }

    fn options(&self) -> AskOptions {
        let generation = GenerationParams {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            ..Default::default()
        };
        AskOptions {
            k: self.k,
            mode: self.mode,
            min_score: self.min_score,
            answer_mode: self.writing.answer_mode,
            evidence: EvidenceOptions {
                budget_tokens: self.writing.evidence_tokens,
            },
            generation,
            searches: self.writing.searches,
            ..Default::default()
        }
    }
}

/// Which documents a search or an answer may draw on; every flag given must pass.
#[derive(clap::Args, Clone)]
pub struct ScopeArgs {
    /// Only this document (its id, as `docent documents` lists it); repeat for several
    #[arg(long = "document", value_name = "ID")]
    documents: Vec<String>,
    /// Only documents whose path in its folder matches this glob (`*` within a folder, `**`
    /// across); repeat for several
    #[arg(long = "path", value_name = "GLOB")]
    paths: Vec<String>,
    /// Only documents of this type; repeat for several
    #[arg(long = "type", value_name = "TYPE", value_parser = one_of::<DocumentKind>())]
    kinds: Vec<DocumentKind>,
    /// Only documents whose file was modified after this day (2026-03-01) or RFC 3339 time
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    modified_after: Option<u64>,
}

/// Searches at once by default: one per core (a search's cost is embedding the query), at
/// least two.
fn default_searches() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

fn parse_time(text: &str) -> Result<u64, String> {
    Filter::time(text).map_err(|e| e.to_string())
}

impl ScopeArgs {
    fn filter(self) -> Filter {
        Filter {
            documents: self.documents,
            paths: self.paths,
            kinds: self.kinds,
            modified_after: self.modified_after,
            ..Default::default()
        }
    }
}

/// What one client may hold of the server's connections, for `serve`.
#[derive(clap::Args, Clone)]
pub struct ConnectionArgs {
    /// Connections served at once; more wait until one closes
    #[arg(long, env = "DOCENT_MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().max_connections)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers; then the connection is closed
    #[arg(long, env = "DOCENT_HEADER_TIMEOUT", default_value_t = ConnectionLimits::default().header_timeout.as_secs())]
    pub header_timeout: u64,
    /// Seconds a client has to send a request's body once its headers are in; then 408
    #[arg(long, env = "DOCENT_BODY_TIMEOUT", default_value_t = ConnectionLimits::default().body_timeout.as_secs())]
    pub body_timeout: u64,
    /// Seconds requests in flight get to finish after Ctrl-C or SIGTERM
    #[arg(long, env = "DOCENT_SHUTDOWN_GRACE", default_value_t = ConnectionLimits::default().shutdown_grace.as_secs())]
    pub shutdown_grace: u64,
}

impl ConnectionArgs {
    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_secs(self.header_timeout.max(1)),
            body_timeout: Duration::from_secs(self.body_timeout.max(1)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Add folders or files to the store; re-running updates only what changed
    Ingest(IngestArgs),
    /// Show the chunks most similar to a query
    Search(SearchArgs),
    /// Answer a question from the store, citing sources
    Ask(AskArgs),
    /// Serve the HTTP API
    Serve(ServeArgs),
    /// Serve the store to an AI assistant as an MCP server on stdio (tools: search, ask,
    /// list_documents, read_document)
    Mcp(McpArgs),
    /// Measure retrieval on an evaluation set in the BEIR layout
    Eval(EvalArgs),
    /// List the documents in the store (page by page), and a Qdrant cluster's shards
    Documents(DocumentsArgs),
    /// Measure a part of docent on this machine and print the figures
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(clap::Args)]
pub struct IngestArgs {
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// No progress output
    #[arg(long, short)]
    pub quiet: bool,
    /// Skip files larger than this many MiB
    #[arg(long, default_value_t = 32)]
    pub max_file_mib: u64,
    /// Then keep the store in sync as files are added, edited, renamed and deleted, until
    /// Ctrl-C (each change re-runs the same incremental ingest; with --json, one report a line)
    #[arg(long)]
    pub watch: bool,
    /// With --watch: how long files must be quiet before a sync, in milliseconds
    #[arg(long, default_value_t = 500)]
    pub debounce_ms: u64,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    pub query: String,
    #[arg(short, default_value_t = 5)]
    pub k: usize,
    /// Retrieval: dense (embeddings), lexical (BM25), hybrid (both, fused) or fusion (hybrid
    /// for the query and other phrasings of it that the generator writes)
    #[arg(long, default_value_t = Mode::default(), value_parser = one_of::<Mode>())]
    pub mode: Mode,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// With --mode fusion: the generator that writes the phrasings
    #[command(flatten)]
    pub generator: GeneratorArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct AskArgs {
    pub question: String,
    #[command(flatten)]
    pub answer: AnswerArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct McpArgs {
    /// How answers are written and searched unless a call says otherwise
    #[command(flatten)]
    pub answer: AnswerArgs,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[arg(long, env = "DOCENT_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// An API key with full access (repeat the flag, or comma-separate in the variable);
    /// with any key set, every route but /healthz needs `Authorization: Bearer KEY`
    #[arg(
        long = "api-key",
        env = "DOCENT_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,
    /// An API key that may search and ask but not change the store
    #[arg(
        long = "read-only-key",
        env = "DOCENT_READ_ONLY_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub read_only_keys: Vec<String>,
    /// Answers generated at once (more only slow each other down on a CPU)
    #[arg(long, env = "DOCENT_MAX_GENERATIONS", default_value_t = 1)]
    pub max_generations: usize,
    /// Questions that may wait for a generation slot; beyond that, 503 with Retry-After
    #[arg(long, env = "DOCENT_QUEUE", default_value_t = 16)]
    pub queue: usize,
    /// Seconds a question may wait for a slot before it gets 503 with Retry-After
    #[arg(long, env = "DOCENT_QUEUE_TIMEOUT", default_value_t = 60)]
    pub queue_timeout: u64,
    /// Seconds one answer may take once it has a slot; then it is stopped (504, or an error event)
    #[arg(long, env = "DOCENT_ANSWER_TIMEOUT", default_value_t = 300)]
    pub answer_timeout: u64,
    /// Searches run at once (POST /v1/search); up to 64 more wait, 10 s at most, then 503
    #[arg(long, env = "DOCENT_MAX_SEARCHES", default_value_t = default_searches())]
    pub max_searches: usize,
    /// A folder POST /v1/ingest may read (repeatable); none by default, which turns it off
    #[arg(
        long = "allow-ingest-from",
        env = "DOCENT_ALLOW_INGEST_FROM",
        value_delimiter = ','
    )]
    pub allow_ingest_from: Vec<PathBuf>,
    /// A folder (or file) to ingest at start and keep in sync while serving (repeatable)
    #[arg(long = "watch", env = "DOCENT_WATCH", value_delimiter = ',')]
    pub watch: Vec<PathBuf>,
    /// With --watch: how long files must be quiet before a sync, in milliseconds
    #[arg(long, default_value_t = 500)]
    pub debounce_ms: u64,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    #[command(flatten)]
    pub answer: AnswerArgs,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A folder holding corpus.jsonl, queries.jsonl and qrels.tsv
    pub dir: Option<PathBuf>,
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    #[arg(long)]
    pub queries: Option<PathBuf>,
    #[arg(long)]
    pub qrels: Option<PathBuf>,
    /// Documents ranked per query
    #[arg(short, default_value_t = 100)]
    pub k: usize,
    /// Retrieval: dense (embeddings), lexical (BM25), hybrid (both, fused) or fusion (hybrid
    /// for the question and other phrasings of it that the generator writes)
    #[arg(long, default_value_t = Mode::default(), value_parser = one_of::<Mode>())]
    pub mode: Mode,
    #[arg(long)]
    pub json: bool,
    /// Also answer the questions of this QA file (`{"id","question","answers"}` a line, ids
    /// as in the qrels) with `ask`, and score the answers
    #[arg(long)]
    pub qa: Option<PathBuf>,
    /// With --qa: write every answer to this file, one JSON line each (the question, its gold
    /// answers, and the answer with its sentences, verdicts and sources), to read them
    #[arg(long, value_name = "FILE", requires = "qa")]
    pub answers: Option<PathBuf>,
    /// Also search for the follow-ups of this file (`{"id","first","followup"}` a line, ids
    /// as in the qrels): alone, rewritten with the question before them, and as the full
    /// question; prints hit@5 for each
    #[arg(long)]
    pub followups: Option<PathBuf>,
    /// Longest answer, in tokens (with --qa)
    #[arg(long, default_value_t = GenerationParams::default().max_tokens)]
    pub max_tokens: usize,
    #[command(flatten)]
    pub writing: WritingArgs,
}

#[derive(clap::Args)]
pub struct DocumentsArgs {
    /// Only this many documents (one page; the output names the next page's first id)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: Option<u32>,
    /// Start at this document id (a page's `next`)
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Bench {
    /// Generation speed: the model continues a text greedily; prints the prompt-processing and
    /// decoding rates and peak memory (threads: RAYON_NUM_THREADS, default all cores)
    Generate(BenchGenerateArgs),
    /// Ingest's embedding speed: e5's C engine and candle on the CPU, and candle on the GPU
    /// when this build and machine have CUDA, over passages of 200–400 tokens
    Embed(BenchEmbedArgs),
    /// The store at scale: fills a fresh embedded store (or, with --qdrant-url, a fresh
    /// --collection of that server) with synthetic points in docent's layout and prints insert
    /// time, memory, disk and search latency per channel
    Store(BenchStoreArgs),
}

#[derive(clap::Args)]
pub struct BenchGenerateArgs {
    /// The text to continue (plain text, no chat template)
    #[arg(long)]
    pub prompt_file: PathBuf,
    /// Cut the prompt to this many tokens
    #[arg(long, default_value_t = 1000)]
    pub prompt_tokens: usize,
    /// Tokens to decode after the prompt
    #[arg(long, default_value_t = 64)]
    pub tokens: usize,
    /// Feed the model these tokens (a JSON list of ids, another engine's continuation)
    /// instead of its own picks, and report at each step how far below its best logit the
    /// followed token was
    #[arg(long)]
    pub follow: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub generator: GeneratorArgs,
}

#[derive(clap::Args)]
pub struct BenchEmbedArgs {
    /// Passages to embed per engine
    #[arg(long, default_value_t = 256)]
    pub passages: usize,
    /// Passages per batch
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Folder of Markdown and text files the passages are cut from
    #[arg(long, default_value = "corpus")]
    pub from: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct BenchStoreArgs {
    /// Points (chunks) to write
    #[arg(long, default_value_t = 10_000)]
    pub points: usize,
    /// Searches timed per channel
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// The folder to fill (must be empty or absent; removed afterwards unless --keep)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the filled store
    #[arg(long)]
    pub keep: bool,
    /// Search the store an earlier run filled (in --dir, kept with --keep; or the
    /// --collection of --qdrant-url) instead of filling one: memory is then that of a fresh
    /// process, as a server's would be
    #[arg(long)]
    pub reuse: bool,
    #[arg(long)]
    pub json: bool,
}

/// Prints `value` as pretty JSON with `--json`, else as `human` shows it in a terminal.
fn show<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human(value);
    }
    Ok(())
}

/// Runs the subcommand; partial success is still success (an ingest lists its failures and
/// stores everything else).
pub fn run(args: Args) -> Result<ExitCode> {
    let store = &args.store;
    match args.command {
        Command::Ingest(command) if command.watch => watch(store, command)?,
        Command::Ingest(command) => ingest(store, command)?,
        Command::Search(command) => search(store, command)?,
        Command::Ask(command) => ask(store, command)?,
        Command::Serve(command) => serve(store, command)?,
        Command::Mcp(command) => mcp(store, command)?,
        Command::Eval(command) => eval(store, command)?,
        Command::Documents(command) => documents(store, command)?,
        Command::Bench(Bench::Generate(command)) => bench_generate(store, command)?,
        Command::Bench(Bench::Embed(command)) => bench_embed(store, command)?,
        Command::Bench(Bench::Store(command)) => bench_store(store, command)?,
    }
    Ok(ExitCode::SUCCESS)
}

impl IngestArgs {
    fn options(&self) -> IngestOptions {
        IngestOptions {
            max_file_bytes: self.max_file_mib * 1024 * 1024,
            progress: if self.quiet || self.json {
                ProgressMode::Quiet
            } else {
                ProgressMode::Auto
            },
            ..Default::default()
        }
    }
}

fn ingest(store_args: &StoreArgs, command: IngestArgs) -> Result<()> {
    let embedder = setup::embedder(store_args)?;
    let store = setup::store(store_args, embedder.as_ref())?;
    let report = docent_ingest::ingest(
        &command.paths,
        embedder.as_ref(),
        store.as_ref(),
        &command.options(),
    )?;
    show(command.json, &report, output::print_report)
}

/// `ingest --watch`: the first ingest, then one per change until Ctrl-C or SIGTERM, which end
/// the watch after the file being ingested (never midway). With `--json`, one compact report a
/// line.
fn watch(store_args: &StoreArgs, command: IngestArgs) -> Result<()> {
    let embedder = setup::embedder(store_args)?;
    let store = setup::store(store_args, embedder.as_ref())?;
    let mut options = command.options();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("cannot listen for Ctrl-C")?;
    options.cancel = Some(stop.clone());
    let watch_options = WatchOptions {
        debounce: Duration::from_millis(command.debounce_ms),
        ignore: vec![setup::store_dir(store_args)],
    };
    let print = |report: &IngestReport| -> Result<()> {
        if command.json {
            println!("{}", serde_json::to_string(report)?);
        } else {
            output::print_report(report);
        }
        Ok(())
    };
    let mut first = true;
    let mut failure = None;
    docent_ingest::watch(&command.paths, &watch_options, Some(&stop), || {
        let report =
            docent_ingest::ingest(&command.paths, embedder.as_ref(), store.as_ref(), &options);
        // Progress bars for the first ingest; later syncs are reported in a line.
        options.progress = ProgressMode::Quiet;
        let shown = report.and_then(|report| {
            if first || report.changed_store() || !report.failed.is_empty() {
                print(&report)?;
            }
            Ok(())
        });
        first = false;
        match shown {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                failure = Some(err);
                ControlFlow::Break(())
            }
        }
    })?;
    failure.map_or(Ok(()), Err)
}

fn search(store: &StoreArgs, command: SearchArgs) -> Result<()> {
    // Only RAG-Fusion needs a model to search.
    let generator = (command.mode == Mode::Fusion).then_some(&command.generator);
    let engine = setup::engine(store, generator, Planner::Rule)?;
    let request = SearchRequest {
        mode: command.mode,
        filter: command.scope.filter(),
        ..SearchRequest::new(command.query, command.k)
    };
    let (plan, hits) = engine.search_planned(&request)?;
    show(command.json, &output::search_json(&plan, &hits), |_| {
        output::print_hits(&hits)
    })
}

fn ask(store: &StoreArgs, command: AskArgs) -> Result<()> {
    let engine = command.answer.engine(store)?;
    let mut stdout = std::io::stdout();
    let options = AskOptions {
        filter: command.scope.filter(),
        ..command.answer.options()
    };
    let answer = engine.ask(&command.question, &options, &mut |text| {
        if !command.json {
            let _ = write!(stdout, "{text}");
            let _ = stdout.flush();
        }
        ControlFlow::Continue(())
    })?;
    show(command.json, &answer, output::print_sources)
}

fn serve(store: &StoreArgs, command: ServeArgs) -> Result<()> {
    let ingest_roots = docent_server::IngestRoots::new(&command.allow_ingest_from)?;
    let engine = Arc::new(command.answer.engine(store)?);
    let state = docent_server::AppState {
        engine,
        defaults: command.answer.options(),
        keys: docent_server::ApiKeys::new(&command.api_keys, &command.read_only_keys),
        generation: docent_server::GenerationSlots::new(
            command.max_generations,
            command.queue,
            Duration::from_secs(command.queue_timeout),
            Duration::from_secs(command.answer_timeout),
        ),
        searches: docent_server::Slots::searches(command.max_searches),
        metrics: Arc::new(docent_server::Metrics::default()),
        ingest_roots,
        ingesting: Default::default(),
        stopping: Default::default(),
        loopback_only: command.addr.ip().is_loopback(),
    };
    let watch = docent_server::Watch {
        options: WatchOptions {
            debounce: Duration::from_millis(command.debounce_ms),
            ignore: vec![setup::store_dir(store)],
        },
        paths: command.watch,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(docent_server::serve(
        command.addr,
        state,
        command.connections.limits(),
        watch,
    ))?;
    // Blocking work still running past the grace period (a long generation) is not waited
    // for: the store is flushed by now, and the process's exit releases it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn eval(store: &StoreArgs, command: EvalArgs) -> Result<()> {
    let EvalArgs {
        dir,
        corpus,
        queries,
        qrels,
        k,
        mode,
        json,
        qa,
        answers,
        followups,
        max_tokens,
        writing,
    } = command;
    let set = run::EvalSet::resolve(dir.as_deref(), corpus, queries, qrels)?;
    let mut store_args = store.clone();
    if store_args.store.is_none() && store_args.qdrant_url.is_empty() {
        let embedder = store_args.embedder.unwrap_or_default();
        store_args.store = Some(set.default_store(&setup::eval_cache_dir(), &embedder.to_string()));
    }
    // A model is loaded to answer, to write RAG-Fusion's phrasings, or to plan follow-ups.
    let needs_model = qa.is_some() || mode == Mode::Fusion || writing.planner == Planner::Model;
    let generator = writing.generator(mode).filter(|_| needs_model);
    let engine = setup::engine(&store_args, generator, writing.planner)?;
    let mut report = match qa {
        None => run::run(&engine, &set, k, mode, !json)?,
        Some(qa) => {
            let options = AskOptions {
                mode,
                generation: GenerationParams {
                    max_tokens,
                    ..Default::default()
                },
                answer_mode: writing.answer_mode,
                evidence: EvidenceOptions {
                    budget_tokens: writing.evidence_tokens,
                },
                searches: writing.searches,
                ..Default::default()
            };
            run::run_with_qa(&engine, &set, k, &qa, &options, answers.as_deref(), !json)?
        }
    };
    if let Some(path) = followups {
        let model = engine
            .generator()
            .filter(|_| writing.planner == Planner::Model)
            .map(|generator| {
                ModelPlanner::new(generator.clone(), writing.generator.planner_budget())
            });
        let mut planners: Vec<(&str, &dyn QueryPlanner)> = vec![("rule", &FollowUpRule)];
        if let Some(model) = &model {
            planners.push(("model", model));
        }
        report.followups = Some(run::followups(
            &engine, &set, &path, mode, &planners, !json,
        )?);
    }
    show(json, &report, run::print)
}

fn mcp(store: &StoreArgs, command: McpArgs) -> Result<()> {
    let engine = Arc::new(command.answer.engine(store)?);
    // stdout carries the protocol; docent's log goes to stderr, as always.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(docent_server::mcp::serve_stdio(
        engine,
        command.answer.options(),
    ))?;
    // A blocking answer still running when the client left is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Documents read from the store at once by `docent documents`.
const DOCUMENTS_PAGE: usize = 1000;

fn documents(store_args: &StoreArgs, command: DocumentsArgs) -> Result<()> {
    let embedder = setup::embedder(store_args)?;
    let store = setup::store(store_args, embedder.as_ref())?;
    let topology = store.topology()?;
    // One page when asked for; else every page, a page at a time.
    let (documents, next) = match command.limit {
        Some(limit) => {
            let page = store.documents_page(command.from.as_deref(), limit as usize)?;
            (page.documents, page.next)
        }
        None => {
            let mut documents = Vec::new();
            let mut from = command.from;
            loop {
                let page = store.documents_page(from.as_deref(), DOCUMENTS_PAGE)?;
                documents.extend(page.documents);
                match page.next {
                    Some(next) => from = Some(next),
                    None => break (documents, None),
                }
            }
        }
    };
    let mut listed = serde_json::json!({ "documents": documents, "next": next });
    if let Some(topology) = &topology {
        listed["topology"] = serde_json::json!(topology);
    }
    show(command.json, &listed, |_| {
        output::print_documents(&documents, next.as_deref());
        if let Some(topology) = &topology {
            output::print_topology(topology);
        }
    })
}

fn bench_generate(store: &StoreArgs, command: BenchGenerateArgs) -> Result<()> {
    let read = |what: &str, path: &PathBuf| {
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {what} {}: {e}", path.display()))
    };
    let text = read("the prompt file", &command.prompt_file)?;
    let follow: Option<Vec<u32>> = command
        .follow
        .map(|path| -> Result<Vec<u32>> {
            serde_json::from_str(&read("the tokens to follow", &path)?).map_err(|e| {
                anyhow::anyhow!("{} is not a JSON list of token ids: {e}", path.display())
            })
        })
        .transpose()?;
    let generator = setup::any_gguf(store, &command.generator)?;
    let continuation = generator.continue_text(
        &text,
        command.prompt_tokens,
        command.tokens,
        follow.as_deref(),
    )?;
    show(
        command.json,
        &output::GenerationFigures::new(&continuation),
        output::GenerationFigures::print,
    )
}

fn bench_embed(store: &StoreArgs, command: BenchEmbedArgs) -> Result<()> {
    let models = ModelPaths::locate(store.models.as_deref());
    let mut engines: Vec<(&str, Arc<dyn Embedder>)> = vec![
        ("e5 C engine", Arc::new(E5Embedder::load(&models)?)),
        ("e5 candle cpu", Arc::new(candle_e5(&models, Place::Cpu)?)),
    ];
    match candle_e5(&models, Place::Cuda) {
        Ok(gpu) => engines.push(("e5 candle cuda", Arc::new(gpu))),
        Err(why) => eprintln!("e5 candle cuda: not measured ({why:#})"),
    }
    let texts = bench_embed::passages(
        &command.from,
        command.passages.max(1),
        engines[0].1.as_ref(),
    )?;
    let mut all = Vec::new();
    for (name, embedder) in &engines {
        let figures = bench_embed::run(name, embedder, &texts, command.batch.max(1))?;
        // Each engine's figures as soon as they are measured; JSON all at once.
        if !command.json {
            figures.print();
        }
        all.push(figures);
    }
    if command.json {
        show(true, &all, |_| {})?;
    }
    Ok(())
}

fn bench_store(store: &StoreArgs, command: BenchStoreArgs) -> Result<()> {
    let embedder = setup::embedder(store)?;
    let target = match setup::server_options(store) {
        Some(options) => bench_store::Target::Server(options),
        None => bench_store::Target::Edge {
            dir: command
                .dir
                .unwrap_or_else(|| bench_store::default_dir(command.points)),
            layout: setup::layout(store),
        },
    };
    let figures = bench_store::run(
        &target,
        command.points,
        command.queries,
        embedder,
        command.reuse,
        !command.json,
    );
    if let bench_store::Target::Edge { dir, .. } = &target
        && !command.keep
        && !command.reuse
    {
        let _ = std::fs::remove_dir_all(dir);
    }
    show(command.json, &figures?, bench_store::StoreFigures::print)
}
