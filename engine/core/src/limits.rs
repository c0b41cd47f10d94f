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

/// The longest path glob, in characters: a path pattern, not a program. Compiling a glob costs
/// memory with its length and wildcards (32 globs of 10,000 `*a` took 479 MB before the matcher
/// gave up).
pub const MAX_GLOB_CHARS: usize = 256;

/// The most wildcards (`*`, `?`, `[…]`, `{…}`) in one glob: each is a loop or a choice in the
/// compiled matcher.
pub const MAX_GLOB_WILDCARDS: usize = 16;

/// Rejects a filter naming more documents than [`MAX_FILTER_DOCUMENTS`] or more globs than
/// [`MAX_FILTER_PATHS`], or a glob that is too long, too wild or invalid. Cheap: the globs are
/// parsed, not compiled (the engine compiles them once, on its own thread).
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
    for glob in &filter.paths {
        let chars = glob.chars().count();
        if chars > MAX_GLOB_CHARS {
            return Err(Error::InvalidInput(format!(
                "a path glob is {chars} characters long; the limit is {MAX_GLOB_CHARS}"
            )));
        }
        let wildcards = glob
            .chars()
            .filter(|c| matches!(c, '*' | '?' | '[' | '{'))
            .count();
        if wildcards > MAX_GLOB_WILDCARDS {
            return Err(Error::InvalidInput(format!(
                "a path glob holds {wildcards} wildcards; the limit is {MAX_GLOB_WILDCARDS}"
            )));
        }
    }
    filter.parsed_globs()?;
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
        let max = crate::retrieve::search_tool::MAX_SEARCHES;
        if self.searches > max {
            return Err(Error::InvalidInput(format!(
                "at most {max} further searches by the model, got {}",
                self.searches
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

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(paths: Vec<String>) -> Filter {
        Filter {
            paths,
            ..Default::default()
        }
    }

    #[test]
    fn globs_are_bounded_before_anything_is_compiled() {
        // The attack: 32 globs of 10,000 `*a` each (640 KB of pattern).
        let err = check_filter(&globs(vec!["*a".repeat(10_000); 32])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a path glob is 20000 characters long; the limit is 256"
        );
        let err = check_filter(&globs(vec!["*a".repeat(17)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a path glob holds 17 wildcards; the limit is 16"
        );
        let err = check_filter(&globs(vec!["*.md".into(); 33])).unwrap_err();
        assert!(err.to_string().contains("at most 32 path globs"), "{err}");
        assert!(check_filter(&globs(vec!["[unclosed".into()])).is_err());

        // The worst that passes still compiles into a matcher that works.
        let worst: Vec<String> = (0..MAX_FILTER_PATHS)
            .map(|i| {
                let wild = "*a".repeat(MAX_GLOB_WILDCARDS);
                let tail = "b".repeat(MAX_GLOB_CHARS - wild.len() - 2);
                format!("{wild}{tail}{i:02}")
            })
            .collect();
        assert!(worst.iter().all(|g| g.chars().count() == MAX_GLOB_CHARS));
        let filter = globs(worst);
        check_filter(&filter).unwrap();
        let matcher = filter.path_matcher().unwrap().unwrap();
        assert!(!matcher.is_match("notes.md"));
    }
}
