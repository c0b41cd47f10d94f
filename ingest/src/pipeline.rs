//! The chain itself: walk → load → chunk (worker thread) → embed in batches → store → sync.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use anyhow::{Context, Result};
use docent_core::retrieve::lexical::{self, Sparse};
use docent_core::{ChunkPayload, DocumentKind, Embedder, Point, StoredDocument, VectorStore};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::chunk::{Chunker, TextChunk};
use crate::load::{Format, LoadError, extract_text, max_chunks};
use crate::progress::{Progress, ProgressMode};
use crate::walk::{Origin, Scope, Source, walk};

/// How an ingest runs; the defaults suit the default embedder.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Chunk size in embedder tokens (the splitter prefers semantic breaks past the start).
    /// 200–400 by default: within e5's 512, and on the dev sets larger chunks ranked better
    /// than 96–200 in lexical and hybrid retrieval (a chunk keeps more of its document's words).
    pub chunk_tokens: std::ops::Range<usize>,
    /// Tokens each chunk shares with the one before.
    pub overlap_tokens: usize,
    /// Files larger than this are skipped and reported.
    pub max_file_bytes: u64,
    /// Chunks embedded in one call.
    pub batch: usize,
    /// How progress is shown.
    pub progress: ProgressMode,
    /// When set, the ingest stops before its next file, while a file is chunked or between
    /// slices of its embedding, and a PDF or HTML parser at work is killed (a server shutting
    /// down): what was written stays, documents are never half-stored (see the invariants), and the next
    /// run finishes the job. The report says `interrupted`.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            chunk_tokens: 200..400,
            overlap_tokens: 48,
            max_file_bytes: 32 * 1024 * 1024,
            batch: 64,
            progress: ProgressMode::Auto,
            cancel: None,
        }
    }
}

/// A file that could not be ingested, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The file, as reports name it.
    pub path: String,
    /// Why it failed.
    pub error: String,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    /// Files found.
    pub files_seen: usize,
    /// Documents new to the store.
    pub added: usize,
    /// Documents whose file changed, indexed again.
    pub updated: usize,
    /// Documents whose file is gone, deleted.
    pub removed: usize,
    /// Documents already stored as they are.
    pub unchanged: usize,
    /// Of the unchanged, the files known by their size and times alone, not read.
    pub not_read: usize,
    /// Files of a format docent does not read.
    pub unsupported: usize,
    /// Binary, empty or oversized files.
    pub skipped: usize,
    /// Files that could not be read or parsed.
    pub failed: Vec<Failure>,
    /// Chunks embedded and stored.
    pub chunks_written: usize,
    /// Wall-clock time of the run.
    pub seconds: f64,
    /// The ingest was cancelled before all files were seen (removals were not applied either).
    pub interrupted: bool,
}

impl IngestReport {
    /// Chunks written per second of the run.
    pub fn chunks_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.chunks_written as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Whether the run changed the store: a document added, updated or removed.
    pub fn changed_store(&self) -> bool {
        self.added + self.updated + self.removed > 0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A document's stable id: from the root it was ingested from and its path (or name) there.
pub fn doc_id(root: &str, rel: &str) -> String {
    let digest = Sha256::new()
        .chain_update(root)
        .chain_update([0])
        .chain_update(rel)
        .finalize();
    hex(&digest[..8])
}

/// What the worker decided about one file.
enum Prepared {
    /// New or changed: its chunks, ready to embed.
    Document(Pending),
    /// Stored as it is; known how.
    Unchanged(Known),
    Unsupported,
    /// The ingest was cancelled while this file was read.
    Cancelled,
    Skipped {
        source: Source,
        reason: String,
    },
    Failed(Failure),
}

/// How an unchanged file was known to be so.
enum Known {
    /// By its stamp: not read.
    ByStamp,
    /// By the hash of its bytes.
    ByHash,
    /// By the hash of its bytes, though its stamp changed (a `touch`, a copy over itself): the
    /// document's points take the new stamp, so the next sync need not read it.
    Restamp { doc_id: String, stamp: String },
}

impl Prepared {
    /// `source` could not be read or parsed, for `error`.
    fn failed(source: &Source, error: String) -> Prepared {
        Prepared::Failed(Failure {
            path: source.display(),
            error,
        })
    }
}

/// Everything that turns the same bytes into other points: the index version, embedder,
/// chunking, the lexical channel, and the format's own extraction.
fn recipe(format: Format, options: &IngestOptions, embedder_id: &str) -> String {
    let recipe = format!(
        "{INDEX_VERSION};{embedder_id};chunks={:?};overlap={};lexical={}",
        options.chunk_tokens,
        options.overlap_tokens,
        lexical::VERSION
    );
    // A format's own extraction changes only its documents' points.
    match format.extraction() {
        Some(extraction) => format!("{recipe};{extraction}"),
        None => recipe,
    }
}

/// The hash that decides whether a document must be indexed again: its bytes, and its recipe.
fn content_hash(bytes: &[u8], recipe: &str) -> String {
    let digest = Sha256::new()
        .chain_update(recipe)
        .chain_update([0])
        .chain_update(bytes)
        .finalize();
    hex(&digest)
}

/// Seconds within which a file's modification time cannot tell a later change: a file written
/// again in the same clock tick as it was read keeps its times (and often its size).
const RACY_SECONDS: u64 = 2;

/// A file's stamp ([`ChunkPayload::stamp`]): its recipe, size, modification and change times
/// (to the nanosecond) and inode. A tool that restores the modification time after writing
/// (`touch -d`, `rsync -t`) still moves the change time. `None` when the file was modified
/// within [`RACY_SECONDS`] of `now`.
fn stamp(meta: &std::fs::Metadata, recipe: &str, now: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let modified = u64::try_from(meta.mtime()).ok()?;
    if modified + RACY_SECONDS > now {
        return None;
    }
    let file = format!(
        "{};{}.{};{}.{};{}",
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.ino()
    );
    let digest = Sha256::new()
        .chain_update(recipe)
        .chain_update([0])
        .chain_update(file)
        .finalize();
    Some(hex(&digest[..16]))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Changes whenever this crate would index the same text differently (what `indexed_text` holds).
/// 2: points carry their document's kind and modification time (for filters).
const INDEX_VERSION: &str = "docent-index-2";

/// What was read of a source.
struct Read {
    format: Format,
    bytes: Vec<u8>,
    /// When its file was last modified (Unix seconds; `None` for a document from memory).
    modified: Option<u64>,
    /// How the source is indexed ([`recipe`]).
    recipe: String,
    /// The file's stamp, when it can be trusted.
    stamp: Option<String>,
}

/// Reads a source's bytes and format, unless its file's stamp is `known` (then
/// `Err(Unchanged)`); `Err` is the finished verdict (unsupported, too large, unreadable).
#[expect(
    clippy::result_large_err,
    reason = "one verdict per file, passed on as it is: boxing it would buy nothing"
)]
fn read(
    source: &Source,
    options: &IngestOptions,
    embedder_id: &str,
    known: Option<&str>,
) -> Result<Read, Prepared> {
    let failed = |error: String| Prepared::failed(source, error);
    match &source.origin {
        Origin::Memory { bytes, format } => {
            if bytes.len() as u64 > options.max_file_bytes {
                let reason = format!("larger than {} bytes", options.max_file_bytes);
                return Err(Prepared::Skipped {
                    source: source.clone(),
                    reason,
                });
            }
            Ok(Read {
                format: *format,
                bytes: bytes.clone(),
                modified: None,
                recipe: recipe(*format, options, embedder_id),
                stamp: None,
            })
        }
        Origin::File { root, path } => {
            let format = Format::of(path).ok_or(Prepared::Unsupported)?;
            let mut file = open_beneath(root, path).map_err(failed)?;
            // The size of what was opened, not of whatever the path names by now.
            let meta = file.metadata().map_err(|e| failed(e.to_string()))?;
            if !meta.is_file() {
                return Err(failed("not a regular file (any more)".into()));
            }
            let recipe = recipe(format, options, embedder_id);
            let stamp = stamp(&meta, &recipe, unix_now());
            if stamp.is_some() && stamp.as_deref() == known {
                return Err(Prepared::Unchanged(Known::ByStamp));
            }
            if meta.len() > options.max_file_bytes {
                let reason = format!("larger than {} bytes", options.max_file_bytes);
                return Err(Prepared::Skipped {
                    source: source.clone(),
                    reason,
                });
            }
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            // A file that grows while read is still read only up to the limit.
            std::io::Read::read_to_end(
                &mut std::io::Read::take(&mut file, options.max_file_bytes + 1),
                &mut bytes,
            )
            .map_err(|e| failed(e.to_string()))?;
            if bytes.len() as u64 > options.max_file_bytes {
                let reason = format!("larger than {} bytes", options.max_file_bytes);
                return Err(Prepared::Skipped {
                    source: source.clone(),
                    reason,
                });
            }
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            Ok(Read {
                format,
                bytes,
                modified,
                recipe,
                stamp,
            })
        }
    }
}

/// Opens a file the walk found under `root`, one path component at a time from the root's
/// descriptor, refusing a symbolic link at every step: the walk skips links, but the file, or a
/// folder above it, can be replaced by one between the walk and the read (a link to a secret
/// outside the root). Each step opens the entry the last one found, so no later swap redirects
/// it. The root itself is the operator's choice and is opened as named.
fn open_beneath(root: &std::path::Path, path: &std::path::Path) -> Result<std::fs::File, String> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Component;

    let rel = path
        .strip_prefix(root)
        .map_err(|_| "not inside the folder it was found in".to_string())?;
    let mut at: OwnedFd = std::fs::File::open(root)
        .map_err(|e| format!("cannot open its folder: {e}"))?
        .into();
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        let Component::Normal(name) = component else {
            return Err("its path is not a plain path below its folder".into());
        };
        let name = std::ffi::CString::new(name.as_bytes())
            .map_err(|_| "a NUL byte in its path".to_string())?;
        let last = components.peek().is_none();
        // O_NONBLOCK: a FIFO put in the file's place must not block the ingest.
        let kind = if last {
            libc::O_NONBLOCK
        } else {
            libc::O_DIRECTORY
        };
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | kind;
        // SAFETY: `at` is an open descriptor and `name` a NUL-terminated string, both live
        // across the call.
        let fd = unsafe { libc::openat(at.as_raw_fd(), name.as_ptr(), flags) };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::ELOOP) if last => {
                    "became a symbolic link after the walk; not followed".into()
                }
                Some(libc::ELOOP | libc::ENOTDIR) => {
                    "a folder on its path became a symbolic link after the walk; not followed"
                        .into()
                }
                _ => err.to_string(),
            });
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        at = unsafe { OwnedFd::from_raw_fd(fd) };
    }
    Ok(std::fs::File::from(at))
}

/// Steps 2 and 3 for one document: read, hash, compare with the store, extract, chunk.
fn prepare(
    source: Source,
    stored: &HashMap<String, StoredDocument>,
    chunker: &Chunker,
    options: &IngestOptions,
    embedder_id: &str,
) -> Prepared {
    let doc_id = doc_id(&source.root, &source.rel);
    let existing = stored.get(&doc_id);
    let known = existing
        .filter(|d| d.complete)
        .and_then(|d| d.stamp.as_deref());
    let Read {
        format,
        bytes,
        modified,
        recipe,
        stamp,
    } = match read(&source, options, embedder_id, known) {
        Ok(read) => read,
        Err(verdict) => return verdict,
    };
    let hash = content_hash(&bytes, &recipe);
    if let Some(existing) = existing.filter(|d| d.complete && d.content_hash == hash) {
        return Prepared::Unchanged(match stamp {
            Some(stamp) if existing.stamp.as_ref() != Some(&stamp) => {
                Known::Restamp { doc_id, stamp }
            }
            _ => Known::ByHash,
        });
    }
    let failed = |error: String| Prepared::failed(&source, error);
    match extract_text(&bytes, format, options.cancel.as_deref()) {
        Ok(text) => {
            let Some(chunks) = chunker.chunk(&text, format, options.cancel.as_deref()) else {
                return Prepared::Cancelled;
            };
            let most = max_chunks(format, bytes.len());
            if chunks.len() > most {
                return failed(format!(
                    "{} chunks from {} bytes (at most {most}): a file built to expand?",
                    chunks.len(),
                    bytes.len()
                ));
            }
            let terms = lexical::passage_vector(&text);
            Prepared::Document(Pending {
                source,
                doc_id,
                hash,
                chunks,
                terms,
                existed: existing.is_some(),
                kind: format.kind(),
                modified,
                stamp,
            })
        }
        Err(e @ (LoadError::Binary | LoadError::Empty)) => Prepared::Skipped {
            source,
            reason: e.to_string(),
        },
        Err(e @ LoadError::Parse(_)) => failed(e.to_string()),
        Err(LoadError::Cancelled) => Prepared::Cancelled,
    }
}

/// A document waiting for its chunks to be embedded.
struct Pending {
    source: Source,
    doc_id: String,
    hash: String,
    terms: Sparse,
    chunks: Vec<TextChunk>,
    existed: bool,
    kind: DocumentKind,
    modified: Option<u64>,
    stamp: Option<String>,
}

/// Chunks embedded per call of the embedder: between calls a cancelled ingest stops, so a
/// shutdown waits for one such slice (e5 embeds about three 400-token chunks a second on two
/// cores), not for a whole file's chunks.
const EMBED_SLICE: usize = 8;

/// Steps 4 and 5: embeds the pending documents' chunks in one batch, then replaces each
/// document's points. A document's old points are deleted before its new ones are written, so
/// an interruption leaves it missing or incomplete, which the next run repairs. When
/// `cancelled` turns true between slices of the embedding, nothing of the batch is written (the
/// stored versions stay whole) and this returns `false`.
fn write_batch(
    pending: &mut Vec<Pending>,
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    report: &mut IngestReport,
    cancelled: &dyn Fn() -> bool,
) -> Result<bool> {
    if pending.is_empty() {
        return Ok(true);
    }
    let texts: Vec<String> = pending
        .iter()
        .flat_map(|p| p.chunks.iter().map(TextChunk::indexed_text))
        .collect();
    let mut vectors = Vec::with_capacity(texts.len());
    for slice in texts.chunks(EMBED_SLICE) {
        if cancelled() {
            pending.clear();
            return Ok(false);
        }
        vectors.extend(embedder.embed_passages(slice)?);
    }
    let mut vectors = vectors.into_iter();
    let mut texts = texts.iter();
    let mut points = Vec::with_capacity(texts.len());
    let now = unix_now();
    for doc in pending.iter() {
        if doc.existed {
            store.delete_document(&doc.doc_id)?;
        }
        let count = doc.chunks.len() as u32;
        for (index, chunk) in doc.chunks.iter().enumerate() {
            let vector = vectors
                .next()
                .context("the embedder returned fewer vectors than chunks")?;
            let indexed = texts.next().expect("one indexed text per chunk");
            points.push(Point {
                vector,
                sparse: lexical::passage_vector(indexed),
                document_terms: (index == 0).then(|| doc.terms.clone()),
                payload: ChunkPayload {
                    root: doc.source.root.clone(),
                    path: doc.source.rel.clone(),
                    doc_id: doc.doc_id.clone(),
                    content_hash: doc.hash.clone(),
                    chunk_index: index as u32,
                    chunk_count: count,
                    start_line: chunk.start_line,
                    end_line: chunk.end_line,
                    headings: chunk.headings.clone(),
                    text: chunk.text.clone(),
                    ingested_at: now,
                    kind: Some(doc.kind),
                    modified: doc.modified.unwrap_or(now),
                    pages: chunk.pages.clone(),
                    stamp: doc.stamp.clone(),
                },
            });
        }
        if doc.existed {
            report.updated += 1
        } else {
            report.added += 1
        }
    }
    report.chunks_written += points.len();
    store.upsert(points)?;
    pending.clear();
    Ok(true)
}

/// `wanted` chunk sizes within what the embedder reads whole: the end capped at its limit, the
/// start at half of that, so the splitter keeps room to choose semantic breaks.
fn fit_chunks(wanted: &std::ops::Range<usize>, max_tokens: usize) -> std::ops::Range<usize> {
    let end = wanted.end.min(max_tokens);
    wanted.start.min(end / 2)..end
}

/// Ingests `paths` (folders or files) into `store`, incrementally.
pub fn ingest(
    paths: &[PathBuf],
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    options: &IngestOptions,
) -> Result<IngestReport> {
    let walked = walk(paths)?;
    let problems = walked
        .problems
        .into_iter()
        .map(|p| Failure {
            path: p.path,
            error: p.error,
        })
        .collect();
    ingest_sources(
        walked.files,
        &walked.scopes,
        problems,
        embedder,
        store,
        options,
    )
}

/// Ingests `sources`; documents of the store inside `scopes` that are not among them are removed.
/// `problems` met before (while walking) are carried into the report.
pub fn ingest_sources(
    sources: Vec<Source>,
    scopes: &[Scope],
    problems: Vec<Failure>,
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    options: &IngestOptions,
) -> Result<IngestReport> {
    let started = Instant::now();
    let mut report = IngestReport {
        files_seen: sources.len(),
        failed: problems,
        ..Default::default()
    };
    docent_core::store::check_pairing(embedder, store)?;
    let stored: HashMap<String, StoredDocument> = store
        .documents()?
        .into_iter()
        .map(|d| (d.doc_id.clone(), d))
        .collect();
    let chunker = Chunker::new(
        embedder,
        fit_chunks(&options.chunk_tokens, embedder.max_tokens()),
        options.overlap_tokens,
    )?;
    let mut progress = Progress::new(options.progress, sources.len());
    let walked_ids: HashSet<String> = sources.iter().map(|s| doc_id(&s.root, &s.rel)).collect();
    let cancelled = || {
        options
            .cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    };

    std::thread::scope(|scope| -> Result<()> {
        // A small queue: the worker stays a few files ahead of the embedder, no more.
        let (sender, receiver) = mpsc::sync_channel::<Prepared>(8);
        let stored = &stored;
        let chunker = &chunker;
        let embedder_id = embedder.id();
        scope.spawn(move || {
            for source in sources {
                if cancelled()
                    || sender
                        .send(prepare(source, stored, chunker, options, embedder_id))
                        .is_err()
                {
                    break; // cancelled, or the writer stopped on an error
                }
            }
        });

        let mut pending: Vec<Pending> = Vec::new();
        let mut pending_files = 0;
        for prepared in receiver {
            if let Prepared::Unchanged(Known::Restamp { doc_id, stamp }) = &prepared {
                store.restamp(doc_id, stamp)?;
            }
            sort(prepared, &mut pending, &mut report);
            pending_files += 1;
            if pending.iter().map(|p| p.chunks.len()).sum::<usize>() >= options.batch {
                if !write_batch(&mut pending, embedder, store, &mut report, &cancelled)? {
                    return Ok(()); // cancelled: the worker stops once the queue closes
                }
                progress.advance(std::mem::take(&mut pending_files), report.chunks_written);
            }
        }
        write_batch(&mut pending, embedder, store, &mut report, &cancelled)?;
        progress.advance(pending_files, report.chunks_written);
        Ok(())
    })?;
    progress.finish();
    report.interrupted = cancelled();

    if !report.interrupted {
        report.removed = remove_gone(stored.values(), &walked_ids, scopes, store)?;
    }
    store.flush()?;
    if report.chunks_written > 0 || report.removed > 0 {
        store.optimize()?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A prepared document joins the pending ones (when it has chunks); everything else is counted
/// in the report.
fn sort(prepared: Prepared, pending: &mut Vec<Pending>, report: &mut IngestReport) {
    match prepared {
        Prepared::Document(document) if document.chunks.is_empty() => report.skipped += 1,
        Prepared::Document(document) => pending.push(document),
        Prepared::Unchanged(known) => {
            report.unchanged += 1;
            report.not_read += usize::from(matches!(known, Known::ByStamp));
        }
        Prepared::Unsupported => report.unsupported += 1,
        Prepared::Cancelled => {}
        Prepared::Skipped { source, reason } => {
            tracing::info!("skipped {}: {reason}", source.display());
            report.skipped += 1;
        }
        Prepared::Failed(failure) => report.failed.push(failure),
    }
}

/// Step 6: deletes the `stored` documents under the walked `scopes` whose files are gone (not
/// among `walked`); how many.
fn remove_gone<'a>(
    stored: impl Iterator<Item = &'a StoredDocument>,
    walked: &HashSet<String>,
    scopes: &[Scope],
    store: &dyn VectorStore,
) -> Result<usize> {
    let mut removed = 0;
    for doc in stored {
        if !walked.contains(&doc.doc_id) && scopes.iter().any(|s| s.covers(&doc.root, &doc.path)) {
            store.delete_document(&doc.doc_id)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    use docent_core::testing::{MemoryStore, WordEmbedder};

    fn options() -> IngestOptions {
        IngestOptions {
            chunk_tokens: 8..16,
            overlap_tokens: 0,
            batch: 4,
            progress: ProgressMode::Quiet,
            ..Default::default()
        }
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// A folder holding `files` (name, text), and the one-element path list `ingest` takes.
    fn folder(files: &[(&str, &str)]) -> (tempfile::TempDir, [PathBuf; 1]) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            write(dir.path(), name, text);
        }
        let paths = [dir.path().to_path_buf()];
        (dir, paths)
    }

    const KETTLE: &str = "# Kettles\n\nA kettle boils water in three minutes. It switches itself off when the water boils.\n";
    const TEA: &str = "Green tea is brewed at seventy degrees.\n\nBoiling water makes green tea bitter, so let it cool first.\n";

    #[test]
    fn a_folder_is_synced_file_by_file_and_only_what_changed_is_indexed_again() {
        let (dir, folder) = folder(&[
            ("kettle.md", KETTLE),
            ("tea.txt", TEA),
            ("notes.txt", "Call the plumber on Monday.\n"),
            ("photo.jpg", "not text"),
        ]);
        let (embedder, store) = (WordEmbedder::default(), MemoryStore::default());

        let first = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!(
            (first.added, first.unsupported, first.chunks_written),
            (3, 1, store.count().unwrap()),
            "{first:?}"
        );
        assert!(
            first.chunks_written > 3,
            "small chunks: several per file ({first:?})"
        );
        let again = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!((again.unchanged, again.chunks_written), (3, 0), "{again:?}");

        write(
            dir.path(),
            "tea.txt",
            "Black tea is brewed with boiling water.\n",
        );
        std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
        let synced = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!(
            (synced.updated, synced.removed, synced.unchanged),
            (1, 1, 1),
            "{synced:?}"
        );
        let documents = store.documents().unwrap();
        assert_eq!(documents.len(), 2);
        assert!(documents.iter().all(|d| d.complete), "{documents:?}");
        // The edited file's old chunks are gone, not left beside the new ones.
        let texts: Vec<String> = store.payloads().into_iter().map(|p| p.text).collect();
        assert!(
            texts.iter().any(|t| t.contains("Black tea"))
                && !texts.iter().any(|t| t.contains("Green tea")),
            "{texts:?}"
        );
    }

    /// Sets `name`'s modification time to `ago` seconds before now.
    fn modified_ago(dir: &std::path::Path, name: &str, ago: u64) -> std::time::SystemTime {
        let time = std::time::SystemTime::now() - std::time::Duration::from_secs(ago);
        set_modified(dir, name, time);
        time
    }

    fn set_modified(dir: &std::path::Path, name: &str, time: std::time::SystemTime) {
        let file = std::fs::File::options()
            .write(true)
            .open(dir.join(name))
            .unwrap();
        file.set_modified(time).unwrap();
    }

    fn stamps(store: &MemoryStore) -> std::collections::BTreeMap<String, Option<String>> {
        let documents = store.documents().unwrap();
        documents.into_iter().map(|d| (d.path, d.stamp)).collect()
    }

    #[test]
    fn a_quiet_file_is_known_by_its_size_and_times_without_being_read() {
        let (dir, folder) = folder(&[("kettle.md", KETTLE), ("tea.txt", TEA)]);
        modified_ago(dir.path(), "kettle.md", 3600);
        let tea_time = modified_ago(dir.path(), "tea.txt", 3600);
        let (embedder, store) = (WordEmbedder::default(), MemoryStore::default());
        let first = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!((first.added, first.not_read), (2, 0), "{first:?}");
        let stamped = stamps(&store);
        assert!(stamped.values().all(Option::is_some), "{stamped:?}");

        let again = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!((again.unchanged, again.not_read), (2, 2), "{again:?}");

        // Touched, not changed: read once, its points take the new stamp, quiet again after.
        modified_ago(dir.path(), "kettle.md", 1800);
        let touched = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!(
            (touched.unchanged, touched.not_read, touched.chunks_written),
            (2, 1, 0),
            "{touched:?}"
        );
        let restamped = stamps(&store);
        assert_ne!(restamped["kettle.md"], stamped["kettle.md"]);
        assert_eq!(restamped["tea.txt"], stamped["tea.txt"]);
        let quiet = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!(quiet.not_read, 2, "{quiet:?}");

        // Rewritten to the same size with its old modification time put back (as `rsync -t`
        // or `touch -d` do): the change time still tells.
        let same_size = TEA.replace("Green", "Black");
        assert_eq!(same_size.len(), TEA.len());
        write(dir.path(), "tea.txt", &same_size);
        set_modified(dir.path(), "tea.txt", tea_time);
        let rewritten = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!(
            (rewritten.updated, rewritten.not_read),
            (1, 1),
            "{rewritten:?}"
        );

        // A file modified this very second is read at every sync until its times can tell.
        write(dir.path(), "notes.txt", "Call the plumber on Monday.\n");
        ingest(&folder, &embedder, &store, &options()).unwrap();
        let fresh = ingest(&folder, &embedder, &store, &options()).unwrap();
        assert_eq!((fresh.unchanged, fresh.not_read), (3, 2), "{fresh:?}");

        // Indexed another way (other chunk sizes): every file is read and indexed again.
        let other = IngestOptions {
            chunk_tokens: 10..20,
            ..options()
        };
        let reindexed = ingest(&folder, &embedder, &store, &other).unwrap();
        assert_eq!(
            (reindexed.updated, reindexed.not_read),
            (3, 0),
            "{reindexed:?}"
        );
    }

    #[test]
    fn a_write_that_fails_midway_leaves_no_document_looking_whole_and_the_next_run_repairs_it() {
        let (_dir, folder) = folder(&[("kettle.md", KETTLE), ("tea.txt", TEA)]);
        let (embedder, store) = (WordEmbedder::default(), MemoryStore::default());
        let whole = MemoryStore::default();
        ingest(&folder, &embedder, &whole, &options()).unwrap();
        // The last point of the last document is never written.
        store.fail_after(Some(whole.count().unwrap() - 1));
        assert!(ingest(&folder, &embedder, &store, &options()).is_err());
        let documents = store.documents().unwrap();
        assert!(
            !documents.is_empty() && documents.iter().any(|d| !d.complete),
            "{documents:?}"
        );

        store.fail_after(None);
        let repaired = ingest(&folder, &embedder, &store, &options()).unwrap();
        // The whole document is left alone; the one missing a point is indexed again.
        assert_eq!(
            (repaired.unchanged, repaired.updated),
            (1, 1),
            "{repaired:?}"
        );
        assert!(store.documents().unwrap().iter().all(|d| d.complete));
    }

    #[test]
    fn a_store_another_embedder_filled_is_not_written() {
        let (_dir, folder) = folder(&[("kettle.md", KETTLE)]);
        let other =
            MemoryStore::recording(docent_core::store::StoreMeta::new("another-model", 256));
        let err = ingest(&folder, &WordEmbedder::default(), &other, &options()).unwrap_err();
        assert!(
            err.to_string().contains("holds another-model vectors"),
            "{err}"
        );
        assert_eq!(other.count().unwrap(), 0);
    }

    #[test]
    fn a_cancelled_ingest_stops_and_removes_nothing() {
        let (dir, folder) = folder(&[("kettle.md", KETTLE), ("tea.txt", TEA)]);
        let (embedder, store) = (WordEmbedder::default(), MemoryStore::default());
        ingest(&folder, &embedder, &store, &options()).unwrap();

        std::fs::remove_file(dir.path().join("tea.txt")).unwrap();
        write(dir.path(), "kettle.md", "A kettle with a whistle.\n");
        let cancel = Some(Arc::new(AtomicBool::new(true)));
        let stopped = ingest(
            &folder,
            &embedder,
            &store,
            &IngestOptions {
                cancel,
                ..options()
            },
        )
        .unwrap();
        assert!(stopped.interrupted, "{stopped:?}");
        assert_eq!((stopped.updated, stopped.removed), (0, 0), "{stopped:?}");
        assert_eq!(
            store.documents().unwrap().len(),
            2,
            "the gone file is removed only by a whole run"
        );
    }

    /// A file that would yield more chunks than its size allows (here: one-word chunks of a
    /// long text) fails alone, with its numbers; the rest of the folder is ingested.
    #[test]
    fn a_file_that_splits_into_too_many_chunks_fails_alone() {
        let words = "tea ".repeat(20_000);
        let (_dir, folder) = folder(&[("kettle.md", KETTLE), ("words.txt", &words)]);
        let (embedder, store) = (WordEmbedder::default(), MemoryStore::default());
        let tiny = IngestOptions {
            chunk_tokens: 1..2,
            ..options()
        };
        let report = ingest(&folder, &embedder, &store, &tiny).unwrap();
        assert_eq!(report.added, 1, "{report:?}");
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert!(
            report.failed[0].path.ends_with("words.txt")
                && report.failed[0]
                    .error
                    .contains("chunks from 80000 bytes (at most 1891)"),
            "{report:?}"
        );
    }

    #[test]
    fn chunks_fit_the_embedders_input() {
        assert_eq!(fit_chunks(&(200..400), 512), 200..400);
        assert_eq!(fit_chunks(&(200..400), 256), 128..256);
        assert_eq!(fit_chunks(&(10..20), 256), 10..20);
    }

    #[test]
    fn doc_ids_depend_on_root_and_path() {
        assert_eq!(doc_id("/a", "x.md"), doc_id("/a", "x.md"));
        assert_ne!(doc_id("/a", "x.md"), doc_id("/b", "x.md"));
        assert_ne!(doc_id("/a", "bx.md"), doc_id("/ab", "x.md"));
        assert_eq!(doc_id("/a", "x.md").len(), 16);
    }

    /// A file the walk found, replaced by a link to a secret before it is read, is not read;
    /// neither is a FIFO (which would block the ingest), and a file read is bounded.
    #[test]
    fn a_file_swapped_for_a_link_after_the_walk_is_not_read() {
        let outside = secret_outside();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("notes.md"), "Kettles boil water.").unwrap();
        let walked = crate::walk::walk(&[root.path().to_path_buf()])
            .unwrap()
            .files;
        assert_eq!(walked.len(), 1);
        let options = IngestOptions {
            max_file_bytes: 64,
            ..Default::default()
        };
        assert!(
            matches!(read(&walked[0], &options, "e", None), Ok(Read { bytes, .. }) if bytes == b"Kettles boil water.")
        );

        std::fs::remove_file(root.path().join("notes.md")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.md"),
            root.path().join("notes.md"),
        )
        .unwrap();
        let error = refused(&walked[0], &options);
        assert!(error.contains("became a symbolic link"), "{error}");

        std::fs::remove_file(root.path().join("notes.md")).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(root.path().join("notes.md"))
                .status()
                .unwrap()
                .success()
        );
        assert!(matches!(
            read(&walked[0], &options, "e", None),
            Err(Prepared::Failed(_))
        ));

        std::fs::remove_file(root.path().join("notes.md")).unwrap();
        std::fs::write(root.path().join("notes.md"), "x".repeat(65)).unwrap();
        assert!(matches!(
            read(&walked[0], &options, "e", None),
            Err(Prepared::Skipped { .. })
        ));
    }

    /// A folder outside every walked root, holding `secret.md`.
    fn secret_outside() -> tempfile::TempDir {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("secret.md"),
            "The launch code is zebra-kumquat-42.",
        )
        .unwrap();
        outside
    }

    /// Why reading `source` failed; a test failure if it was read, or refused otherwise.
    fn refused(source: &Source, options: &IngestOptions) -> String {
        match read(source, options, "e", None) {
            Err(Prepared::Failed(failure)) => failure.error,
            Err(_) => panic!("not a failure"),
            Ok(Read { bytes, .. }) => {
                panic!("read through the link: {}", String::from_utf8_lossy(&bytes))
            }
        }
    }

    /// The second attack review's watch race: a folder the walk went through is swapped for a
    /// link to one outside (`mv zz zz_old; ln -s /outside zz`) before its files are read. The
    /// read goes component by component from the root, so it finds the link and stops.
    #[test]
    fn a_folder_swapped_for_a_link_after_the_walk_is_not_read_through() {
        let outside = secret_outside();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("zz/deeper")).unwrap();
        std::fs::write(root.path().join("zz/secret.md"), "Kettles boil water.").unwrap();
        std::fs::write(root.path().join("zz/deeper/secret.md"), "Tea steeps.").unwrap();
        let walked = crate::walk::walk(&[root.path().to_path_buf()])
            .unwrap()
            .files;
        assert_eq!(walked.len(), 2);
        let options = IngestOptions::default();
        assert!(
            matches!(read(&walked[1], &options, "e", None), Ok(Read { bytes, .. }) if bytes == b"Kettles boil water.")
        );

        std::fs::rename(root.path().join("zz"), root.path().join("zz_old")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("zz")).unwrap();
        std::fs::create_dir(outside.path().join("deeper")).unwrap();
        std::fs::write(outside.path().join("deeper/secret.md"), "The launch code.").unwrap();
        for source in &walked {
            let error = refused(source, &options);
            assert!(
                error.contains("a folder on its path became a symbolic link"),
                "{error}"
            );
        }
    }

    /// A cancel that comes while a file's chunks are embedded stops the ingest between slices
    /// of the embedding, not after the whole file; nothing of that file is written, and the
    /// stored version stays whole.
    #[test]
    fn a_cancel_reaches_inside_a_file() {
        let long: String = (0..200)
            .map(|i| format!("Sentence {i} says the kettle boils water for tea.\n\n"))
            .collect();
        let (dir, folder) = folder(&[("long.md", &long)]);
        let (embedder, store) = (WordEmbedder::default(), MemoryStore::default());
        let options = IngestOptions {
            batch: 1000,
            ..options()
        };
        ingest(&folder, &embedder, &store, &options).unwrap();
        let stored = store.payloads();
        assert!(stored.len() > 4 * EMBED_SLICE, "{} chunks", stored.len());

        write(dir.path(), "long.md", &long.replace("kettle", "teapot"));
        let cancel = Arc::new(AtomicBool::new(false));
        let counting = CancelAfter {
            inner: &embedder,
            calls: Default::default(),
            after: 2,
            cancel: cancel.clone(),
        };
        let stopped = ingest(
            &folder,
            &counting,
            &store,
            &IngestOptions {
                cancel: Some(cancel),
                ..options
            },
        )
        .unwrap();
        assert!(stopped.interrupted, "{stopped:?}");
        assert_eq!(
            counting.calls.load(Ordering::Relaxed),
            2,
            "the embedder is not called again once cancelled"
        );
        assert_eq!(
            (stopped.updated, stopped.chunks_written),
            (0, 0),
            "{stopped:?}"
        );
        assert_eq!(store.payloads(), stored, "the stored version is untouched");
    }

    /// An embedder that sets `cancel` once it has been called `after` times.
    struct CancelAfter<'a> {
        inner: &'a WordEmbedder,
        calls: std::sync::atomic::AtomicUsize,
        after: usize,
        cancel: Arc<AtomicBool>,
    }

    impl Embedder for CancelAfter<'_> {
        fn id(&self) -> &str {
            self.inner.id()
        }
        fn dimension(&self) -> usize {
            self.inner.dimension()
        }
        fn max_tokens(&self) -> usize {
            self.inner.max_tokens()
        }
        fn count_tokens(&self, text: &str) -> usize {
            self.inner.count_tokens(text)
        }
        fn embed_passages(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
            if self.calls.fetch_add(1, Ordering::Relaxed) + 1 >= self.after {
                self.cancel.store(true, Ordering::Relaxed);
            }
            self.inner.embed_passages(texts)
        }
        fn embed_query(&self, text: &str) -> anyhow::Result<Vec<f32>> {
            self.inner.embed_query(text)
        }
        fn supports(&self, language: docent_core::Language) -> bool {
            self.inner.supports(language)
        }
        fn relevance_floor(&self) -> f32 {
            self.inner.relevance_floor()
        }
    }
}
