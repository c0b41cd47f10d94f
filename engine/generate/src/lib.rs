//! docent's local generator, behind `docent-core`'s [`Generator`](docent_core::Generator)
//! trait: GGUF chat models (llama, qwen2, qwen3, gemma3, phi3) run by candle, on the CPU (with
//! docent's own kernels for the 4- and 5-bit formats candle multiplies slowly) or, built with
//! the `cuda` feature, the GPU.

#![warn(missing_docs)]

mod amx;
mod architecture;
mod causal_softmax;
mod chat_template;
mod decode_attention;
mod decoder;
mod gguf;
mod gguf_tokenizer;
mod kquant;
mod ktiles;
mod lanes;
mod q4_1;
mod q5_0;
mod q8;
mod q8_0;
mod thinking;
mod token_stream;

pub use chat_template::ChatTemplate;
pub use gguf::{Continuation, GgufGenerator};
pub use gguf_tokenizer::tokenizer_from_gguf;
pub use token_stream::TokenStream;

/// A long prompt runs through the model this many tokens at a time, as llama.cpp's batches do:
/// each chunk attends only to the keys before it (half the attention work of one causal pass),
/// its score matrices stay small enough for the allocator to reuse instead of mapping fresh pages
/// for every one (at 1,000 tokens, a quarter of the time went to page faults), and a deadline is
/// checked between chunks.
pub(crate) const PREFILL_CHUNK: usize = 256;
