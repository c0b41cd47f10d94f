//! Turns generated token ids into text as they come. One token can hold part of a UTF-8
//! character (byte-level BPE splits Chinese characters across tokens), so text is released only
//! once it decodes cleanly.

use anyhow::{Result, anyhow};
use tokenizers::Tokenizer;

/// Turns token ids, one at a time, into text pieces that are whole UTF-8 (a character split
/// across tokens waits for its last byte).
pub struct TokenStream<'t> {
    tokenizer: &'t Tokenizer,
    tokens: Vec<u32>,
    /// Tokens before this index have been released as text.
    released: usize,
    /// Length of the decoded text of `tokens[..released]` as decoded together with what follows.
    released_text_len: usize,
}

impl<'t> TokenStream<'t> {
    /// A stream over `tokenizer`'s tokens.
    pub fn new(tokenizer: &'t Tokenizer) -> Self {
        TokenStream {
            tokenizer,
            tokens: Vec::new(),
            released: 0,
            released_text_len: 0,
        }
    }

    fn decode(&self, tokens: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(tokens, false)
            .map_err(|e| anyhow!("decoding tokens: {e}"))
    }

    /// Adds a token; returns the text it completes, if any.
    pub fn push(&mut self, token: u32) -> Result<Option<String>> {
        self.tokens.push(token);
        let text = self.decode(&self.tokens[self.released..])?;
        if text.len() > self.released_text_len && !text.ends_with('\u{fffd}') {
            let fresh = text[self.released_text_len..].to_string();
            // Re-anchor on the last token so the window stays short.
            self.released = self.tokens.len() - 1;
            self.released_text_len = self.decode(&self.tokens[self.released..])?.len();
            Ok(Some(fresh))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_multibyte_characters_whole() {
        // Byte-level tokenizer with single-byte tokens only: every CJK character spans 3 tokens.
        let tokenizer = crate::gguf_tokenizer::tests::byte_tokenizer();
        let text = "RAG 检索 ok";
        let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
        assert!(
            ids.len() > text.chars().count(),
            "the test needs characters split across tokens"
        );
        let mut stream = TokenStream::new(&tokenizer);
        let mut out = String::new();
        for id in ids {
            if let Some(piece) = stream.push(id).unwrap() {
                assert!(
                    !piece.contains('\u{fffd}'),
                    "released a broken character: {piece:?}"
                );
                out.push_str(&piece);
            }
        }
        assert_eq!(out, text);
    }
}
