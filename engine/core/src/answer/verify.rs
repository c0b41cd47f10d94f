//! The verifier seam, and docent's default verifier.
//!
//! A [`Verifier`] judges each sentence of an answer against the evidence it was written from and
//! gives a [`Verdict`]; the answer loop shows, drops or stops on verdicts alone, never on how
//! they were reached. [`SupportVerifier`] is the stated rule below.
//!
//! The rule, in full: a sentence is **backed** by a source in one of three ways.
//! - Its words: at least [`MIN_OVERLAP`] of its content words occur in the source (content
//!   words: English words and Chinese pairs of characters in a row, without stopwords, function
//!   characters and citation markers, see [`content_terms`]), the embedder finds the two
//!   related: the sentence (as a query) and the source (as a passage) are at least as similar
//!   as the embedder's own relevance floor, and (in English) it denies exactly when the source's
//!   sentence that holds most of its words does ([`polarity::denies`]: "you don't need" in the
//!   source's words is not what "you will need" says).
//! - A rewording: at least [`PARAPHRASE_OVERLAP`] of its content words occur in the source, and
//!   the source's sentence nearest to it is at the embedder's paraphrase floor (sentence against
//!   sentence: "You should try installing or upgrading to either testing or unstable." for "you
//!   might want to install/upgrade to either testing or unstable"), denies exactly when it
//!   does ([`polarity::denies`]), and the source holds its numbers. Only where the embedder has
//!   such a floor for the question's language: e5 has one for English, none for Chinese, where
//!   its similarities do not tell a rewording from another claim on the subject.
//! - A translation: the source is in another language, holds the sentence's names and numbers
//!   (its Latin words, in a Chinese sentence), and one of its sentences is at the embedder's
//!   translation floor: a Chinese answer written from an English document.
//!
//! A backed sentence counts as supported only when it bears on the question, judged on the
//! answer as a whole: it shares a content word with the question, or with the sentence it refers
//! back to; or the source sentence that backs it shares one that not every source holds (it
//! gives that sentence's answer in fewer words or in others: "You should try installing or
//! upgrading to either testing or unstable." from "… you might want to install/upgrade to either
//! testing or unstable." for "… hardware is not detected/working. What should I do?"); or it is
//! backed by a source that a supported sentence before it cited (it goes on with a passage the
//! answer is drawing on; "Mirrors copy them with rsync." after the archives' schedule).
//! Otherwise it is off the question, however true: a model drifting into another passage. And
//! it must hold a content word the question does not — neither the question's words, nor their
//! initials ("RAG" for "retrieval-augmented generation"), nor words about the exchange itself
//! ("answer", "question", "document", "found", …): else it restates the question: "The answer
//! to this question can be found in the document collection called Retrieval-Augmented
//! Generation (RAG)."
//!
//! A sentence's citations are then made true: cited sources that back it stay, cited ones
//! that do not are removed, and when none of its citations (or no citation at all) backs it,
//! the source that backs it best is cited instead. A sentence no source backs is unsupported;
//! one a source backs but not written in the question's language ([`Language::written_in`]) is
//! in the wrong language. A sentence with no content word at all ("And so it is.", "[2]") states
//! nothing, and so do a bare "Yes." or "No." (as "可以。" does: whether the answer is yes is
//! for the sentences after it to show) and a code fence ("```python": the language it names is
//! no claim).
//!
//! A sentence that opens by referring back to the one before it ("It …", "This …", "它…",
//! "这…") is read with that one: whether it speaks to the question is asked of the two together
//! (its own words must still be in its source), and when the one before was not shown it is
//! dangling, however well backed: "It retrieves passages first." means nothing after a dropped
//! sentence — unless that one only said the question back or said yes ("Yes, you can use Debian
//! for that. This is possible because …"): then it refers to what the question asked about.
//!
//! Measured and left out, on Qwen2.5-Coder-0.5B's sentences for 20 questions in each language,
//! counted by hand: a rewording rule without the denial and number tests (half the words in the
//! source, and as near in meaning to one of its sentences as e5 puts paraphrases, 0.90) kept 2
//! more correct English sentences and 8 more wrong ones ("No, you cannot change from stable to
//! testing or unstable." against "it might be possible to go from unstable to testing"): e5 puts
//! a claim and its negation or its changed number as near as a paraphrase. English stems kept
//! one more correct sentence and two more wrong ones; not counting an opening "Based on the
//! information provided in the sources," or "根据资料，" against the claim, one more wrong one
//! and no correct one. And the generator itself as the judge: asked "Does the source say what
//! the statement says?" over 15 statements (paraphrases, drifts, inversions; English and
//! Chinese), the 0.5B answered right 7 times and the 1.5B 9 times, mostly "yes" to everything.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Result;
use serde::{Serialize, Serializer};

use crate::answer::evidence::Evidence;
use crate::embed::Embedder;
use crate::text::language::{Language, is_han};
use crate::text::tokens::{content_terms, content_tokens, cosine, overlap};
use crate::text::{dedup, markers, polarity, sentences};

/// Share of a sentence's content words its source must contain.
pub const MIN_OVERLAP: f32 = 0.7;
/// Share of its content words a sentence must find in a source it rewords: a paraphrase keeps
/// the subject's words and changes the rest.
pub const PARAPHRASE_OVERLAP: f32 = 0.5;

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

/// A bare "Yes." or "No." states nothing the sources could bear out (their words are no claim,
/// and whether the answer is yes is what the next sentence must show), as a bare "可以。" does,
/// whose characters are all function characters; "Yes, you can create functions in C++." only
/// says the question back.
const YES_OR_NO: [&str; 2] = ["yes", "no"];

/// Longest run of question words whose initials are taken as their abbreviation.
const MAX_INITIALS: usize = 6;

/// What a verifier found of one sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    /// A source it cites (after correction) backs it, in the question's language.
    Supported,
    /// A source backs it, but it is written in another language than the question's.
    WrongLanguage,
    /// No source backs it, or it is about something other than the question.
    Unsupported,
    /// It says nothing beyond the question's own words and talk of the sources.
    RestatesQuestion,
    /// It holds no content word at all ("And so it is.", "[2]").
    StatesNothing,
    /// It refers back ("It …", "这…") to a sentence that was not shown, or announces one ("To
    /// remove it, run:") that was not.
    Dangling,
    /// It does not bear on the question: no word of it, nor of the sentence it refers back to, is
    /// the question's, and no source it draws on was cited before.
    OffTopic,
}

impl Verdict {
    /// Whether a source backs the sentence, whatever its language.
    pub fn backed(self) -> bool {
        matches!(self, Verdict::Supported | Verdict::WrongLanguage)
    }

    /// Whether the sentence claims something its sources do not give, or carries on from one
    /// that did: the sign of a model drifting away from them.
    pub fn drifts(self) -> bool {
        matches!(
            self,
            Verdict::Unsupported
                | Verdict::RestatesQuestion
                | Verdict::Dangling
                | Verdict::OffTopic
        )
    }
}

/// One sentence of an answer and what the verifier found.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceCheck {
    /// The sentence as shown, citation markers excluded.
    pub text: String,
    /// The sources it cites after the check (numbers of [`Evidence`]).
    pub sources: Vec<usize>,
    /// Share of its content words found in its best source (0–1).
    pub support: f32,
    /// The verifier's judgement.
    pub verdict: Verdict,
    /// Whether the answer shows it: in `auto` only supported sentences, in `generate` all.
    pub kept: bool,
    /// For each of `sources`, the sentence of that source that shares the most content words
    /// with this one: where a reader looks for the support.
    pub quotes: Vec<String>,
}

impl SentenceCheck {
    /// The sentence with its citations, as it appears in the answer.
    pub fn cited_text(&self) -> String {
        let mut text = self.text.clone();
        if !self.sources.is_empty() {
            sentences::join(&mut text, &markers::format(&self.sources));
        }
        text
    }
}

/// As JSON, the verdict and also `supported` (whether a source backs the sentence), which
/// clients read.
impl Serialize for SentenceCheck {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            text: &'a str,
            sources: &'a [usize],
            support: f32,
            verdict: Verdict,
            supported: bool,
            kept: bool,
            quotes: &'a [String],
        }
        Shown {
            text: &self.text,
            sources: &self.sources,
            support: self.support,
            verdict: self.verdict,
            supported: self.verdict.backed(),
            kept: self.kept,
            quotes: &self.quotes,
        }
        .serialize(serializer)
    }
}

/// Judges answers against their evidence.
pub trait Verifier: Send + Sync {
    /// Readies the judgement of one answer to `question` (in `language`) from `evidence`:
    /// what the sources cost to prepare (their words, their embeddings) is paid once, here.
    fn prepare(
        &self,
        question: &str,
        evidence: &[Evidence],
        language: Language,
    ) -> Result<Box<dyn SentenceJudge>>;
}

/// The judge of one answer's sentences, as they are written: each once, in order, since
/// whether a sentence bears on the question may depend on the ones judged before it.
pub trait SentenceJudge {
    /// Judges one sentence as written (citation markers included), after `previous` (the
    /// sentence before it, judged, and whether it was shown): its verdict, with its citations
    /// made true. `kept` is left to the caller.
    fn judge(&self, sentence: &str, previous: Option<&SentenceCheck>) -> Result<SentenceCheck>;
}

/// The default verifier: content-word overlap and embedder similarity (the module's rule).
pub struct SupportVerifier {
    embedder: Arc<dyn Embedder>,
}

impl SupportVerifier {
    /// A verifier that compares meaning with `embedder`, against its own relevance floor.
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        SupportVerifier { embedder }
    }
}

impl Verifier for SupportVerifier {
    fn prepare(
        &self,
        question: &str,
        evidence: &[Evidence],
        language: Language,
    ) -> Result<Box<dyn SentenceJudge>> {
        let texts: Vec<String> = evidence.iter().map(|e| e.text.clone()).collect();
        Ok(Box::new(SupportJudge {
            embedder: self.embedder.clone(),
            restated: restated(question),
            question: term_set(question),
            tokens: texts.iter().map(|t| term_set(t)).collect(),
            sentences: evidence
                .iter()
                .map(|e| e.window.iter().map(|s| (s.clone(), term_set(s))).collect())
                .collect(),
            thread: RefCell::default(),
            vectors: if texts.is_empty() {
                Vec::new()
            } else {
                self.embedder.embed_passages(&texts)?
            },
            floor: self.embedder.relevance_floor(),
            written_in: texts.iter().map(|t| Language::detect(t)).collect(),
            paraphrase_floor: self.embedder.paraphrase_floor(language),
            translation_floor: self.embedder.translation_floor(),
            sentence_vectors: RefCell::new(vec![None; evidence.len()]),
            language,
        }))
    }
}

fn term_set(text: &str) -> HashSet<String> {
    content_terms(text).into_iter().collect()
}

/// [`SupportVerifier`]'s judge of one answer.
struct SupportJudge {
    embedder: Arc<dyn Embedder>,
    /// The question's content words ([`content_terms`]).
    question: HashSet<String>,
    /// What a sentence may hold without saying anything new: the question's content words, their
    /// initials, and [`ABOUT_THE_EXCHANGE`].
    restated: HashSet<String>,
    /// Each source's content words ([`content_terms`]).
    tokens: Vec<HashSet<String>>,
    /// Each source's sentences with their content words.
    sentences: Vec<Vec<(String, HashSet<String>)>>,
    /// The sources (numbers) cited by the sentences judged supported so far.
    thread: RefCell<HashSet<usize>>,
    vectors: Vec<Vec<f32>>,
    floor: f32,
    /// Each source's language.
    written_in: Vec<Language>,
    /// The embedder's [`Embedder::paraphrase_floor`] in the question's language: with none, a
    /// sentence must have [`MIN_OVERLAP`] of its words in a source.
    paraphrase_floor: Option<f32>,
    /// The embedder's [`Embedder::translation_floor`]: with none, a source in another language
    /// than a sentence's is read by its words like any other.
    translation_floor: Option<f32>,
    /// The vectors of each source's sentences (as queries: sentence against sentence), embedded
    /// the first time a sentence is read against that source's sentences (a paraphrase, or a
    /// sentence in another language).
    sentence_vectors: RefCell<Vec<Option<Vec<Vec<f32>>>>>,
    language: Language,
}

/// What a source's words cover of a sentence.
#[derive(Debug, Clone, Copy)]
struct Cover {
    /// Share of the sentence's content words in the source.
    words: f32,
    /// For a source in another language (read across languages), share of the sentence's names
    /// and numbers in it.
    names: Option<f32>,
}

impl Cover {
    /// The larger share: how well the source's words bear the sentence out.
    fn share(&self) -> f32 {
        self.words.max(self.names.unwrap_or(0.0))
    }
}

impl SentenceJudge for SupportJudge {
    fn judge(&self, sentence: &str, previous: Option<&SentenceCheck>) -> Result<SentenceCheck> {
        let (text, cited) = markers::strip(sentence);
        // A list item's number ("1. Download it.") is layout, not a number the source must
        // hold, and a code fence ("```python") is layout only.
        let tokens = if sentences::is_fence(&text) {
            Vec::new()
        } else {
            content_terms(sentences::list_item(&text).unwrap_or(&text))
        };
        // A sentence that refers back is read with the one before it.
        let before = previous.filter(|_| sentences::refers_back(&text));
        let language = Language::detect(&text);
        let covers: Vec<Cover> = (0..self.tokens.len())
            .map(|i| self.cover(&tokens, i, language))
            .collect();
        let overlaps: Vec<f32> = covers.iter().map(Cover::share).collect();
        let best_overlap = overlaps.iter().copied().fold(0.0, f32::max);
        let mut check = SentenceCheck {
            text,
            sources: Vec::new(),
            support: best_overlap,
            verdict: Verdict::Unsupported,
            kept: false,
            quotes: Vec::new(),
        };
        let context = before.map(|b| content_terms(&b.text)).unwrap_or_default();
        // What refers back to the question said again, or to a bare yes, is about the question,
        // and never dangling.
        let about_the_question = before.is_some_and(only_the_question);
        let asks = self.asks(&tokens, &context) || about_the_question;
        let before = before.filter(|_| !about_the_question);
        if let Some(verdict) = self.without_sources(&tokens, before, best_overlap) {
            check.verdict = verdict;
            return Ok(check);
        }
        let query = self.embedder.embed_query(&check.text)?;
        let related = self.related(&check.text, &tokens, &query, &covers, language)?;
        if related.is_empty() {
            return Ok(check);
        }
        let asks = asks || self.says_again_an_answer(&tokens, &query, &related, language)?;
        let thread = self.thread.borrow().clone();
        if !asks && !related.iter().any(|i| thread.contains(&(i + 1))) {
            check.verdict = Verdict::OffTopic;
            return Ok(check);
        }
        let cited_supporting = dedup(
            cited
                .into_iter()
                .filter(|n| (1..=overlaps.len()).contains(n) && related.contains(&(n - 1))),
        );
        check.sources = if cited_supporting.is_empty() {
            // Off the question's words, the passage the answer is drawing on is the one to cite.
            let best = |a: &usize, b: &usize| {
                (asks || thread.contains(&(a + 1)))
                    .cmp(&(asks || thread.contains(&(b + 1))))
                    .then(overlaps[*a].total_cmp(&overlaps[*b]))
            };
            related
                .iter()
                .copied()
                .max_by(best)
                .map(|i| vec![i + 1])
                .unwrap_or_default()
        } else {
            cited_supporting
        };
        check.support = check
            .sources
            .iter()
            .map(|&n| overlaps[n - 1])
            .fold(0.0, f32::max);
        check.verdict = if self.language.written_in(&check.text) {
            self.thread.borrow_mut().extend(&check.sources);
            Verdict::Supported
        } else {
            Verdict::WrongLanguage
        };
        for &n in &check.sources {
            check.quotes.extend(
                self.quote(&tokens, &query, n - 1, language)?
                    .map(|(sentence, _)| sentence.clone()),
            );
        }
        Ok(check)
    }
}

impl SupportJudge {
    /// Whether a sentence (its content words `tokens`; `context`, those of the sentence it
    /// refers back to) shares a content word with the question (any sentence does when the
    /// question has none).
    fn asks(&self, tokens: &[String], context: &[String]) -> bool {
        self.question.is_empty()
            || tokens
                .iter()
                .chain(context)
                .any(|t| self.question.contains(t))
    }

    /// Whether one of the sources that back a sentence (`related`) backs it with a sentence
    /// that shares with the question a content word that tells the sources apart
    /// ([`SupportJudge::quote`], [`SupportJudge::tells_apart`]): the sentence then gives that
    /// source's answer in fewer words or in others, and bears on the question as its source
    /// sentence does ("通过建立软件包和 WWW 档案的镜像。" for "如何向 Debian 计划捐赠资源？", from
    /// "捐赠……资源（建立软件包和 WWW 档案的镜像）……"). A sentence copied whole from a passage
    /// beside the question is its own source sentence, and stays off it; so does one cut from a
    /// sentence that shares with the question only what every source holds ("Debian", in a
    /// Debian FAQ), which shows the sentence is about the corpus, not about the question.
    fn says_again_an_answer(
        &self,
        tokens: &[String],
        query: &[f32],
        related: &[usize],
        language: Language,
    ) -> Result<bool> {
        for &i in related {
            if let Some((_, words)) = self.quote(tokens, query, i, language)?
                && words
                    .iter()
                    .any(|t| self.question.contains(t) && self.tells_apart(t))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether some source lacks `term` (with one source, every term does).
    fn tells_apart(&self, term: &str) -> bool {
        self.tokens.len() < 2 || self.tokens.iter().any(|words| !words.contains(term))
    }

    /// The verdict on a sentence that no source need be asked about: one that refers back to a
    /// sentence not shown (`before`), states nothing, holds nothing beyond the question and talk
    /// of the sources, or has too few of its words in any source (`best_overlap`) to be backed.
    /// Saying the question back is told before support: "Yes, there is a curses package for
    /// Python." is the question again whether or not a source holds its words, and what refers
    /// back to it ("It comes with the source distribution.") refers to what the question asked
    /// about.
    fn without_sources(
        &self,
        tokens: &[String],
        before: Option<&SentenceCheck>,
        best_overlap: f32,
    ) -> Option<Verdict> {
        if before.is_some_and(|b| !b.kept) {
            Some(Verdict::Dangling)
        } else if bare_yes_or_no(tokens) {
            Some(Verdict::StatesNothing)
        } else if !self.question.is_empty()
            && tokens
                .iter()
                .all(|t| self.restated.contains(t) || is_yes_or_no(t))
        {
            Some(Verdict::RestatesQuestion)
        } else if best_overlap < self.min_overlap() {
            Some(Verdict::Unsupported)
        } else {
            None
        }
    }

    /// How much of a sentence (its content words `tokens`, written in `language`) source `i`
    /// holds: its words, and — for a source in another language, where the embedder can read
    /// across languages — the words a translation keeps as written: in a Chinese sentence its
    /// Latin words (names, commands, numbers), in an English one its numbers (all of them when it
    /// has none of those).
    fn cover(&self, tokens: &[String], i: usize, language: Language) -> Cover {
        let words = overlap(tokens, &self.tokens[i]);
        if !self.across(i, language) {
            return Cover { words, names: None };
        }
        let kept: Vec<String> = tokens
            .iter()
            .filter(|t| match language {
                Language::Chinese => !t.chars().any(is_han),
                Language::English => is_number(t),
            })
            .cloned()
            .collect();
        Cover {
            words,
            names: Some(overlap(&kept, &self.tokens[i])),
        }
    }

    /// Whether source `i` is read across languages against a sentence written in `language`:
    /// it is in the other language, and the embedder can compare the two.
    fn across(&self, i: usize, language: Language) -> bool {
        self.translation_floor.is_some() && self.written_in[i] != language
    }

    /// The least share of a sentence's words a source can back it with: [`PARAPHRASE_OVERLAP`]
    /// where the embedder can tell a paraphrase, else [`MIN_OVERLAP`].
    fn min_overlap(&self) -> f32 {
        if self.paraphrase_floor.is_some() {
            PARAPHRASE_OVERLAP
        } else {
            MIN_OVERLAP
        }
    }

    /// The sources (indices) that back a sentence (`text`, its content words `tokens`, its
    /// vector as a query `query`), by what each covers of it (`covers`). A source backs it when
    /// its words cover the sentence ([`MIN_OVERLAP`]) and the embedder finds the whole source
    /// related, at its relevance floor; or, covering at least [`PARAPHRASE_OVERLAP`], when the
    /// sentence rewords one of the source's sentences (see [`SupportJudge::rewords`]); or, for
    /// a source in another language, when it holds the sentence's names and numbers
    /// ([`MIN_OVERLAP`] of them) and one of its sentences is as near as a translation (a whole
    /// passage in another language is never as near as its own sentences are to their
    /// translation). Similarity is only asked of sources whose words already cover the sentence.
    fn related(
        &self,
        text: &str,
        tokens: &[String],
        query: &[f32],
        covers: &[Cover],
        language: Language,
    ) -> Result<Vec<usize>> {
        let mut related = Vec::new();
        for (i, cover) in covers.iter().enumerate() {
            let by_words = if cover.words >= MIN_OVERLAP {
                cosine(query, &self.vectors[i]) >= self.floor
                    && self.denies_as(text, tokens, query, i, language)?
            } else if cover.words >= PARAPHRASE_OVERLAP {
                self.rewords(text, tokens, query, i)?
            } else {
                false
            };
            let translated = || -> Result<bool> {
                let (Some(floor), Some(names)) = (self.translation_floor, cover.names) else {
                    return Ok(false);
                };
                if names < MIN_OVERLAP {
                    return Ok(false);
                }
                let nearest = self.nearest_sentence(query, i)?;
                tracing::trace!("source {} across languages: nearest {nearest:?}", i + 1);
                Ok(nearest.is_some_and(|(c, _)| c >= floor))
            };
            if by_words || translated()? {
                related.push(i);
            }
        }
        Ok(related)
    }

    /// Whether a sentence (`text`, `tokens`, `query` as in [`SupportJudge::related`]) says in
    /// other words what a sentence of source `i` in its language says: the nearest one is at
    /// the embedder's paraphrase floor, denies exactly when the sentence does
    /// ([`polarity::denies`]: the embedder barely tells a claim from its negation), and the
    /// sentence's numbers are all in the source.
    fn rewords(&self, text: &str, tokens: &[String], query: &[f32], i: usize) -> Result<bool> {
        let Some(floor) = self.paraphrase_floor else {
            return Ok(false);
        };
        let Some((similarity, at)) = self.nearest_sentence(query, i)? else {
            return Ok(false);
        };
        let nearest = &self.sentences[i][at].0;
        tracing::trace!("source {} reworded? {similarity:.3} {nearest:?}", i + 1);
        let numbers_found = tokens
            .iter()
            .filter(|t| is_number(t))
            .all(|t| self.tokens[i].contains(t));
        Ok(similarity >= floor
            && polarity::denies(text) == polarity::denies(nearest)
            && numbers_found)
    }

    /// Whether an English sentence (`text`, `tokens`, `query` as in [`SupportJudge::related`])
    /// denies exactly when the sentence of source `i` that backs it most plainly
    /// ([`SupportJudge::quote`]) does: "You don't need to have a basic development environment."
    /// shares most of its words with "… you will need to have a basic development environment …"
    /// and says the opposite. Not asked of Chinese, where 不 begins words as often as it denies:
    /// "“不稳定版”包含 main、contrib 和 non-free 子目录" (the unstable distribution) says what
    /// "“unstable”目录中也有 main、contrib 和 non-free 子目录" does.
    fn denies_as(
        &self,
        text: &str,
        tokens: &[String],
        query: &[f32],
        i: usize,
        language: Language,
    ) -> Result<bool> {
        if language != Language::English {
            return Ok(true);
        }
        Ok(self
            .quote(tokens, query, i, language)?
            .is_none_or(|(sentence, _)| polarity::denies(text) == polarity::denies(sentence)))
    }

    /// The sentence of source `i` nearest in meaning to `query`: its similarity and index.
    fn nearest_sentence(&self, query: &[f32], i: usize) -> Result<Option<(f32, usize)>> {
        let mut cache = self.sentence_vectors.borrow_mut();
        if cache[i].is_none() {
            cache[i] = Some(
                self.sentences[i]
                    .iter()
                    .map(|(s, _)| self.embedder.embed_query(s))
                    .collect::<Result<_>>()?,
            );
        }
        Ok(cache[i]
            .iter()
            .flatten()
            .map(|v| cosine(query, v))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(at, c)| (c, at)))
    }

    /// The sentence of source `i` that backs a sentence most plainly, with its content words: in
    /// its language, the one that holds the largest share of its words `tokens` (the first of
    /// equals); across languages, the one nearest its meaning (`query`).
    fn quote(
        &self,
        tokens: &[String],
        query: &[f32],
        i: usize,
        language: Language,
    ) -> Result<Option<&(String, HashSet<String>)>> {
        if self.across(i, language) {
            return Ok(self
                .nearest_sentence(query, i)?
                .map(|(_, at)| &self.sentences[i][at]));
        }
        let mut best: Option<(f32, &(String, HashSet<String>))> = None;
        for sentence in &self.sentences[i] {
            let share = overlap(tokens, &sentence.1);
            if best.is_none_or(|(top, _)| share > top) {
                best = Some((share, sentence));
            }
        }
        Ok(best.map(|(_, sentence)| sentence))
    }
}

/// Whether a content word is "yes" or "no".
fn is_yes_or_no(term: &str) -> bool {
    YES_OR_NO.contains(&term)
}

/// Whether a sentence of these content words says yes or no and nothing else.
fn bare_yes_or_no(tokens: &[String]) -> bool {
    tokens.iter().all(|t| is_yes_or_no(t))
}

/// Whether a dropped sentence held nothing but the question ("Yes, you can use Debian for
/// that.", "Yes."): what refers back to it ("This is possible because …") refers to what the
/// question asked about, which the reader has, so it is not left dangling.
fn only_the_question(check: &SentenceCheck) -> bool {
    match check.verdict {
        Verdict::RestatesQuestion => true,
        Verdict::StatesNothing => {
            let tokens = content_terms(&check.text);
            !tokens.is_empty() && bare_yes_or_no(&tokens)
        }
        _ => false,
    }
}

/// Whether a content word holds a number ("11", "5", "x86"): what a rewording or a translation
/// keeps as written.
fn is_number(term: &str) -> bool {
    term.chars().any(|c| c.is_ascii_digit())
}

/// The question's words ([`content_terms`]), the initials of each run of its English words (as
/// written in the question, so "retrieval-augmented generation" gives "rag"), and
/// [`ABOUT_THE_EXCHANGE`].
fn restated(question: &str) -> HashSet<String> {
    let mut restated = term_set(question);
    restated.extend(ABOUT_THE_EXCHANGE.iter().map(|w| w.to_string()));
    let question = content_tokens(question);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{WordEmbedder, evidence};

    fn judge(question: &str, source: &str) -> Box<dyn SentenceJudge> {
        SupportVerifier::new(Arc::new(WordEmbedder::default()))
            .prepare(
                question,
                &[evidence(1, "rag.md", source)],
                Language::English,
            )
            .unwrap()
    }

    fn verdict(judge: &dyn SentenceJudge, sentence: &str) -> Verdict {
        judge.judge(sentence, None).unwrap().verdict
    }

    /// A sentence its source backs is kept only when it tells the reader something the question
    /// did not: talk of the sources, the question's own words and their initials do not count.
    #[test]
    fn a_sentence_that_only_restates_the_question_is_not_supported() {
        let text = "RAG, retrieval-augmented generation, finds the answer to a question in a \
                    document collection and gives the passages found to a model, which writes \
                    the answer.";
        let judge = judge("What is retrieval-augmented generation?", text);
        assert_eq!(
            verdict(
                judge.as_ref(),
                "Retrieval-augmented generation gives the passages found to a model. [1]"
            ),
            Verdict::Supported
        );
        assert_eq!(
            verdict(
                judge.as_ref(),
                "The answer to this question can be found in the document collection called \
                 Retrieval-Augmented Generation (RAG). [1]"
            ),
            Verdict::RestatesQuestion
        );
        // Nothing of the question at all, only talk of the sources: nothing said, even though
        // the source's sentence it echoes names the question's subject.
        assert_eq!(
            verdict(
                self::judge("What is retrieval-augmented generation?", text).as_ref(),
                "The answer can be found in the document collection. [1]"
            ),
            Verdict::RestatesQuestion
        );
        // The same words are news to a question that does not hold them.
        let other = self::judge("What does a model get?", text);
        assert_eq!(
            verdict(
                other.as_ref(),
                "A model gets the passages found by RAG. [1]"
            ),
            Verdict::Supported
        );
    }

    /// A list item's number is layout: the source need not hold it.
    #[test]
    fn a_list_items_number_is_not_a_claim() {
        let judge = judge(
            "How do I build a package?",
            "Unpack the source with dpkg-source. Build it with dpkg-buildpackage.",
        );
        let check = judge
            .judge("2. Build it with dpkg-buildpackage. [1]", None)
            .unwrap();
        assert_eq!(check.verdict, Verdict::Supported);
        assert_eq!(check.support, 1.0);
        assert_eq!(check.text, "2. Build it with dpkg-buildpackage.");
    }

    /// Asserts that each of `sentences` states nothing, for `question` over `source`; the judge,
    /// for more.
    fn assert_states_nothing(
        question: &str,
        source: &str,
        sentences: &[&str],
    ) -> Box<dyn SentenceJudge> {
        let judge = judge(question, source);
        for sentence in sentences {
            assert_eq!(
                verdict(judge.as_ref(), sentence),
                Verdict::StatesNothing,
                "{sentence}"
            );
        }
        judge
    }

    /// A code fence states nothing, with its language named or not: "```python" was shown with
    /// a citation as if the source said "python", and "```bash", which no source says, was
    /// judged unsupported and counted as drift.
    #[test]
    fn a_code_fence_states_nothing() {
        assert_states_nothing(
            "How do I join paths in Python?",
            "Python joins paths with os.path.join; in bash, a slash does.",
            &["```python", "```bash [1]", "```", "~~~"],
        );
    }

    /// A bare yes or no states nothing in either language (it was off the question in English,
    /// and counted as drift, while "可以。" stated nothing); with the question's words only it
    /// says the question back; with a claim it is judged as one.
    #[test]
    fn a_bare_yes_or_no_states_nothing() {
        let judge = assert_states_nothing(
            "Can I install Debian from the Internet?",
            "Yes. You can install Debian by booting the installer from the archive site.",
            &["Yes.", "No! [1]", "Yes, yes.", "可以。"],
        );
        assert_eq!(
            verdict(
                judge.as_ref(),
                "Yes, you can install Debian from the Internet. [1]"
            ),
            Verdict::RestatesQuestion
        );
        assert_eq!(
            verdict(
                judge.as_ref(),
                "Yes, you can install Debian by booting the installer from the archive site. [1]"
            ),
            Verdict::Supported
        );
    }

    /// Each way a sentence can fail has its own verdict, and citations are made true.
    #[test]
    fn every_verdict_has_its_case() {
        let judge = judge(
            "How often are the archives updated?",
            "The archives are updated twice every day. Mirrors copy them with rsync.",
        );
        assert_eq!(
            verdict(judge.as_ref(), "And so it is. [1]"),
            Verdict::StatesNothing
        );
        assert_eq!(
            verdict(judge.as_ref(), "Green tea is brewed hot. [1]"),
            Verdict::Unsupported
        );
        assert_eq!(
            verdict(
                judge.as_ref(),
                "The archives are painted blue and updated by robots. [1]"
            ),
            Verdict::Unsupported
        );
        // Cited to no source, or to one that does not exist: the supporting one is cited.
        let check = judge
            .judge("The archives are updated twice every day [7].", None)
            .unwrap();
        assert_eq!(
            (check.verdict, check.sources),
            (Verdict::Supported, vec![1])
        );
        let chinese = |question: &str| {
            SupportVerifier::new(Arc::new(WordEmbedder::default()))
                .prepare(
                    question,
                    &[evidence(
                        1,
                        "a.md",
                        "Debian archives are updated twice every day.",
                    )],
                    Language::Chinese,
                )
                .unwrap()
        };
        let sentence = "Debian archives are updated twice every day.";
        // Backed, and about the question, but not in its language.
        assert_eq!(
            verdict(chinese("Debian 的档案多久更新一次？").as_ref(), sentence),
            Verdict::WrongLanguage
        );
        // No word in common with the question: not an answer to it.
        assert_eq!(
            verdict(chinese("档案多久更新一次？").as_ref(), sentence),
            Verdict::OffTopic
        );
    }

    /// A sentence that refers back is read with the one before it: about the question through
    /// it when that one was shown, dangling when it was not (in English and in Chinese).
    #[test]
    fn a_sentence_that_refers_back_stands_or_falls_with_the_one_before() {
        let judge = judge(
            "What is retrieval-augmented generation?",
            "Retrieval-augmented generation answers from retrieved passages. It turns each \
             passage into a vector and stores the vectors in an index.",
        );
        let first = |kept: bool| SentenceCheck {
            kept,
            ..judge
                .judge(
                    "Retrieval-augmented generation answers from retrieved passages. [1]",
                    None,
                )
                .unwrap()
        };
        let next = "It turns each passage into a vector. [1]";
        // Alone, first in an answer, it shares no word with the question: about something else.
        assert_eq!(verdict(judge.as_ref(), next), Verdict::OffTopic);
        let after_shown = judge.judge(next, Some(&first(true))).unwrap();
        assert_eq!(
            (after_shown.verdict, after_shown.sources),
            (Verdict::Supported, vec![1])
        );
        let after_dropped = judge.judge(next, Some(&first(false))).unwrap();
        assert_eq!(after_dropped.verdict, Verdict::Dangling);
        // After a sentence that only said the question back, or yes, it refers to what the
        // question asked about.
        for only_the_question in ["Retrieval-augmented generation is that. [1]", "Yes."] {
            // A judge of its own: nothing cited before.
            let judge = self::judge(
                "What is retrieval-augmented generation?",
                "Retrieval-augmented generation answers from retrieved passages. It turns each \
                 passage into a vector and stores the vectors in an index.",
            );
            let dropped = judge.judge(only_the_question, None).unwrap();
            let after = judge.judge(next, Some(&dropped)).unwrap();
            assert_eq!(after.verdict, Verdict::Supported, "{only_the_question}");
        }
        // Saying the question back is that, whether or not the source holds its words: what
        // refers back to it refers to what the question asked about.
        let judge = self::judge(
            "Is there a curses package for Python?",
            "The standard Python source distribution comes with a curses module. It is not \
             compiled by default.",
        );
        let yes = judge
            .judge("Yes, there is a curses package for Python.", None)
            .unwrap();
        assert_eq!(yes.verdict, Verdict::RestatesQuestion);
        let after = judge
            .judge(
                "It comes with the standard Python source distribution.",
                Some(&yes),
            )
            .unwrap();
        assert_eq!(
            (after.verdict, after.sources),
            (Verdict::Supported, vec![1])
        );
        // Its own words must still be in the source, whatever came before.
        assert_eq!(
            judge
                .judge("It paints each passage blue. [1]", Some(&first(true)))
                .unwrap()
                .verdict,
            Verdict::Unsupported
        );

        let chinese = SupportVerifier::new(Arc::new(WordEmbedder::default()))
            .prepare(
                "什么是检索增强生成？",
                &[evidence(
                    1,
                    "rag.zh.md",
                    "检索增强生成先检索文档再生成答案。它把文档切成片段。",
                )],
                Language::Chinese,
            )
            .unwrap();
        let dropped = SentenceCheck {
            kept: false,
            ..chinese.judge("检索增强生成先检索文档。[1]", None).unwrap()
        };
        assert_eq!(
            chinese
                .judge("它把文档切成片段。[1]", Some(&dropped))
                .unwrap()
                .verdict,
            Verdict::Dangling
        );
    }

    /// Sources 1 and 2, each a window of its sentences, for `question`, in `language`.
    fn two_sources(
        question: &str,
        first: &[&str],
        second: &[&str],
        language: Language,
    ) -> Box<dyn SentenceJudge> {
        let source = |n: usize, sentences: &[&str]| Evidence {
            window: sentences.iter().map(|s| s.to_string()).collect(),
            ..evidence(n, &format!("{n}.md"), &sentences.join(" "))
        };
        SupportVerifier::new(Arc::new(WordEmbedder::default()))
            .prepare(question, &[source(1, first), source(2, second)], language)
            .unwrap()
    }

    /// In Chinese a claim's words are pairs of characters: a sentence made of the source's
    /// characters that says the opposite shares few of its words.
    #[test]
    fn chinese_claims_are_weighed_in_pairs_of_characters() {
        let chinese = || {
            two_sources(
                "为什么稳定版的软件包很旧？",
                &["由于两次发布之间通常超过一年，您可能会发现稳定版包含的是旧版本的软件包。"],
                &["绿茶用八十度的水冲泡。"],
                Language::Chinese,
            )
        };
        let check = chinese()
            .judge("稳定版包含的是旧版本的软件包。[1]", None)
            .unwrap();
        assert_eq!(
            (check.verdict, check.support),
            (Verdict::Supported, 1.0),
            "{check:?}"
        );
        // Most of this one's characters are in the source; few of its words are.
        let opposite = "稳定版的软件包比较新，因为每周都发布一次。";
        let check = chinese().judge(&format!("{opposite}[1]"), None).unwrap();
        assert_eq!(check.verdict, Verdict::Unsupported, "{check:?}");
        assert!(check.support < 0.5, "{check:?}");
    }

    /// Whether a sentence bears on the question is judged on the answer so far: one without the
    /// question's words goes on with a passage the answer already cites, or it has drifted (in
    /// English and in Chinese).
    #[test]
    fn a_sentence_bears_on_the_question_through_the_passage_the_answer_draws_on() {
        for (question, first, second, language, opening, going_on, drifting) in [
            (
                "How often are the archives updated?",
                [
                    "The archives are updated twice every day.",
                    "Mirrors copy them with rsync.",
                ],
                [
                    "Green tea is brewed at 70 to 80 degrees.",
                    "Boiling water makes it bitter.",
                ],
                Language::English,
                "The archives are updated twice every day. [1]",
                "Mirrors copy them with rsync. [2]",
                "Green tea is brewed at 70 to 80 degrees. [2]",
            ),
            (
                "档案多久更新一次？",
                ["档案每天更新两次。", "镜像站点用 rsync 同步。"],
                ["绿茶用八十度的水冲泡。", "沸水让茶变苦。"],
                Language::Chinese,
                "档案每天更新两次。[1]",
                "镜像站点用 rsync 同步。[2]",
                "绿茶用八十度的水冲泡。[2]",
            ),
        ] {
            let judge = two_sources(question, &first, &second, language);
            // First in an answer, a sentence beside the question is off it.
            assert_eq!(
                verdict(
                    two_sources(question, &first, &second, language).as_ref(),
                    going_on
                ),
                Verdict::OffTopic
            );
            let opened = judge.judge(opening, None).unwrap();
            assert_eq!(opened.verdict, Verdict::Supported);
            // After the archives' schedule, the mirrors of the same passage go on with it
            // (its citation corrected to that passage); tea has drifted.
            let next = judge.judge(going_on, Some(&opened)).unwrap();
            assert_eq!((next.verdict, next.sources), (Verdict::Supported, vec![1]));
            assert_eq!(verdict(judge.as_ref(), drifting), Verdict::OffTopic);
        }
    }

    /// A sentence without the question's words bears on it when the source sentence it gives in
    /// fewer words has them; one backed by a source sentence beside the question stays off it
    /// (in English and in Chinese).
    #[test]
    fn a_sentence_bears_on_the_question_through_the_source_sentence_it_says_again() {
        for (question, window, shorter, beside, language) in [
            (
                "How can I donate resources to Debian?",
                [
                    "Donations of resources, such as mirrors of the package and web archives, \
                     help the project.",
                    "Mirrors are updated by scripts every day.",
                ],
                "Through mirrors of the package and web archives. [1]",
                "Mirrors are updated by scripts every day. [1]",
                Language::English,
            ),
            (
                "如何向 Debian 计划捐赠资源？",
                [
                    "捐赠资源（建立软件包和 WWW 档案的镜像）可以帮助本计划。",
                    "镜像每天由脚本自动更新。",
                ],
                "通过建立软件包和 WWW 档案的镜像。[1]",
                "镜像每天由脚本自动更新。[1]",
                Language::Chinese,
            ),
        ] {
            let judge = two_sources(question, &window, &["Green tea is brewed hot."], language);
            let check = judge.judge(shorter, None).unwrap();
            assert_eq!(
                (check.verdict, check.sources.as_slice()),
                (Verdict::Supported, [1].as_slice()),
                "{check:?}"
            );
            assert_eq!(check.quotes, [window[0]]);
            // First in an answer, and its source sentence is not about the question either.
            let judge = two_sources(question, &window, &["Green tea is brewed hot."], language);
            assert_eq!(verdict(judge.as_ref(), beside), Verdict::OffTopic);
        }
        // Cut from a sentence that shares with the question only a word every source holds.
        let judge = two_sources(
            "How does Debian support diversity?",
            &["Debian lets administrators set one package as the preferred one."],
            &["Debian archives are updated twice every day."],
            Language::English,
        );
        assert_eq!(
            verdict(
                judge.as_ref(),
                "Administrators set one package as the preferred one. [1]"
            ),
            Verdict::OffTopic
        );
    }

    /// A multilingual embedder in miniature: a sentence it knows the English of is embedded as
    /// that English (by its words), so a translation lands where its original is.
    struct Translating {
        words: WordEmbedder,
        english: &'static [(&'static str, &'static str)],
    }

    impl Translating {
        fn english<'a>(&self, text: &'a str) -> &'a str {
            let text = text.trim();
            self.english
                .iter()
                .find(|(chinese, _)| *chinese == text)
                .map_or(text, |(_, english)| english)
        }
    }

    impl Embedder for Translating {
        fn id(&self) -> &str {
            "fake-translating"
        }
        fn dimension(&self) -> usize {
            self.words.dimension
        }
        fn count_tokens(&self, text: &str) -> usize {
            self.words.count_tokens(text)
        }
        fn max_tokens(&self) -> usize {
            self.words.max_tokens()
        }
        fn embed_passages(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            let english: Vec<String> = texts.iter().map(|t| self.english(t).to_string()).collect();
            self.words.embed_passages(&english)
        }
        fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
            self.words.embed_query(self.english(text))
        }
        fn supports(&self, _: Language) -> bool {
            true
        }
        fn relevance_floor(&self) -> f32 {
            self.words.relevance_floor()
        }
        fn paraphrase_floor(&self, _: Language) -> Option<f32> {
            Some(0.9)
        }
        fn translation_floor(&self) -> Option<f32> {
            Some(0.9)
        }
    }

    /// A sentence with half its words in a source, or more, is kept when it says in other words
    /// what one of the source's sentences says — unless it denies what that sentence affirms,
    /// or brings a number the source does not hold (an embedder barely sees either).
    #[test]
    fn a_rewording_is_kept_unless_it_denies_or_changes_a_number() {
        const ADVICE: &str = "If this is the case, you might want to install or upgrade to \
                              either testing or unstable.";
        const DELAY: &str = "Fixes reach testing after 10 days.";
        const REWORDED: &str = "You should try upgrading to testing or unstable.";
        const DENIED: &str = "You should not try upgrading to testing or unstable.";
        const OTHER_NUMBER: &str = "Fixes usually reach testing after 5 days.";
        let english = &[(REWORDED, ADVICE), (DENIED, ADVICE), (OTHER_NUMBER, DELAY)];
        let sources = [Evidence {
            window: vec![ADVICE.into(), DELAY.into()],
            ..evidence(1, "stable.md", &format!("{ADVICE} {DELAY}"))
        }];
        let question = "My hardware does not work with stable: should I try testing?";
        let judge = |embedder: Arc<dyn Embedder>| {
            SupportVerifier::new(embedder)
                .prepare(question, &sources, Language::English)
                .unwrap()
        };
        let reading = judge(Arc::new(Translating {
            words: WordEmbedder::default(),
            english,
        }));
        for sentence in [REWORDED, DENIED, OTHER_NUMBER] {
            let check = reading.judge(sentence, None).unwrap();
            assert!(
                (PARAPHRASE_OVERLAP..MIN_OVERLAP).contains(&check.support),
                "a rewording, not a copy: {check:?}"
            );
        }
        let check = reading.judge(REWORDED, None).unwrap();
        assert_eq!(
            (check.verdict, check.sources),
            (Verdict::Supported, vec![1])
        );
        assert_eq!(verdict(reading.as_ref(), DENIED), Verdict::Unsupported);
        assert_eq!(
            verdict(reading.as_ref(), OTHER_NUMBER),
            Verdict::Unsupported
        );

        let by_words = judge(Arc::new(WordEmbedder::default()));
        assert_eq!(verdict(by_words.as_ref(), REWORDED), Verdict::Unsupported);
    }

    /// An English sentence made of its source's words says what the source says only if it
    /// denies where the source sentence it copies does: a "not" put in or left out turns the
    /// claim over. Chinese is not asked: 不 begins the name of the unstable distribution.
    #[test]
    fn a_copied_sentence_that_turns_its_source_over_is_not_backed() {
        let english = judge(
            "How can I install a developer's environment to build packages?",
            "If you want to build packages you will need a basic development environment, \
             including a compiler. The compiler is not installed by default.",
        );
        let chinese = SupportVerifier::new(Arc::new(WordEmbedder::default()))
            .prepare(
                "“不稳定版”包含什么？",
                &[evidence(
                    1,
                    "dists.md",
                    "“unstable”目录中也有 main、contrib 和 non-free 子目录，划分标准和“stable”相同。",
                )],
                Language::Chinese,
            )
            .unwrap();
        for (judge, sentence, expected) in [
            (
                &english,
                "To build packages you will need a basic development environment. [1]",
                Verdict::Supported,
            ),
            (
                &english,
                "To build packages you don't need a basic development environment. [1]",
                Verdict::Unsupported,
            ),
            (
                &english,
                "The compiler is not installed by default. [1]",
                Verdict::Supported,
            ),
            (
                &english,
                "The compiler is installed by default. [1]",
                Verdict::Unsupported,
            ),
            (
                &chinese,
                "“不稳定版”包含 main、contrib 和 non-free 子目录，划分标准和“stable”相同。[1]",
                Verdict::Supported,
            ),
        ] {
            assert_eq!(verdict(judge.as_ref(), sentence), expected, "{sentence}");
        }
    }

    /// A Chinese answer from an English source is read across languages: a sentence is backed
    /// when it is as near in meaning to one of the source's sentences as a translation, and the
    /// names it keeps in Latin letters are the source's; it is quoted with the sentence it
    /// translates. An embedder that cannot compare languages leaves it unsupported.
    #[test]
    fn a_chinese_sentence_is_backed_by_the_english_sentence_it_translates() {
        const DEFINITION: &str = "Prompt injection is an attack in which text that a model reads \
                                  tries to override the instructions of the application.";
        const HIDING: &str = "The attack usually hides inside a web page or a PDF.";
        const TRANSLATED: &str = "提示注入是一种攻击：模型读到的文字试图覆盖应用程序的指令。";
        const MADE_UP: &str = "提示注入是一种加密算法。";
        // As near as a translation, but with a name the source does not hold.
        const OTHER_FORMAT: &str = "提示注入通常藏在网页或 DOCX 里。";
        let english = &[
            (TRANSLATED, DEFINITION),
            (MADE_UP, "Prompt injection is an encryption algorithm."),
            (
                OTHER_FORMAT,
                "The attack usually hides inside a web page or a DOCX.",
            ),
        ];
        let sources = [
            Evidence {
                window: vec![DEFINITION.into(), HIDING.into()],
                ..evidence(1, "safety.pdf", &format!("{DEFINITION} {HIDING}"))
            },
            evidence(
                2,
                "prompting.zh.md",
                "提示工程只修改输入的文字，不改变模型参数。",
            ),
        ];
        let judge = |embedder: Arc<dyn Embedder>| {
            SupportVerifier::new(embedder)
                .prepare("什么是提示注入？", &sources, Language::Chinese)
                .unwrap()
        };
        let across = judge(Arc::new(Translating {
            words: WordEmbedder::default(),
            english,
        }));
        let check = across.judge(&format!("{TRANSLATED}[2]"), None).unwrap();
        assert_eq!(
            (check.verdict, check.sources, check.quotes),
            (Verdict::Supported, vec![1], vec![DEFINITION.to_string()])
        );
        let made_up = across.judge(MADE_UP, None).unwrap();
        assert_eq!(
            (made_up.verdict, made_up.support),
            (Verdict::Unsupported, 1.0)
        );
        let other_format = across.judge(OTHER_FORMAT, None).unwrap();
        assert_eq!(other_format.verdict, Verdict::Unsupported);
        assert!(other_format.support < MIN_OVERLAP, "{other_format:?}");
        let pdf = across.judge("提示注入通常藏在网页或 PDF 里。", None);
        assert_eq!(pdf.unwrap().support, 1.0);

        let by_words = judge(Arc::new(WordEmbedder::default()));
        assert_eq!(verdict(by_words.as_ref(), TRANSLATED), Verdict::Unsupported);
    }
}
