//! Answering: from the retrieved chunks to the text the user reads. The chain, one module a
//! step: [`evidence`] (the sentences that answer, in windows, numbered as sources) → [`prompt`]
//! (the grounded chat) → [`write`] (the generator's text, as [`stream`]ed sentences, each judged
//! by a [`verify::Verifier`]; [`citations`] keeps `generate`'s markers honest) — or [`extract`]
//! (the evidence quoted). This module: what an answer is, and the modes that choose the chain.

pub mod citations;
pub mod evidence;
pub mod extract;
pub mod prompt;
pub mod stream;
pub mod tool_calls;
pub mod verify;
pub(crate) mod write;

use std::ops::ControlFlow;

use serde::Serialize;

use crate::generate::{GenerationStats, ToolCall};
use crate::text::language::Language;
use crate::text::{dedup, sentences};
use crate::types::Hit;
use evidence::Evidence;
use verify::SentenceCheck;

/// How the answer is written.
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
pub enum AnswerMode {
    /// Generate, keep only the sentences a source supports (citations corrected), and fall back
    /// to `extract` when none is left or the answer is not in the question's language.
    #[default]
    Auto,
    /// The generator's answer from the evidence, unfiltered (citations to no source removed).
    Generate,
    /// No generator: the best evidence sentences, verbatim, each with its citation.
    Extract,
}

/// Who wrote the answer the user reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnsweredBy {
    /// The generator (in `auto`, only its supported sentences).
    Generator,
    /// Sentences quoted from the evidence.
    Extract,
    /// Nothing relevant was found: docent said it does not know.
    None,
    /// No answer yet: the model called tools, whose results the caller sends back.
    Tools,
}

/// A source an answer cites, as `[n]` in its text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Citation {
    /// Its number in the answer's text.
    pub n: usize,
    /// The cited document's path.
    pub path: String,
    /// First line of the cited window (1-based).
    pub start_line: u32,
    /// Last line of the cited window (inclusive).
    pub end_line: u32,
    /// The pages of the window's first and last lines, in a paged document (PDF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<(u32, u32)>,
}

/// Where an answer's time went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Searching the store (embedding the question included).
    pub retrieval_ms: f64,
    /// Choosing the evidence sentences.
    pub evidence_ms: f64,
    /// Checking the answer's sentences against their sources.
    pub check_ms: f64,
    /// The generator's two phases, when it ran.
    #[serde(flatten)]
    pub generation: GenerationStats,
}

/// The answer to one question.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// What was searched for and answered: the question, or a follow-up made standalone by the
    /// query planner ([`crate::retrieve::Plan::standalone`]).
    pub query: String,
    /// Every query searched for it, as the planner made them: the question as asked first, then
    /// a follow-up's rewrites and RAG-Fusion's phrasings.
    pub queries: Vec<String>,
    /// The text the user reads, with `[n]` citations.
    pub answer: String,
    /// Who wrote it: the generator, the extractive fallback, or no one ("I don't know").
    pub answered_by: AnsweredBy,
    /// The answer's sentences with their sources and support (in `auto`, the dropped ones too,
    /// with `kept: false`).
    pub sentences: Vec<SentenceCheck>,
    /// Sources the answer cites, in order of first citation; always a subset of `sources`.
    pub citations: Vec<Citation>,
    /// The tools the model called instead of answering (function calling), if it did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The evidence the answer was written from, numbered from 1 as cited.
    pub sources: Vec<Evidence>,
    /// The chunks retrieved for the question, best first, that the evidence was chosen from.
    pub hits: Vec<Hit>,
    /// False when retrieval found nothing relevant enough and docent answered "I don't know".
    pub grounded: bool,
    /// Where the time went.
    pub timings: Timings,
}

impl Answer {
    /// "I don't know", in `language`, streamed to `on_text`: retrieval found nothing relevant
    /// enough to answer `query` from.
    pub(crate) fn dont_know(
        query: String,
        queries: Vec<String>,
        language: Language,
        hits: Vec<Hit>,
        timings: Timings,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Answer {
        let answer = language.dont_know().to_string();
        let _ = on_text(&answer);
        Answer {
            query,
            queries,
            answer,
            answered_by: AnsweredBy::None,
            sentences: Vec::new(),
            citations: Vec::new(),
            tool_calls: Vec::new(),
            sources: Vec::new(),
            hits,
            grounded: false,
            timings,
        }
    }
}

/// The answer's text from its kept sentences, each followed by its citations.
pub fn render(sentences: &[SentenceCheck]) -> String {
    let mut text = String::new();
    for s in sentences.iter().filter(|s| s.kept) {
        sentences::join(&mut text, &s.cited_text());
    }
    text
}

/// The sources cited by `sentences`' kept ones, in order of first citation.
pub fn citations(sentences: &[SentenceCheck], evidence: &[Evidence]) -> Vec<Citation> {
    dedup(sentences.iter().filter(|s| s.kept).flat_map(|s| &s.sources))
        .into_iter()
        .filter_map(|&n| evidence.get(n - 1))
        .map(citation)
        .collect()
}

fn citation(e: &Evidence) -> Citation {
    Citation {
        n: e.n,
        path: e.path.clone(),
        start_line: e.start_line,
        end_line: e.end_line,
        pages: e.pages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for mode in [AnswerMode::Auto, AnswerMode::Generate, AnswerMode::Extract] {
            assert_eq!(mode.to_string().parse::<AnswerMode>().unwrap(), mode);
        }
        assert!("fast".parse::<AnswerMode>().is_err());
    }
}
