//! What an answer is, the three ways of producing one ([`AnswerMode`]), and the pieces the
//! checked modes are built from: the extractive answer and the stream of finished sentences.

use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation;

use crate::evidence::Evidence;
use crate::generate::GenerationStats;
use crate::sentences;
use crate::support::{SentenceCheck, strip_markers};
use crate::types::Hit;

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
    /// What was searched for and answered: the question, or a follow-up with its
    /// conversation's topic carried over ([`crate::conversation::standalone`]).
    pub query: String,
    /// The text the user reads, with `[n]` citations.
    pub answer: String,
    /// Who wrote it: the generator, the extractive fallback, or no one ("I don't know").
    pub answered_by: AnsweredBy,
    /// The answer's sentences with their sources and support (in `auto`, the dropped ones too,
    /// with `kept: false`).
    pub sentences: Vec<SentenceCheck>,
    /// Sources the answer cites, in order of first citation; always a subset of `sources`.
    pub citations: Vec<Citation>,
    /// The evidence the answer was written from, numbered from 1 as cited.
    pub sources: Vec<Evidence>,
    /// The chunks retrieved for the question, best first, that the evidence was chosen from.
    pub hits: Vec<Hit>,
    /// False when retrieval found nothing relevant enough and docent answered "I don't know".
    pub grounded: bool,
    /// Where the time went.
    pub timings: Timings,
}

/// A quote shorter than this (in words; a Chinese character counts as half a word) goes on with
/// the next sentence of its window: "RAG answers a question in two stages." or "Do this:" is no
/// answer without what follows.
const MIN_QUOTE_WORDS: usize = 20;

/// Documents an extractive answer quotes.
const EXTRACT_DOCUMENTS: usize = 3;

/// The extractive answer: the best evidence sentence (continued while it is short, see
/// [`MIN_QUOTE_WORDS`]), then the best one of each further document, up to
/// [`EXTRACT_DOCUMENTS`] (a document whose best sentence is one already quoted is a copy, and
/// skipped), each verbatim with its source. The further documents are the
/// retriever's hedge: on the development sets the best sentence's document was relevant for
/// about half of the questions, one of two for 0.61 (en) and 0.56 (zh), one of three for 0.70
/// and 0.59; token F1 against the gold answers rose with the third too (0.30 → 0.32 en,
/// 0.37 → 0.38 zh).
pub fn extractive(evidence: &[Evidence]) -> Vec<SentenceCheck> {
    let mut chosen: Vec<&Evidence> = Vec::new();
    for e in evidence {
        // A copy of a chosen document (the same file uploaded and in a folder) would only
        // repeat its quote.
        let new = chosen
            .iter()
            .all(|c| c.doc_id != e.doc_id && c.focus.first() != e.focus.first());
        if chosen.len() < EXTRACT_DOCUMENTS && new {
            chosen.push(e);
        }
    }
    chosen
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| quote(e, i == 0).map(|text| (e.n, text)))
        .map(|(n, text)| SentenceCheck {
            quotes: vec![text.clone()],
            text,
            sources: vec![n],
            support: 1.0,
            supported: true,
            kept: true,
        })
        .collect()
}

/// The evidence's best sentence, with the sentences after it while it is short (`go_on`).
fn quote(e: &Evidence, go_on: bool) -> Option<String> {
    let first = e.focus.first()?.clone();
    let mut text = first;
    if go_on && e.window.get(e.best_at) == e.focus.first() {
        for next in &e.window[e.best_at + 1..] {
            if words(&text) >= MIN_QUOTE_WORDS {
                break;
            }
            sentences::join(&mut text, next);
        }
    }
    Some(text)
}

fn words(text: &str) -> usize {
    let han = text.chars().filter(|&c| crate::language::is_han(c)).count();
    text.split_whitespace()
        .filter(|w| !w.chars().any(crate::language::is_han))
        .count()
        + han / 2
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
    let mut cited: Vec<usize> = Vec::new();
    for n in sentences.iter().filter(|s| s.kept).flat_map(|s| &s.sources) {
        if !cited.contains(n) {
            cited.push(*n);
        }
    }
    cited
        .into_iter()
        .filter_map(|n| evidence.get(n - 1))
        .map(citation)
        .collect()
}

pub(crate) fn citation(e: &Evidence) -> Citation {
    Citation {
        n: e.n,
        path: e.path.clone(),
        start_line: e.start_line,
        end_line: e.end_line,
    }
}

/// Generated text in, finished sentences out. A sentence is finished once text that is not a
/// citation marker follows it, since a model writes "… free. [1] It …" as often as
/// "… free [1]. It …": markers after a sentence's end belong to that sentence.
#[derive(Default)]
pub struct SentenceStream {
    buffer: String,
}

impl SentenceStream {
    /// Adds generated text; returns the sentences it finished (markers included).
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buffer.push_str(text);
        // Everything before the last sentence that has begun (holds more than markers) is final.
        let starts = sentence_starts(&self.buffer);
        let begun = starts
            .iter()
            .rev()
            .find(|&&s| !self.buffer[s..].trim().is_empty());
        match begun {
            Some(&cut) if cut > 0 => {
                let done: String = self.buffer.drain(..cut).collect();
                finished(&done)
            }
            _ => Vec::new(),
        }
    }

    /// The sentences left at the end of generation.
    pub fn finish(&mut self) -> Vec<String> {
        finished(&std::mem::take(&mut self.buffer))
    }
}

/// Where the sentences of generated text start: Unicode's sentence boundaries, each moved past
/// the citation markers that follow it (UAX #29 counts a `[` after `。` as closing punctuation of
/// the sentence before, so a marker split there is first made whole again).
fn sentence_starts(text: &str) -> Vec<usize> {
    let mut starts: Vec<usize> = text
        .split_sentence_bound_indices()
        .map(|(offset, _)| offset)
        .collect();
    for i in 1..starts.len() {
        // A boundary inside the markers moved past by the one before is no boundary.
        starts[i] = starts[i].max(starts[i - 1]);
        let before = &text[starts[i - 1]..starts[i]];
        if let Some(open) = before
            .rfind('[')
            .filter(|&o| before[o + 1..].chars().all(is_marker_char))
        {
            starts[i] = starts[i - 1] + open;
        }
        starts[i] = (starts[i] + leading_markers(&text[starts[i]..])).max(starts[i - 1]);
    }
    starts.dedup();
    starts
}

fn is_marker_char(c: char) -> bool {
    c.is_ascii_digit() || c == ',' || c == ' '
}

/// Length of the citation markers (and whitespace) `text` starts with; all of it while the end
/// of `text` could still be the start of one ("[1").
fn leading_markers(text: &str) -> usize {
    let mut end = 0;
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        end += rest.len() - trimmed.len();
        rest = trimmed;
        let Some(inner) = rest.strip_prefix('[') else {
            return end;
        };
        match inner.find(']') {
            Some(close) if inner[..close].chars().all(is_marker_char) => {
                end += close + 2;
                rest = &inner[close + 1..];
            }
            None if inner.chars().all(is_marker_char) => return text.len(),
            _ => return end,
        }
    }
}

/// Finished generated text as sentences (each with the markers that follow it).
fn finished(text: &str) -> Vec<String> {
    let starts = sentence_starts(text);
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| text[start..end].trim().to_string())
        .filter(|s| !strip_markers(s).0.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(pieces: &[&str]) -> Vec<Vec<String>> {
        let mut stream = SentenceStream::default();
        let mut out: Vec<Vec<String>> = pieces.iter().map(|p| stream.push(p)).collect();
        out.push(stream.finish());
        out
    }

    #[test]
    fn sentences_are_released_once_finished_with_their_markers() {
        let out = stream(&[
            "Debian is free",
            ". [",
            "1] It has ",
            "many packages [2]. ",
            "And",
            " more.",
        ]);
        assert_eq!(
            out,
            vec![
                vec![],
                vec![],
                vec!["Debian is free. [1]".to_string()],
                vec![],
                vec!["It has many packages [2].".to_string()],
                vec![],
                vec!["And more.".to_string()],
            ]
        );
    }

    #[test]
    fn chinese_sentences_stream_too() {
        let out = stream(&["Debian 是自由的。[", "1]软件", "包很多。"]);
        assert_eq!(
            out,
            vec![
                vec![],
                vec!["Debian 是自由的。[1]".to_string()],
                vec![],
                vec!["软件包很多。".to_string()]
            ]
        );
    }

    #[test]
    fn any_split_of_the_text_gives_the_same_sentences() {
        let text = "Debian is free. [1] [2]\n\n```\n[3]. It is 2.0 [4 ]! 软件。[5]?? [\nEnd [6";
        let whole = {
            let mut stream = SentenceStream::default();
            let mut all = stream.push(text);
            all.extend(stream.finish());
            all
        };
        for size in 1..8 {
            let mut stream = SentenceStream::default();
            let chars: Vec<char> = text.chars().collect();
            let mut all: Vec<String> = chars
                .chunks(size)
                .flat_map(|c| stream.push(&c.iter().collect::<String>()))
                .collect();
            all.extend(stream.finish());
            let squash = |v: &[String]| v.concat().split_whitespace().collect::<String>();
            assert_eq!(squash(&all), squash(&whole), "pieces of {size}");
        }
    }

    fn evidence(n: usize, score: f32, focus: &str) -> Evidence {
        Evidence {
            n,
            path: format!("{n}.md"),
            doc_id: format!("d{n}"),
            start_line: 1,
            end_line: 2,
            headings: Vec::new(),
            text: focus.into(),
            focus: vec![focus.into()],
            score,
            window: vec![focus.into(), "And more.".into()],
            best_at: 0,
        }
    }

    #[test]
    fn extractive_answers_quote_the_best_sentences_with_citations() {
        let mut sources = [
            evidence(1, 0.8, "Debian is free."),
            evidence(2, 0.75, "It is stable."),
            evidence(3, 0.5, "Tea is hot."),
            evidence(4, 0.4, "Snow is cold."),
        ];
        let sentences = extractive(&sources);
        // A short first quote goes on with the next sentence of its window; three documents.
        assert_eq!(
            render(&sentences),
            "Debian is free. And more. [1] It is stable. [2] Tea is hot. [3]"
        );
        assert_eq!(
            citations(&sentences, &sources)
                .iter()
                .map(|c| c.n)
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Each quote comes from another document.
        sources[1].doc_id = sources[0].doc_id.clone();
        assert_eq!(
            render(&extractive(&sources)),
            "Debian is free. And more. [1] Tea is hot. [3] Snow is cold. [4]"
        );
        // A copy of a quoted document (same best sentence, another id) is not quoted again.
        sources[1].doc_id = "copy".into();
        sources[1].focus = sources[0].focus.clone();
        assert_eq!(
            render(&extractive(&sources)),
            "Debian is free. And more. [1] Tea is hot. [3] Snow is cold. [4]"
        );
        let long = "Debian is a free operating system that comes with thousands of packages, each one built, tested and kept up to date by volunteers around the world.";
        assert_eq!(
            render(&extractive(&[evidence(1, 0.8, long)])),
            format!("{long} [1]")
        );
        let mut chinese = [
            evidence(
                1,
                0.8,
                "Debian 是一个自由的操作系统，包含了数以万计的软件包，每个软件包都由志愿者构建和测试。",
            ),
            evidence(2, 0.8, "它很稳定。"),
        ];
        chinese[0].window.truncate(1);
        assert_eq!(
            render(&extractive(&chinese)),
            format!("{}[1]它很稳定。[2]", chinese[0].focus[0])
        );
        assert!(extractive(&[]).is_empty());
    }

    #[test]
    fn modes_parse_and_print() {
        for mode in [AnswerMode::Auto, AnswerMode::Generate, AnswerMode::Extract] {
            assert_eq!(mode.to_string().parse::<AnswerMode>().unwrap(), mode);
        }
        assert!("fast".parse::<AnswerMode>().is_err());
    }
}
