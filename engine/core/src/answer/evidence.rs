//! Evidence selection: from the retrieved chunks, the few sentences that answer the question,
//! each with its neighbours, under a token budget. This, not whole chunks, is what the generator
//! reads and what an extractive answer quotes (extractive compression, as in RECOMP; windows
//! around the best sentences, as in LlamaIndex's sentence window).
//!
//! The chain: every sentence of every hit ([`crate::text::sentences`]) → a lexical score (BM25 of the
//! question's terms against the sentence, IDF over these sentences) plus a small prior for the
//! hit's rank → the best [`SHORTLIST`] are embedded as passages and scored by similarity to the
//! question → windows of ±[`WINDOW`] sentences around the best, merged where they touch, until
//! the budget is spent. Each window is one numbered [`Evidence`].

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use serde::Serialize;

use crate::embed::Embedder;
use crate::retrieve::lexical;
use crate::text::sentences::{self, Kind, Sentence};
use crate::text::tokens::{content_tokens, cosine};
use crate::types::{Hit, Located};

/// One numbered source of an answer: a window of sentences from one retrieved chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Its number in the prompt and in citations, from 1.
    pub n: usize,
    /// The document's path.
    pub path: String,
    /// The document's id.
    pub doc_id: String,
    /// First and last line (1-based, inclusive) of the window in the document.
    pub start_line: u32,
    /// Last line of the window (inclusive).
    pub end_line: u32,
    /// Headings enclosing the window, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headings: Vec<String>,
    /// The window's text: sentences as in the document, wrapped lines joined.
    pub text: String,
    /// The sentences of `text` that were chosen for the question, best first.
    pub focus: Vec<String>,
    /// The best chosen sentence's score (0–1).
    pub score: f32,
    /// The pages of its first and last lines, in a paged document (PDF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<(u32, u32)>,
    /// A tool's result read back to the model (function calling), not a passage of the store:
    /// the model reads it where the tool's reply is, not among the sources.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_tool: bool,
    /// The window's sentences, and where the best chosen one is among them.
    #[serde(skip)]
    pub(crate) window: Vec<String>,
    #[serde(skip)]
    pub(crate) best_at: usize,
}

impl Evidence {
    /// Source `n`: what the tool `name` returned.
    pub(crate) fn from_tool(n: usize, name: &str, result: &str) -> Evidence {
        let sentences = sentences::split(result);
        let window: Vec<String> = sentences.iter().map(|s| s.text.clone()).collect();
        Evidence {
            n,
            path: format!("tool:{name}"),
            doc_id: String::new(),
            start_line: 1,
            end_line: result.trim().lines().count().max(1) as u32,
            headings: Vec::new(),
            text: result.trim().to_string(),
            focus: window.clone(),
            score: 1.0,
            pages: None,
            from_tool: true,
            window,
            best_at: 0,
        }
    }
}

impl Located for Evidence {
    fn path(&self) -> &str {
        &self.path
    }
    fn lines(&self) -> (u32, u32) {
        (self.start_line, self.end_line)
    }
    fn pages(&self) -> Option<(u32, u32)> {
        self.pages
    }
}

/// How much evidence to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceOptions {
    /// Tokens (the embedder's) all windows together may hold.
    pub budget_tokens: usize,
}

impl Default for EvidenceOptions {
    fn default() -> Self {
        EvidenceOptions { budget_tokens: 300 }
    }
}

/// Sentences on each side of a chosen one that come with it.
pub const WINDOW: usize = 1;
/// Sentences that reach the embedding stage: enough to hold the answer, few enough to embed
/// in a fraction of a second on a CPU.
pub const SHORTLIST: usize = 16;
/// Each hit's best sentences by words and rank reach the embedding stage too, so that a chunk
/// ranked low by the retriever, or outnumbered by another document's chunks, still competes.
pub const SHORTLIST_PER_HIT: usize = 2;
/// … for the first this many hits (an answer may draw on 50; each embedding costs time).
pub const SHORTLIST_HITS: usize = 8;
/// Each signal's weight in a sentence's score: meaning leads, then the question's words, then
/// the retriever's rank of the chunk (1/rank), which has seen the whole chunk and document where
/// the other two see one sentence. On the development sets a rank weight of 0.3 cited a relevant
/// document in 0.49 (en) and 0.46 (zh) of extractive answers, against 0.41 and 0.43 at 0.1;
/// 0.6 was no better.
const WEIGHTS: Scoring = Scoring {
    dense: 0.55,
    lexical: 0.35,
    rank: 0.30,
};

/// A sentence restates the question when it holds at least this share of the question's
/// content words …
const RESTATED: f32 = 0.8;
/// … and less than this share of its own content words are new.
const MIN_NEW: f32 = 0.5;

/// Whether `sentence` mostly repeats the question: a heading that asks it, or a cross-reference
/// that quotes it ("see section 7.9, 'What does it mean …?'"), which outscores every answer on
/// both words and meaning. Such a sentence may stand in a window, never alone. (A short answer
/// that reuses the question's words, "Set the EDITOR variable.", holds too little of it.) A
/// sentence that quotes the question is a pointer to where it is answered, however much else it
/// says: "Debian 邮件列表存档，dpkg 程序员手册和 Debian 政策文档（参见第 12.1 节 “Debian 系统中还能获得哪些
/// 有针对性的文档？”），众多开发者…" is a list of the FAQ's authors, chosen for that question by its quote.
fn restates(sentence: &str, question: &HashSet<String>) -> bool {
    let words = |text: &str| {
        content_tokens(text)
            .into_iter()
            .collect::<HashSet<String>>()
    };
    let shared = |tokens: &HashSet<String>| tokens.intersection(question).count() as f32;
    let tokens = words(sentence);
    if question.is_empty() || tokens.is_empty() {
        return false;
    }
    let in_both = shared(&tokens);
    let covered = in_both / question.len() as f32;
    let new = 1.0 - in_both / tokens.len() as f32;
    (covered >= RESTATED && new < MIN_NEW)
        || sentences::quoted_questions(sentence)
            .map(words)
            .any(|quote| shared(&quote) / question.len() as f32 >= RESTATED)
}

struct Scoring {
    dense: f32,
    lexical: f32,
    rank: f32,
}

/// A sentence of one hit, with its scores.
struct Candidate {
    hit: usize,
    index: usize,
    lexical: f32,
    prior: f32,
    score: f32,
}

/// The evidence for `question` (embedded by `embedder` as `question_vector`) from `hits` (best
/// first), numbered from 1, best first.
pub fn select(
    question: &str,
    question_vector: &[f32],
    hits: &[Hit],
    embedder: &dyn Embedder,
    options: &EvidenceOptions,
) -> Result<Vec<Evidence>> {
    let split: Vec<Vec<Sentence>> = hits
        .iter()
        .map(|hit| {
            sentences::split(&hit.text)
                .into_iter()
                .filter(|s| s.kind != Kind::Heading)
                .collect()
        })
        .collect();
    let candidates = by_words(question, hits, &split);
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let candidates = by_meaning(candidates, question_vector, hits, &split, embedder)?;
    let windows = windows(&candidates, &split, embedder, options.budget_tokens);
    Ok(windows
        .into_iter()
        .enumerate()
        .map(|(i, w)| numbered(i + 1, &w, &hits[w.hit], &split[w.hit]))
        .collect())
}

/// Every sentence that may answer alone, scored by the question's words (BM25, IDF over these
/// sentences) and its hit's rank.
fn by_words(question: &str, hits: &[Hit], split: &[Vec<Sentence>]) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = Vec::new();
    let terms: Vec<Vec<(u32, f32)>> = split
        .iter()
        .flat_map(|sentences| sentences.iter().map(|s| lexical::passage_vector(&s.text)))
        .collect();
    let idf = inverse_document_frequencies(&terms);
    let query = lexical::query_vector(question);
    let question_tokens: HashSet<String> = content_tokens(question).into_iter().collect();
    let mut next_terms = terms.iter();
    for (hit, sentences) in split.iter().enumerate() {
        for index in 0..sentences.len() {
            let vector = next_terms.next().expect("one vector per sentence");
            if index == 0
                && hits[hit].chunk > 0
                && sentences[0].text.starts_with(|c: char| c.is_lowercase())
            {
                // The tail of a sentence the chunker cut: it may stand in a window, never alone.
                continue;
            }
            if restates(&sentences[index].text, &question_tokens) {
                continue;
            }
            let lexical = bm25(&query, vector, &idf);
            let prior = 1.0 / (1.0 + hit as f32);
            candidates.push(Candidate {
                hit,
                index,
                lexical,
                prior,
                score: 0.0,
            });
        }
    }
    candidates
}

/// The candidates shortlisted by words and rank, then scored with meaning too, best first, each
/// document's best sentence before any document's second.
fn by_meaning(
    mut candidates: Vec<Candidate>,
    question_vector: &[f32],
    hits: &[Hit],
    split: &[Vec<Sentence>],
    embedder: &dyn Embedder,
) -> Result<Vec<Candidate>> {
    for c in &mut candidates {
        c.score = WEIGHTS.lexical * c.lexical + WEIGHTS.rank * c.prior;
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut per_hit = vec![0; hits.len()];
    let mut position = 0;
    candidates.retain(|c| {
        per_hit[c.hit] += 1;
        position += 1;
        position <= SHORTLIST || (c.hit < SHORTLIST_HITS && per_hit[c.hit] <= SHORTLIST_PER_HIT)
    });
    let texts: Vec<String> = candidates
        .iter()
        .map(|c| split[c.hit][c.index].text.clone())
        .collect();
    let vectors = embedder.embed_passages(&texts)?;
    let floor = embedder.relevance_floor();
    for (c, vector) in candidates.iter_mut().zip(&vectors) {
        // Similarity above the embedder's "unrelated" floor, on a 0–1 scale.
        let dense = ((cosine(question_vector, vector) - floor) / (1.0 - floor)).clamp(0.0, 1.0);
        c.score = WEIGHTS.dense * dense + WEIGHTS.lexical * c.lexical + WEIGHTS.rank * c.prior;
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Each document's best sentence before any document's second: the budget then spans the
    // documents the retriever found instead of filling up with one of them.
    let mut documents = HashSet::new();
    let (firsts, seconds): (Vec<Candidate>, Vec<Candidate>) = candidates
        .into_iter()
        .partition(|c| documents.insert(hits[c.hit].doc_id.as_str()));
    Ok(firsts.into_iter().chain(seconds).collect())
}

/// Windows around the best sentences, merged where they touch, until `budget` tokens are spent.
fn windows(
    candidates: &[Candidate],
    split: &[Vec<Sentence>],
    embedder: &dyn Embedder,
    budget: usize,
) -> Vec<Window> {
    let mut windows: Vec<Window> = Vec::new();
    let mut spent = 0;
    for c in candidates {
        let sentences = &split[c.hit];
        if let Some(w) = windows
            .iter()
            .position(|w| w.hit == c.hit && w.first <= c.index && c.index <= w.last)
        {
            windows[w].focus.push(c.index);
            continue;
        }
        let wide = (
            c.index.saturating_sub(WINDOW),
            (c.index + WINDOW).min(sentences.len() - 1),
        );
        let mut placed = false;
        for (first, last) in [wide, (c.index, c.index)] {
            let touching = windows
                .iter()
                .position(|w| w.hit == c.hit && first <= w.last + 1 && w.first <= last + 1);
            let (first, last) = match touching {
                Some(w) => (first.min(windows[w].first), last.max(windows[w].last)),
                None => (first, last),
            };
            let before = touching.map_or(0, |w| windows[w].tokens);
            let tokens = embedder.count_tokens(&window_text(&sentences[first..=last]));
            // The best sentence alone is kept even past the budget: an answer needs one source.
            let alone = windows.is_empty() && (first, last) == (c.index, c.index);
            if spent - before + tokens <= budget || alone {
                spent = spent - before + tokens;
                match touching {
                    Some(w) => {
                        let window = &mut windows[w];
                        (window.first, window.last, window.tokens) = (first, last, tokens);
                        window.focus.push(c.index);
                    }
                    None => windows.push(Window {
                        hit: c.hit,
                        first,
                        last,
                        tokens,
                        focus: vec![c.index],
                        score: c.score,
                    }),
                }
                placed = true;
                break;
            }
        }
        if !placed {
            break;
        }
    }
    windows
}

/// Window `w` of `hit` (cut into `sentences`) as source number `n`.
fn numbered(n: usize, w: &Window, hit: &Hit, sentences: &[Sentence]) -> Evidence {
    let start_line = hit.start_line + sentences[w.first].first_line;
    let end_line = hit.start_line + sentences[w.last].last_line;
    Evidence {
        n,
        path: hit.path.clone(),
        doc_id: hit.doc_id.clone(),
        start_line,
        pages: hit
            .pages
            .as_ref()
            .map(|p| (p.page_of(start_line), p.page_of(end_line))),
        end_line,
        headings: hit.headings.clone(),
        text: window_text(&sentences[w.first..=w.last]),
        focus: w.focus.iter().map(|&s| sentences[s].text.clone()).collect(),
        score: w.score,
        from_tool: false,
        window: sentences[w.first..=w.last]
            .iter()
            .map(|s| s.text.clone())
            .collect(),
        best_at: w.focus[0] - w.first,
    }
}

struct Window {
    hit: usize,
    first: usize,
    last: usize,
    tokens: usize,
    focus: Vec<usize>,
    score: f32,
}

/// Sentences joined as they read: code on lines of its own, prose with the spacing its
/// language wants.
fn window_text(sentences: &[Sentence]) -> String {
    let mut text = String::new();
    for (i, s) in sentences.iter().enumerate() {
        if i > 0
            && (s.kind == Kind::Code
                || sentences[i - 1].kind == Kind::Code
                || s.kind == Kind::ListItem)
        {
            text.push('\n');
            text.push_str(&s.text);
        } else {
            sentences::join(&mut text, &s.text);
        }
    }
    text
}

/// BM25's IDF of each term over the given sentences.
fn inverse_document_frequencies(vectors: &[Vec<(u32, f32)>]) -> HashMap<u32, f32> {
    let mut df: HashMap<u32, f32> = HashMap::new();
    for vector in vectors {
        for (id, _) in vector {
            *df.entry(*id).or_default() += 1.0;
        }
    }
    let n = vectors.len() as f32;
    df.into_iter()
        .map(|(id, df)| (id, (1.0 + (n - df + 0.5) / (df + 0.5)).ln()))
        .collect()
}

/// BM25 of `query` against one sentence's term weights, as a share (0–1) of the score a sentence
/// holding every query term at full weight would get.
fn bm25(query: &[(u32, f32)], sentence: &[(u32, f32)], idf: &HashMap<u32, f32>) -> f32 {
    let weight = |id: u32| idf.get(&id).copied().unwrap_or(0.0);
    let best: f32 = query.iter().map(|(id, _)| weight(*id)).sum::<f32>() * lexical::MAX_TERM_WEIGHT;
    if best <= 0.0 {
        return 0.0;
    }
    let score: f32 = query
        .iter()
        .filter_map(|(id, _)| {
            sentence
                .binary_search_by_key(id, |(s, _)| *s)
                .ok()
                .map(|i| sentence[i].1 * weight(*id))
        })
        .sum();
    score / best
}
