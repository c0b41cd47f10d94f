//! The [`Embedder`] boundary: text in, vectors out. The implementations live in `docent-embed`.

use anyhow::Result;

use crate::text::language::Language;

/// Turns text into vectors. Passages and queries are separate calls because some models (e5)
/// want different prefixes for each.
pub trait Embedder: Send + Sync {
    /// Identifies the model; a store remembers it and refuses vectors from another one.
    fn id(&self) -> &str;
    /// Length of every vector it returns.
    fn dimension(&self) -> usize;
    /// Length of `text` as a passage, in the model's tokens (special tokens and prefixes
    /// included): chunks are measured with it so that none is truncated.
    fn count_tokens(&self, text: &str) -> usize;
    /// The longest input, in tokens, the model embeds whole.
    fn max_tokens(&self) -> usize;
    /// Vectors of passages to store, in order.
    fn embed_passages(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
    /// The vector of a query to search with.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>>;
    /// Whether the model was trained on text in `language`.
    fn supports(&self, language: Language) -> bool;
    /// The cosine similarity below which a passage is unrelated to a query. Each model spreads
    /// its similarities differently (e5's unrelated pairs still score ~0.7, MiniLM's ~0.1), so
    /// the "I don't know" bar belongs to the model.
    fn relevance_floor(&self) -> f32;
    /// The cosine at or above which a sentence in `language` says in other words what a
    /// sentence in the same language says (both embedded as queries): how the verifier keeps a
    /// model's rewording of its source. `None` where the model's similarities in that language
    /// cannot tell a rewording from another claim on the same subject.
    fn paraphrase_floor(&self, _language: Language) -> Option<f32> {
        None
    }
    /// The cosine at or above which a sentence says what a sentence in another language says
    /// (both embedded as queries): how the verifier reads a Chinese answer written from an
    /// English source. `None` where the model does not place languages in one space.
    fn translation_floor(&self) -> Option<f32> {
        None
    }
}

/// `vector` scaled to unit length, so that a dot product is a cosine (an all-zero vector stays
/// zero).
pub fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}
