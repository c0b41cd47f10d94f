//! Keeps an answer's citations honest: `[n]` markers that point at no retrieved source are
//! removed, while the answer streams. The text streamed and the final answer are the same text.

use crate::text::markers::{self, is_marker_char};

/// Streaming filter over generated text. Text inside a possible `[...]` marker is held back
/// until the marker is complete, then released (valid numbers only) or dropped.
pub struct CitationFilter {
    sources: usize,
    pending: String,
}

/// A bracket longer than this is prose, not a citation.
const MAX_MARKER: usize = 24;

impl CitationFilter {
    /// `sources` is how many sources the prompt numbered (1..=sources are valid).
    pub fn new(sources: usize) -> Self {
        CitationFilter {
            sources,
            pending: String::new(),
        }
    }

    /// Feeds generated text; returns what can be shown now.
    pub fn push(&mut self, text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            if self.pending.is_empty() {
                if c == '[' {
                    self.pending.push(c);
                } else {
                    out.push(c);
                }
                continue;
            }
            self.pending.push(c);
            if c == ']' {
                out.push_str(&self.resolve());
            } else if !is_marker_char(c) || self.pending.len() > MAX_MARKER {
                out.push_str(&std::mem::take(&mut self.pending));
            }
        }
        out
    }

    /// Releases anything still held back at the end of the answer.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Rewrites a complete `[...]` marker keeping only valid source numbers.
    fn resolve(&mut self) -> String {
        let marker = std::mem::take(&mut self.pending);
        let inner = &marker[1..marker.len() - 1];
        let Some(numbers) = markers::parse(inner) else {
            return marker; // "[]" or "[ ]": not a citation
        };
        let valid: Vec<usize> = numbers
            .into_iter()
            .filter(|n| (1..=self.sources).contains(n))
            .collect();
        if valid.is_empty() {
            return String::new();
        }
        markers::format(&valid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_all(sources: usize, pieces: &[&str]) -> String {
        let mut filter = CitationFilter::new(sources);
        let mut out: String = pieces.iter().map(|p| filter.push(p)).collect();
        out.push_str(&filter.finish());
        out
    }

    #[test]
    fn keeps_valid_and_drops_invalid_citations() {
        let out = filter_all(
            3,
            &["RAG retrieves [2] then generates [7]. See [1,9] and [3 ]."],
        );
        assert_eq!(out, "RAG retrieves [2] then generates . See [1] and [3].");
    }

    #[test]
    fn markers_split_across_pieces_are_handled() {
        let out = filter_all(2, &["a [", "1", "] b [", "4", "] c [2"]);
        assert_eq!(out, "a [1] b  c [2");
    }

    #[test]
    fn brackets_that_are_not_citations_pass_through() {
        let out = filter_all(2, &["arr[i] = [a, b]; x[] [0] 检索[1]。"]);
        assert_eq!(out, "arr[i] = [a, b]; x[]  检索[1]。");
    }
}
