//! The support check: is an answer's sentence backed by the source it cites?
//!
//! The rule, in full: a sentence is **supported** by a source when
//! 1. at least [`MIN_OVERLAP`] of its content words occur in that source (content words: English
//!    words and Chinese characters, without stopwords, function characters and citation
//!    markers), and
//! 2. the embedder finds the two related: the sentence (as a query) and the source (as a
//!    passage) are at least as similar as the embedder's own relevance floor,
//!
//! and it counts as supported only when it speaks to the question: it shares a content word with
//! the question, and it holds one the question does not — neither the question's words, nor their
//! initials ("RAG" for "retrieval-augmented generation"), nor words about the exchange itself
//! ("answer", "question", "document", "found", …). A sentence that fails is about something else
//! or restates the question, however true: "The answer to this question can be found in the
//! document collection called Retrieval-Augmented Generation (RAG)."
//!
//! A sentence's citations are then made true: cited sources that support it stay, cited ones
//! that do not are removed, and when none of its citations (or no citation at all) supports it,
//! the source that supports it best is cited instead. A sentence no source supports is
//! unsupported. A sentence with no content word at all ("1.", "[2]") states nothing to check.

use std::collections::HashSet;
use std::sync::LazyLock;

use anyhow::Result;
use serde::Serialize;

use crate::embed::Embedder;
use crate::evidence::Evidence;
use crate::language::{Language, is_han};
use crate::lexical::FUNCTION_CHARACTERS;
use unicode_segmentation::UnicodeSegmentation;

/// Share of a sentence's content words its source must contain.
pub const MIN_OVERLAP: f32 = 0.7;

pub(crate) static STOPWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| stop_words::get("en").iter().copied().collect());

/// Words about the exchange rather than its subject: what a small model writes when it talks about
/// its sources instead of from them. A sentence whose only words beyond the question's are these
/// tells the reader nothing new. (English only: Chinese is checked per character, where such a
/// list would catch real words.)
const ABOUT_THE_EXCHANGE: [&str; 24] = [
    "answer",
    "answers",
    "question",
    "questions",
    "document",
    "documents",
    "collection",
    "source",
    "sources",
    "context",
    "passage",
    "passages",
    "text",
    "information",
    "find",
    "found",
    "provided",
    "given",
    "mentioned",
    "according",
    "called",
    "named",
    "known",
    "refer",
];

/// Longest run of question words whose initials are taken as their abbreviation.
const MAX_INITIALS: usize = 6;

/// Tokens for comparing answers: lowercase Unicode words, with Chinese text one token per
/// character (it has no spaces, and a character is the unit answer-overlap scores use for it).
/// Punctuation is not a token.
pub fn answer_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for word in text.unicode_words() {
        if word.chars().any(is_han) {
            let mut rest = String::new();
            for c in word.chars() {
                if is_han(c) {
                    if !rest.is_empty() {
                        tokens.push(std::mem::take(&mut rest).to_lowercase());
                    }
                    tokens.push(c.to_string());
                } else {
                    rest.push(c);
                }
            }
            if !rest.is_empty() {
                tokens.push(rest.to_lowercase());
            }
        } else {
            tokens.push(word.to_lowercase());
        }
    }
    tokens
}

/// The words an answer's faithfulness is judged on: [`answer_tokens`] (lowercase words, one
/// token per Chinese character) less English stopwords and Chinese function characters, read
/// after removing `[n]` citation markers.
pub fn content_tokens(text: &str) -> Vec<String> {
    answer_tokens(&strip_markers(text).0)
        .into_iter()
        .filter(|t| {
            let mut chars = t.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if is_han(c) => !FUNCTION_CHARACTERS.contains(c),
                _ => !STOPWORDS.contains(t.as_str()),
            }
        })
        .collect()
}

/// Share of `tokens` found in `source` (1 for no tokens: nothing is claimed).
pub fn overlap(tokens: &[String], source: &HashSet<String>) -> f32 {
    if tokens.is_empty() {
        return 1.0;
    }
    tokens.iter().filter(|t| source.contains(*t)).count() as f32 / tokens.len() as f32
}

/// `text` without its `[n]` / `[n, m]` markers (whitespace before them removed too), and the
/// numbers those markers held, in order.
pub fn strip_markers(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut cited = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let numbers = after
            .find(']')
            .map(|close| (close, &after[..close]))
            .and_then(|(close, inner)| {
                let numbers: Option<Vec<usize>> =
                    inner.split(',').map(|n| n.trim().parse().ok()).collect();
                numbers.map(|n| (close, n))
            });
        match numbers {
            Some((close, numbers)) => {
                out.push_str(rest[..open].trim_end());
                cited.extend(numbers);
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out.trim().to_string(), cited)
}

/// One sentence of an answer and what the check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentenceCheck {
    /// The sentence as shown, citation markers excluded.
    pub text: String,
    /// The sources it cites after the check (numbers of [`Evidence`]).
    pub sources: Vec<usize>,
    /// Share of its content words found in its best source (0–1).
    pub support: f32,
    /// Whether a source supports it (see the module's rule).
    pub supported: bool,
    /// Whether the answer shows it: supported and in the question's language (in `generate`
    /// mode every sentence is shown).
    pub kept: bool,
    /// For each of `sources`, the sentence of that source that shares the most content words
    /// with this one: where a reader looks for the support.
    pub quotes: Vec<String>,
}

impl SentenceCheck {
    /// The sentence with its citations, as it appears in the answer.
    pub fn cited_text(&self) -> String {
        if self.sources.is_empty() {
            return self.text.clone();
        }
        let list: Vec<String> = self.sources.iter().map(usize::to_string).collect();
        let chinese = self
            .text
            .chars()
            .last()
            .is_some_and(|c| is_han(c) || crate::sentences::is_cjk_punctuation(c));
        format!(
            "{}{}[{}]",
            self.text,
            if chinese { "" } else { " " },
            list.join(", ")
        )
    }
}

/// Checks sentences against one answer's evidence.
pub struct SupportChecker<'a> {
    embedder: &'a dyn Embedder,
    /// The question's content words.
    question: HashSet<String>,
    /// What a sentence may hold without saying anything new: the question's content words, their
    /// initials, and [`ABOUT_THE_EXCHANGE`].
    restated: HashSet<String>,
    tokens: Vec<HashSet<String>>,
    /// Each source's sentences with their content words.
    sentences: Vec<Vec<(String, HashSet<String>)>>,
    vectors: Vec<Vec<f32>>,
    floor: f32,
    language: Language,
}

impl<'a> SupportChecker<'a> {
    /// `language` is the question's: a sentence in another one is checked but not kept.
    pub fn new(
        embedder: &'a dyn Embedder,
        question: &str,
        evidence: &[Evidence],
        language: Language,
    ) -> Result<Self> {
        let texts: Vec<String> = evidence.iter().map(|e| e.text.clone()).collect();
        let question = content_tokens(question);
        Ok(SupportChecker {
            embedder,
            restated: restated(&question),
            question: question.into_iter().collect(),
            tokens: texts
                .iter()
                .map(|t| content_tokens(t).into_iter().collect())
                .collect(),
            sentences: evidence
                .iter()
                .map(|e| {
                    e.window
                        .iter()
                        .map(|s| (s.clone(), content_tokens(s).into_iter().collect()))
                        .collect()
                })
                .collect(),
            vectors: if texts.is_empty() {
                Vec::new()
            } else {
                embedder.embed_passages(&texts)?
            },
            floor: embedder.relevance_floor(),
            language,
        })
    }

    /// Checks one generated sentence (markers included, as written).
    pub fn check(&self, sentence: &str) -> Result<SentenceCheck> {
        let (text, cited) = strip_markers(sentence);
        let tokens = content_tokens(&text);
        let mut check = SentenceCheck {
            text,
            sources: Vec::new(),
            support: 0.0,
            supported: false,
            kept: false,
            quotes: Vec::new(),
        };
        // A sentence that shares no content word with the question says nothing about it, and one
        // with no word beyond the question's (and talk of the exchange) only restates it.
        let on_topic = self.question.is_empty()
            || (tokens.iter().any(|t| self.question.contains(t))
                && tokens.iter().any(|t| !self.restated.contains(t)));
        if tokens.is_empty() || self.tokens.is_empty() || !on_topic {
            check.support = self
                .tokens
                .iter()
                .map(|source| overlap(&tokens, source))
                .fold(0.0, f32::max);
            return Ok(check);
        }
        let overlaps: Vec<f32> = self
            .tokens
            .iter()
            .map(|source| overlap(&tokens, source))
            .collect();
        let candidates: Vec<usize> = (0..overlaps.len())
            .filter(|&i| overlaps[i] >= MIN_OVERLAP)
            .collect();
        // Similarity is only asked of sources whose words already cover the sentence.
        let related: Vec<usize> = if candidates.is_empty() {
            Vec::new()
        } else {
            let query = self.embedder.embed_query(&check.text)?;
            candidates
                .into_iter()
                .filter(|&i| cosine(&query, &self.vectors[i]) >= self.floor)
                .collect()
        };
        let cited_supporting: Vec<usize> = dedup(
            cited
                .iter()
                .copied()
                .filter(|n| (1..=overlaps.len()).contains(n) && related.contains(&(n - 1))),
        );
        check.sources = if cited_supporting.is_empty() {
            related
                .iter()
                .copied()
                .max_by(|&a, &b| overlaps[a].total_cmp(&overlaps[b]))
                .map(|i| vec![i + 1])
                .unwrap_or_default()
        } else {
            cited_supporting
        };
        check.supported = !check.sources.is_empty();
        check.support = if check.supported {
            check
                .sources
                .iter()
                .map(|&n| overlaps[n - 1])
                .fold(0.0, f32::max)
        } else {
            overlaps.iter().copied().fold(0.0, f32::max)
        };
        check.kept = check.supported && Language::detect(&check.text) == self.language;
        check.quotes = check
            .sources
            .iter()
            .filter_map(|&n| self.quote(&tokens, n - 1))
            .collect();
        Ok(check)
    }

    /// The sentence of source `i` that holds the largest share of `tokens` (the first of equals).
    fn quote(&self, tokens: &[String], i: usize) -> Option<String> {
        let mut best: Option<(f32, &String)> = None;
        for (sentence, words) in &self.sentences[i] {
            let share = overlap(tokens, words);
            if best.is_none_or(|(top, _)| share > top) {
                best = Some((share, sentence));
            }
        }
        best.map(|(_, sentence)| sentence.clone())
    }
}

/// The question's words, the initials of each run of its English words (as written in the
/// question, so "retrieval-augmented generation" gives "rag"), and [`ABOUT_THE_EXCHANGE`].
fn restated(question: &[String]) -> HashSet<String> {
    let mut restated: HashSet<String> = question.iter().cloned().collect();
    restated.extend(ABOUT_THE_EXCHANGE.iter().map(|w| w.to_string()));
    for start in 0..question.len() {
        let mut initials = String::new();
        for word in question[start..].iter().take(MAX_INITIALS) {
            match word.chars().next() {
                Some(c) if c.is_ascii_alphabetic() => initials.push(c),
                _ => break,
            }
            if initials.len() > 1 {
                restated.insert(initials.clone());
            }
        }
    }
    restated
}

fn dedup(numbers: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for n in numbers {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Cosine similarity of two vectors (the embedders return unit vectors, but a check should not
/// rely on it).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 {
        dot / denominator
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_tokens_split_words_and_chinese_characters() {
        assert_eq!(
            answer_tokens("Use APT, then apt-get!"),
            ["use", "apt", "then", "apt", "get"]
        );
        assert_eq!(
            answer_tokens("用 apt 安装软件。"),
            ["用", "apt", "安", "装", "软", "件"]
        );
        assert_eq!(answer_tokens("Debian的apt"), ["debian", "的", "apt"]);
    }

    #[test]
    fn content_tokens_leave_out_stopwords_markers_and_function_characters() {
        assert_eq!(
            content_tokens("Debian is a free operating system [1]."),
            ["debian", "free", "operating", "system"]
        );
        assert_eq!(
            content_tokens("Debian 是一个自由的操作系统。[2]"),
            ["debian", "自", "由", "操", "作", "系", "统"]
        );
    }

    #[test]
    fn markers_are_stripped_and_read() {
        assert_eq!(
            strip_markers("It is free [1]. And stable [2, 3]."),
            ("It is free. And stable.".to_string(), vec![1, 2, 3])
        );
        assert_eq!(
            strip_markers("arr[i] stays [x]"),
            ("arr[i] stays [x]".to_string(), vec![])
        );
    }

    /// A sentence its source backs is kept only when it tells the reader something the question
    /// did not: talk of the sources, the question's own words and their initials do not count.
    #[test]
    fn a_sentence_that_only_restates_the_question_is_not_supported() {
        let text = "RAG, retrieval-augmented generation, finds the answer to a question in a \
                    document collection and gives the passages found to a model, which writes \
                    the answer.";
        let evidence = [Evidence {
            n: 1,
            path: "rag.md".into(),
            doc_id: "rag".into(),
            start_line: 1,
            end_line: 1,
            headings: Vec::new(),
            text: text.into(),
            focus: vec![text.into()],
            score: 1.0,
            window: vec![text.into()],
            best_at: 0,
        }];
        let embedder = crate::testing::WordEmbedder::default();
        let checker = SupportChecker::new(
            &embedder,
            "What is retrieval-augmented generation?",
            &evidence,
            Language::English,
        )
        .unwrap();
        let kept = |sentence: &str| checker.check(sentence).unwrap().kept;
        assert!(kept(
            "Retrieval-augmented generation gives the passages found to a model. [1]"
        ));
        assert!(!kept(
            "The answer to this question can be found in the document collection called \
             Retrieval-Augmented Generation (RAG). [1]"
        ));
        assert!(!kept(
            "The answer can be found in the document collection. [1]"
        ));
        // The same words are news to a question that does not hold them.
        let other = SupportChecker::new(
            &embedder,
            "What does a model get?",
            &evidence,
            Language::English,
        )
        .unwrap();
        assert!(
            other
                .check("A model gets the passages found by RAG. [1]")
                .unwrap()
                .kept
        );
    }

    #[test]
    fn overlap_counts_the_share_of_words_found() {
        let source: HashSet<String> = ["debian", "free", "system"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tokens = content_tokens("Debian is a free operating system");
        assert_eq!(overlap(&tokens, &source), 0.75);
    }
}
