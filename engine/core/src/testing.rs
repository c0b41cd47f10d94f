//! In-memory fakes of the three boundaries, for tests that exercise docent's logic without
//! models or a store on disk: they run in milliseconds and behave the same on every machine.
//!
//! - [`WordEmbedder`]: a bag of hashed words, so texts that share words are near.
//! - [`MemoryStore`]: points in a `Vec`; dense search by cosine, lexical by the dot product of the
//!   BM25 vectors (no IDF: every term weighs the same).
//! - [`FixedStore`]: the same hits for every query.
//! - [`ScriptedGenerator`]: writes a fixed text (or one of a few, in turn), in which `{path}`
//!   stands for the number the prompt gave that file's source; counts how often it was asked, and
//!   keeps the last chat it was given.
//!
//! And builders of test data with plain defaults, changed field by field where a test cares:
//! [`chunk`] (a stored chunk's payload) and [`evidence`] (one numbered source).

use std::ops::ControlFlow;
use std::sync::Mutex;

use anyhow::Result;

use crate::answer::evidence::Evidence;
use crate::generate::{Chat, ChatMessage, GenerationParams, GenerationStats, Generator, Tool};
use crate::retrieve::lexical::{Sparse, term_id};
use crate::store::{
    Candidate, Filter, ListingPayload, Point, StoreMeta, StoreQuery, StoredDocument, VectorStore,
    fold_documents, hits_in_order,
};
use crate::text::language::Language;
use crate::text::tokens::answer_tokens;
use crate::types::{ChunkPayload, DocumentKind};
use crate::{Embedder, Hit};

/// The payload of a document's only chunk: `text` at `path` (also its id) under `/docs`, a
/// Markdown file of one line, ingested and modified at time 0.
pub fn chunk(path: &str, text: &str) -> ChunkPayload {
    ChunkPayload {
        root: "/docs".into(),
        path: path.into(),
        doc_id: path.into(),
        content_hash: "h".into(),
        chunk_index: 0,
        chunk_count: 1,
        start_line: 1,
        end_line: 1,
        headings: Vec::new(),
        text: text.into(),
        ingested_at: 0,
        kind: Some(DocumentKind::Md),
        modified: 0,
        pages: None,
        stamp: None,
    }
}

/// Source `n` of an answer: `text` (its sentences the window), from line 1 of `path` (also its
/// id).
pub fn evidence(n: usize, path: &str, text: &str) -> Evidence {
    Evidence {
        n,
        path: path.into(),
        doc_id: path.into(),
        start_line: 1,
        end_line: 1,
        headings: Vec::new(),
        text: text.into(),
        focus: vec![text.into()],
        score: 1.0,
        pages: None,
        from_tool: false,
        window: crate::text::sentences::split(text)
            .into_iter()
            .map(|s| s.text)
            .collect(),
        best_at: 0,
    }
}

/// Embeds text as its words, each hashed to one of `dimension` axes, normalised.
pub struct WordEmbedder {
    /// Length of the vectors.
    pub dimension: usize,
}

impl Default for WordEmbedder {
    fn default() -> Self {
        WordEmbedder { dimension: 256 }
    }
}

impl WordEmbedder {
    fn vector(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimension];
        for word in answer_tokens(text) {
            vector[term_id(&word) as usize % self.dimension] += 1.0;
        }
        crate::embed::normalized(vector)
    }
}

impl Embedder for WordEmbedder {
    fn id(&self) -> &str {
        "fake-words"
    }
    fn dimension(&self) -> usize {
        self.dimension
    }
    /// One token per word (per character in Chinese), and two for the start and end markers.
    fn count_tokens(&self, text: &str) -> usize {
        answer_tokens(text).len() + 2
    }
    fn max_tokens(&self) -> usize {
        512
    }
    fn embed_passages(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }
    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.vector(text))
    }
    fn supports(&self, _: Language) -> bool {
        true
    }
    fn relevance_floor(&self) -> f32 {
        0.2
    }
}

/// A store in memory, filled by a [`WordEmbedder::default`] unless made with
/// [`MemoryStore::recording`]. [`MemoryStore::fail_after`] makes writes fail once it holds that
/// many points, to test what an interrupted write leaves behind.
pub struct MemoryStore {
    points: Mutex<Vec<Point>>,
    capacity: Mutex<Option<usize>>,
    meta: StoreMeta,
    /// How many times the paths were listed.
    paths_listed: Mutex<usize>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::recording(StoreMeta::of(&WordEmbedder::default()))
    }
}

impl MemoryStore {
    /// An empty store that says `meta` filled it.
    pub fn recording(meta: StoreMeta) -> Self {
        MemoryStore {
            points: Mutex::default(),
            capacity: Mutex::default(),
            meta,
            paths_listed: Mutex::default(),
        }
    }

    /// How many times [`VectorStore::paths`] was called: path globs should be resolved once
    /// per question, not once per channel.
    pub fn paths_listed(&self) -> usize {
        *self.paths_listed.lock().unwrap()
    }

    /// From now on, `upsert` fails once `points` points are stored (`None`: never).
    pub fn fail_after(&self, points: Option<usize>) {
        *self.capacity.lock().unwrap() = points;
    }

    /// Every stored point's payload, in storing order.
    pub fn payloads(&self) -> Vec<ChunkPayload> {
        self.points
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.payload.clone())
            .collect()
    }
}

fn dot(a: &Sparse, b: &Sparse) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

impl VectorStore for MemoryStore {
    fn meta(&self) -> &StoreMeta {
        &self.meta
    }
    fn upsert(&self, points: Vec<Point>) -> Result<()> {
        let mut stored = self.points.lock().unwrap();
        for point in points {
            if self
                .capacity
                .lock()
                .unwrap()
                .is_some_and(|limit| stored.len() >= limit)
            {
                anyhow::bail!("the store is full (a test's fail_after)");
            }
            let id = point.id();
            stored.retain(|p| p.id() != id);
            stored.push(point);
        }
        Ok(())
    }
    fn delete_document(&self, doc_id: &str) -> Result<()> {
        self.points
            .lock()
            .unwrap()
            .retain(|p| p.payload.doc_id != doc_id);
        Ok(())
    }
    fn restamp(&self, doc_id: &str, stamp: &str) -> Result<()> {
        for point in self.points.lock().unwrap().iter_mut() {
            if point.payload.doc_id == doc_id {
                point.payload.stamp = Some(stamp.into());
            }
        }
        Ok(())
    }
    fn paths(&self) -> Result<Vec<String>> {
        *self.paths_listed.lock().unwrap() += 1;
        let points = self.points.lock().unwrap();
        let paths: std::collections::BTreeSet<String> =
            points.iter().map(|p| p.payload.path.clone()).collect();
        Ok(paths.into_iter().collect())
    }
    fn documents(&self) -> Result<Vec<StoredDocument>> {
        let points = self.points.lock().unwrap();
        Ok(fold_documents(points.iter().map(|p| ListingPayload {
            root: p.payload.root.clone(),
            path: p.payload.path.clone(),
            doc_id: p.payload.doc_id.clone(),
            content_hash: p.payload.content_hash.clone(),
            chunk_count: p.payload.chunk_count,
            ingested_at: p.payload.ingested_at,
            stamp: p.payload.stamp.clone(),
        })))
    }
    fn search(&self, query: &StoreQuery, filter: &Filter, k: usize) -> Result<Vec<Hit>> {
        let points = self.points.lock().unwrap();
        let admits = filter.admitter()?;
        let mut scored: Vec<(f32, &Point)> = points
            .iter()
            .filter(|p| admits(&p.payload))
            .filter_map(|p| {
                let score = match query {
                    StoreQuery::Dense(v) => v.iter().zip(&p.vector).map(|(a, b)| a * b).sum(),
                    StoreQuery::Lexical(terms) => dot(terms, &p.sparse),
                    StoreQuery::Documents(terms) => dot(terms, p.document_terms.as_ref()?),
                };
                (score > 0.0).then_some((score, p))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(scored
            .into_iter()
            .take(k)
            .map(|(score, p)| Hit::from_payload(score, p.payload.clone()))
            .collect())
    }
    fn hits(&self, found: &[Candidate]) -> Result<Vec<Hit>> {
        let points = self.points.lock().unwrap();
        Ok(hits_in_order(
            found,
            points.iter().map(|p| (p.id(), p.payload.clone())),
        ))
    }
    fn count(&self) -> Result<usize> {
        Ok(self.points.lock().unwrap().len())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// Writes `script` word by word, as a model streams, with `{path}` replaced by the number the
/// prompt gave the source from file `path` (or 9 when it gave none). It calls tools in Qwen's
/// markup when its script says so.
pub struct ScriptedGenerator {
    /// What it writes: the first time the first, and so on; the last again once all were written.
    replies: Vec<String>,
    asked: Mutex<usize>,
    /// The last chat: its messages, the tools offered, and how its reply was begun.
    last: Mutex<(Vec<ChatMessage>, Vec<Tool>, String)>,
    /// Context length it reports; the prompt is fitted into it.
    pub context: usize,
    /// The languages it can write.
    pub languages: Vec<Language>,
}

impl ScriptedGenerator {
    /// A generator that writes `script` (see the type's doc), in English, with a 4,096-token context.
    pub fn new(script: &str) -> Self {
        Self::replies(&[script])
    }

    /// A generator that writes `replies` in turn, then the last one again.
    pub fn replies(replies: &[&str]) -> Self {
        ScriptedGenerator {
            replies: replies.iter().map(|r| r.to_string()).collect(),
            asked: Mutex::new(0),
            last: Default::default(),
            context: 4096,
            languages: vec![Language::English],
        }
    }

    /// How many times it was asked to generate.
    pub fn asked(&self) -> usize {
        *self.asked.lock().unwrap()
    }

    /// The last chat it was asked to continue: messages, tools, the reply's given start.
    pub fn last_chat(&self) -> (Vec<ChatMessage>, Vec<Tool>, String) {
        self.last.lock().unwrap().clone()
    }
}

/// The number the prompt gave the source from `path`.
fn source_number(prompt: &str, path: &str) -> String {
    prompt
        .lines()
        .find(|l| l.starts_with('[') && l.contains(&format!("] {path}:")))
        .and_then(|l| l[1..].split(']').next())
        .unwrap_or("9")
        .to_string()
}

impl Generator for ScriptedGenerator {
    fn name(&self) -> &str {
        "scripted"
    }
    fn context_length(&self) -> usize {
        self.context
    }
    fn writes(&self, language: Language) -> bool {
        self.languages.contains(&language)
    }
    fn calls_tools(&self) -> bool {
        true
    }
    /// A token per four bytes.
    fn count_tokens(&self, chat: Chat<'_>) -> Result<usize> {
        Ok(chat.messages.iter().map(|m| m.content.len() / 4).sum())
    }
    fn generate(
        &self,
        chat: Chat<'_>,
        _: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerationStats> {
        let turn = {
            let mut asked = self.asked.lock().unwrap();
            *asked += 1;
            (*asked - 1).min(self.replies.len() - 1)
        };
        *self.last.lock().unwrap() = (
            chat.messages.to_vec(),
            chat.tools.to_vec(),
            chat.reply_start.to_string(),
        );
        let prompt: String = chat
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let mut text = self.replies[turn].clone();
        // `{path}` is a file's name; braces around anything with quotes are JSON (a tool call).
        let mut from = 0;
        while let Some(start) = text[from..].find('{').map(|at| from + at) {
            let Some(len) = text[start..].find('}') else {
                break;
            };
            let path = text[start + 1..start + len].to_string();
            if path.contains(['"', '{']) {
                from = start + 1;
                continue;
            }
            let number = source_number(&prompt, &path);
            text.replace_range(start..=start + len, &number);
            from = start + number.len();
        }
        let mut generated = 0;
        for piece in text.split_inclusive(' ') {
            generated += 1;
            if on_text(piece).is_break() {
                break;
            }
        }
        let prompt_tokens = self.count_tokens(chat)?;
        Ok(GenerationStats {
            prompt_tokens,
            generated_tokens: generated,
            ..Default::default()
        })
    }
}

/// A store that answers every search with the same hits, whatever the query: for tests of what
/// happens after retrieval.
pub struct FixedStore {
    hits: Vec<Hit>,
    meta: StoreMeta,
}

impl FixedStore {
    /// A store of `embedder`'s that finds `hits` for every query.
    pub fn new(embedder: &dyn Embedder, hits: Vec<Hit>) -> Self {
        FixedStore {
            hits,
            meta: StoreMeta::of(embedder),
        }
    }
}

impl VectorStore for FixedStore {
    fn meta(&self) -> &StoreMeta {
        &self.meta
    }
    fn upsert(&self, _: Vec<Point>) -> Result<()> {
        Ok(())
    }
    fn delete_document(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn restamp(&self, _: &str, _: &str) -> Result<()> {
        Ok(())
    }
    fn documents(&self) -> Result<Vec<StoredDocument>> {
        Ok(Vec::new())
    }
    fn paths(&self) -> Result<Vec<String>> {
        let paths: std::collections::BTreeSet<String> =
            self.hits.iter().map(|h| h.path.clone()).collect();
        Ok(paths.into_iter().collect())
    }
    fn search(&self, _: &StoreQuery, filter: &Filter, k: usize) -> Result<Vec<Hit>> {
        Ok(self
            .hits
            .iter()
            // Hits carry no kind or date: only the documents and exact paths apply here.
            .filter(|h| filter.documents.is_empty() || filter.documents.contains(&h.doc_id))
            .filter(|h| {
                filter
                    .exact_paths
                    .as_ref()
                    .is_none_or(|exact| exact.contains(&h.path))
            })
            .take(k)
            .cloned()
            .collect())
    }
    fn hits(&self, found: &[Candidate]) -> Result<Vec<Hit>> {
        Ok(found
            .iter()
            .filter_map(|c| {
                let hit = self
                    .hits
                    .iter()
                    .find(|h| h.doc_id == c.doc_id && h.chunk == c.chunk)?;
                Some(Hit {
                    score: c.score,
                    ..hit.clone()
                })
            })
            .collect())
    }
    fn count(&self) -> Result<usize> {
        Ok(self.hits.len())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
