//! What a caller may ask of the engine, checked in one place: [`check_query`] for a search,
//! [`AskOptions::check`] for a question to answer. The CLI, the server and `eval` all go through
//! them (the engine checks every call; a server also checks before a question waits for a slot).

use crate::engine::AskOptions;
use crate::error::{Error, Result};
use crate::store::Filter;

/// The most hits one search returns (evaluation ranks up to 100 documents from their chunks).
pub const MAX_K: usize = 1000;

/// The longest question, in characters: far beyond any real question, short of what would
/// make embedding and the prompt slow or the prompt overflow the generator's context.
pub const MAX_QUERY_CHARS: usize = 4000;

/// Rejects what no search can answer: an empty or overlong query, or k out of 1..=MAX_K.
pub fn check_query(text: &str, k: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::InvalidInput("the question is empty".into()));
    }
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(Error::InvalidInput(format!(
            "the question is {chars} characters long; the limit is {MAX_QUERY_CHARS}"
        )));
    }
    if !(1..=MAX_K).contains(&k) {
        return Err(Error::InvalidInput(format!(
            "k must be between 1 and {MAX_K}, got {k}"
        )));
    }
    Ok(())
}

/// The most documents a search may be restricted to.
pub const MAX_FILTER_DOCUMENTS: usize = 100;

/// The most earlier questions of a conversation read for a follow-up (the oldest beyond are
/// ignored by the caller or refused here: only the last few carry a topic).
pub const MAX_EARLIER_QUESTIONS: usize = 32;

/// The most path globs one filter may hold.
pub const MAX_FILTER_PATHS: usize = 32;

/// Rejects a filter naming more documents than [`MAX_FILTER_DOCUMENTS`] or more globs than
/// [`MAX_FILTER_PATHS`], or an invalid glob.
pub fn check_filter(filter: &Filter) -> Result<()> {
    let n = filter.documents.len();
    if n > MAX_FILTER_DOCUMENTS {
        return Err(Error::InvalidInput(format!(
            "a search may be restricted to at most {MAX_FILTER_DOCUMENTS} documents, got {n}"
        )));
    }
    let n = filter.paths.len();
    if n > MAX_FILTER_PATHS {
        return Err(Error::InvalidInput(format!(
            "a search may name at most {MAX_FILTER_PATHS} path globs, got {n}"
        )));
    }
    filter.path_matcher()?;
    Ok(())
}

/// The most sources an answer draws on: each hit is cut into sentences and scored, and a few
/// windows of them fill the prompt, so more only costs time (and a slot others wait for).
pub const MAX_ASK_K: usize = 50;

/// Longest answer, in tokens, a caller may ask for.
pub const MAX_ANSWER_TOKENS: usize = 2048;

impl AskOptions {
    /// Checks a question to answer with these options: [`check_query`], k at most
    /// [`MAX_ASK_K`], `max_tokens` and `temperature` in range. [`crate::Engine::ask`] checks every
    /// call; a server checks before a question waits for a generation slot.
    pub fn check(&self, question: &str) -> Result<()> {
        let k = self.k;
        check_query(question, k)?;
        if k > MAX_ASK_K {
            return Err(Error::InvalidInput(format!(
                "k must be at most {MAX_ASK_K} for an answer, got {k}"
            )));
        }
        let max_tokens = self.generation.max_tokens;
        if !(1..=MAX_ANSWER_TOKENS).contains(&max_tokens) {
            return Err(Error::InvalidInput(format!(
                "max_tokens must be between 1 and {MAX_ANSWER_TOKENS}, got {max_tokens}"
            )));
        }
        check_filter(&self.filter)?;
        if self.earlier.len() > MAX_EARLIER_QUESTIONS {
            return Err(Error::InvalidInput(format!(
                "at most {MAX_EARLIER_QUESTIONS} earlier questions, got {}",
                self.earlier.len()
            )));
        }
        if let Some(long) = self
            .earlier
            .iter()
            .find(|q| q.chars().count() > MAX_QUERY_CHARS)
        {
            return Err(Error::InvalidInput(format!(
                "an earlier question is {} characters long; the limit is {MAX_QUERY_CHARS}",
                long.chars().count()
            )));
        }
        if !(0.0..=2.0).contains(&self.generation.temperature) {
            return Err(Error::InvalidInput(format!(
                "temperature must be between 0 and 2, got {}",
                self.generation.temperature
            )));
        }
        Ok(())
    }
}
