//! The [`Generator`] boundary and its local implementation: GGUF models run by candle.

mod chat_template;
mod decode_attention;
mod gguf;
mod gguf_tokenizer;
mod llama;
mod q4_1;
mod token_stream;

use std::ops::ControlFlow;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::language::Language;

pub use chat_template::ChatTemplate;
pub use gguf::{Device, GgufGenerator};
pub use gguf_tokenizer::tokenizer_from_gguf;
pub use token_stream::TokenStream;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        ChatMessage { role: role.to_string(), content: content.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationParams {
    pub max_tokens: usize,
    /// 0 picks the most likely token every time (reproducible answers).
    pub temperature: f64,
    pub top_p: f64,
    pub repeat_penalty: f32,
    pub seed: u64,
}

impl Default for GenerationParams {
    fn default() -> Self {
        GenerationParams { max_tokens: 256, temperature: 0.0, top_p: 0.9, repeat_penalty: 1.1, seed: 42 }
    }
}

/// Token counts and wall-clock time of one generation, split into its two phases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Prefill: running the whole prompt through the model.
    pub prompt_ms: f64,
    /// Decoding: producing the answer token by token.
    pub generation_ms: f64,
}

/// Produces text for a chat, streaming it piece by piece to `on_text`, which may stop it early
/// by returning `Break` (a client that went away).
pub trait Generator: Send + Sync {
    fn name(&self) -> &str;
    /// The longest prompt plus answer, in tokens, the model can attend to.
    fn context_length(&self) -> usize;
    /// Whether the model can write `language` (a model whose vocabulary barely covers Chinese
    /// writes invented characters when asked to).
    fn writes(&self, language: Language) -> bool;
    /// Tokens the chat takes once rendered with the model's template.
    fn count_tokens(&self, messages: &[ChatMessage]) -> Result<usize>;
    fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerationStats>;
}
