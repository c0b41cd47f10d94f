//! Reasoning models (Qwen3, the DeepSeek-R1 distills) write `<think>…</think>` before their
//! answer. The thinking is not the answer: it is never shown, and so never checked for
//! citations. Templates that can turn it off are asked to (`enable_thinking=false`, see
//! [`ChatTemplate`](crate::ChatTemplate)); this removes whatever thinking a model writes anyway.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Filters streamed text, holding back a tag split across pieces until it is whole.
pub struct HideThinking {
    pending: String,
    thinking: bool,
    /// Whitespace after a closed thinking block is dropped, not shown as the answer's start.
    after_close: bool,
}

impl HideThinking {
    /// A filter for the reply to `prompt`: where the template already opened a thinking block
    /// (R1 distills end their prompt with `<think>`), the reply starts inside it.
    pub fn after_prompt(prompt: &str) -> Self {
        let thinking = prompt.trim_end().ends_with(OPEN);
        HideThinking {
            pending: String::new(),
            thinking,
            after_close: false,
        }
    }

    /// Adds a piece of generated text; returns what may be shown of it now.
    pub fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        let mut shown = String::new();
        loop {
            if self.thinking {
                match self.pending.find(CLOSE) {
                    Some(at) => {
                        self.pending.drain(..at + CLOSE.len());
                        self.thinking = false;
                        self.after_close = true;
                    }
                    None => {
                        // Keep only what could be the start of the closing tag.
                        let keep = partial_tag_len(&self.pending, CLOSE);
                        self.pending.drain(..self.pending.len() - keep);
                        return shown;
                    }
                }
            } else {
                if self.after_close {
                    let trimmed = self.pending.trim_start().len();
                    self.pending.drain(..self.pending.len() - trimmed);
                    if self.pending.is_empty() {
                        return shown;
                    }
                    self.after_close = false;
                }
                match self.pending.find(OPEN) {
                    Some(at) => {
                        shown.push_str(&self.pending[..at]);
                        self.pending.drain(..at + OPEN.len());
                        self.thinking = true;
                    }
                    None => {
                        let keep = partial_tag_len(&self.pending, OPEN);
                        let upto = self.pending.len() - keep;
                        shown.push_str(&self.pending[..upto]);
                        self.pending.drain(..upto);
                        return shown;
                    }
                }
            }
        }
    }

    /// The end of the reply: what was held back as a possible tag, unless it was thinking
    /// (an unclosed block is dropped whole).
    pub fn finish(self) -> String {
        if self.thinking {
            String::new()
        } else {
            self.pending
        }
    }
}

/// The length of the longest end of `text` that is a proper start of `tag`.
fn partial_tag_len(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| text.ends_with(&tag[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `pieces` through a filter and returns all that was shown.
    fn shown(prompt: &str, pieces: &[&str]) -> String {
        let mut filter = HideThinking::after_prompt(prompt);
        let mut out: String = pieces.iter().map(|p| filter.push(p)).collect();
        out.push_str(&filter.finish());
        out
    }

    #[test]
    fn thinking_is_removed_wherever_the_tags_are_split() {
        let reply = "<think>\nThe user asks about apt. Cite [1].\n</think>\n\nUse apt [1].";
        // Every way of cutting the reply in two, and one character at a time.
        for cut in 1..reply.len() {
            assert_eq!(
                shown("", &[&reply[..cut], &reply[cut..]]),
                "Use apt [1].",
                "cut at {cut}"
            );
        }
        let chars: Vec<String> = reply.chars().map(String::from).collect();
        let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(shown("", &pieces), "Use apt [1].");
    }

    #[test]
    fn a_prompt_that_opens_thinking_starts_inside_it() {
        let prompt = "<|User|>Why?<|Assistant|><think>\n";
        assert_eq!(
            shown(prompt, &["Let me see [2].", "</thi", "nk>", "Because [1]."]),
            "Because [1]."
        );
    }

    #[test]
    fn text_without_thinking_passes_whole_and_unclosed_thinking_is_dropped() {
        assert_eq!(shown("", &["a < b", " and <", "thin"]), "a < b and <thin");
        assert_eq!(shown("", &["Answer. <think>never closed"]), "Answer. ");
    }
}
