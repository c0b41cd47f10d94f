//! The decoder-only families docent runs, and what sets each apart, read from a GGUF's metadata.
//!
//! llama, qwen2, qwen3, gemma3 and phi3 are one transformer with switches: biases on the
//! query/key/value projections (qwen2), a norm per head on queries and keys (qwen3, gemma3),
//! fused projections (phi3), GELU and extra norms after attention and the feed-forward block
//! (gemma3), local layers that see only a sliding window (gemma3), and how rotary embeddings
//! pair dimensions. The values follow llama.cpp's reading of the same keys, since llama.cpp is
//! what the GGUFs are made for and what docent's tests compare against.

use anyhow::{Result, anyhow};
use candle_core::quantized::gguf_file::{Content, Value};
use strum::VariantNames;

/// A model family, by its GGUF `general.architecture` (the variant's name in lowercase).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum Architecture {
    /// Llama 2/3, SmolLM2, Mistral-style models.
    Llama,
    /// Qwen2 and Qwen2.5 (and the DeepSeek-R1 distills built on them).
    Qwen2,
    /// Qwen3 (dense).
    Qwen3,
    /// Gemma 3 (text).
    Gemma3,
    /// Phi-3, Phi-3.5 and Phi-4-mini.
    Phi3,
}

impl Architecture {
    /// The family of a GGUF's `general.architecture`, or an error naming those supported.
    pub fn from_name(name: &str) -> Result<Self> {
        name.parse().map_err(|_| {
            anyhow!(
                "GGUF architecture {name:?} is not supported (supported: {}); a GGUF of one of \
                 those families will work",
                Self::VARIANTS.join(", ")
            )
        })
    }

    /// The family's name, the prefix of its metadata keys.
    pub fn key(self) -> &'static str {
        self.into()
    }
}

/// How a rotary embedding pairs a head's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Neighbours (0, 1), (2, 3), …: llama's GGUFs, whose converter permutes the weights so.
    Interleaved,
    /// Halves (i, i + d/2), as the models were trained (llama.cpp's "NeoX" mode).
    Halves,
}

/// The feed-forward block's gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Silu,
    /// GELU, tanh approximation (Gemma).
    GeluTanh,
}

/// Gemma 3: five local layers, then one global one.
const GEMMA3_GLOBAL_EVERY: usize = 6;
/// Gemma 3's local layers use this rotary base (llama.cpp's value; it is not in the GGUF).
const GEMMA3_LOCAL_ROPE_BASE: f32 = 10_000.0;
/// Gemma 3 27B scales attention by the hidden size per head, not the head size (llama.cpp).
const GEMMA3_27B_LAYERS: usize = 62;

/// A model's shape and switches.
#[derive(Debug, Clone)]
pub struct Hyperparameters {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub eps: f64,
    /// The context the model was trained for.
    pub context_length: usize,
    pub rope_style: RopeStyle,
    pub rope_base: f32,
    /// Dimensions of each head that rotate (Phi-4-mini rotates 96 of 128).
    pub rope_dims: usize,
    /// Positions are divided by this (linear RoPE scaling; 1 when none).
    pub rope_linear_scale: f32,
    /// Cosines and sines are multiplied by this (LongRoPE's attention factor; 1 when none).
    pub rope_attention_factor: f32,
    /// The context the rotary factors were trained for, where a GGUF has short and long
    /// factors (LongRoPE): docent stays within it, where the short factors apply.
    pub rope_original_context: Option<usize>,
    /// Keys a local layer sees, itself included (Gemma 3).
    pub sliding_window: Option<usize>,
    pub attention_scale: f64,
    pub activation: Activation,
    /// Token embeddings are multiplied by √hidden (Gemma).
    pub scale_embeddings: bool,
}

impl Hyperparameters {
    /// Reads the family's keys from a GGUF's metadata.
    pub fn read(architecture: Architecture, content: &Content) -> Result<Self> {
        let prefix = architecture.key();
        let get = |key: &str| content.metadata.get(&format!("{prefix}.{key}"));
        let required = |key: &str| -> Result<&Value> {
            get(key).ok_or_else(|| anyhow!("the GGUF has no {prefix}.{key}"))
        };
        let number = |key: &str| -> Result<usize> { Ok(required(key)?.to_u32()? as usize) };
        let optional = |key: &str| get(key).and_then(|v| v.to_u32().ok()).map(|v| v as usize);
        let float = |key: &str| get(key).and_then(|v| v.to_f32().ok());

        let heads = number("attention.head_count")?;
        let hidden = number("embedding_length")?;
        let layers = number("block_count")?;
        let head_dim = optional("attention.key_length").unwrap_or(hidden / heads);
        let gemma = architecture == Architecture::Gemma3;
        let rope_linear_scale = match get("rope.scaling.type").and_then(|v| v.to_string().ok()) {
            Some(kind) if kind == "linear" => float("rope.scaling.factor").unwrap_or(1.0),
            _ => 1.0,
        };
        let long_rope = content
            .tensor_infos
            .contains_key("rope_factors_short.weight");
        let attention_scale = if gemma && layers == GEMMA3_27B_LAYERS {
            1.0 / ((hidden / heads) as f64).sqrt()
        } else {
            1.0 / (head_dim as f64).sqrt()
        };
        Ok(Hyperparameters {
            layers,
            hidden,
            heads,
            kv_heads: optional("attention.head_count_kv").unwrap_or(heads),
            head_dim,
            eps: float("attention.layer_norm_rms_epsilon").ok_or_else(|| {
                anyhow!("the GGUF has no {prefix}.attention.layer_norm_rms_epsilon")
            })? as f64,
            context_length: optional("context_length").unwrap_or(2048),
            rope_style: match architecture {
                Architecture::Llama => RopeStyle::Interleaved,
                _ => RopeStyle::Halves,
            },
            rope_base: float("rope.freq_base").unwrap_or(10_000.0),
            rope_dims: optional("rope.dimension_count").unwrap_or(head_dim),
            rope_linear_scale,
            rope_attention_factor: float("rope.scaling.attn_factor").unwrap_or(1.0),
            rope_original_context: long_rope
                .then(|| optional("rope.scaling.original_context_length"))
                .flatten(),
            // Phi-3's GGUFs declare a window too, which llama.cpp ignores (it turned Phi's off).
            sliding_window: if gemma {
                optional("attention.sliding_window")
            } else {
                None
            },
            attention_scale,
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            scale_embeddings: gemma,
        })
    }

    /// The window layer `layer` attends within, where it is a local layer.
    pub fn window(&self, layer: usize) -> Option<usize> {
        self.sliding_window
            .filter(|_| !(layer + 1).is_multiple_of(GEMMA3_GLOBAL_EVERY))
    }

    /// The rotary base and linear scale of global layers (all layers but Gemma 3's local ones).
    pub fn global_rope(&self) -> (f32, f32) {
        (self.rope_base, self.rope_linear_scale)
    }

    /// The rotary base and linear scale of Gemma 3's local layers: their own base, no scaling.
    pub fn local_rope(&self) -> (f32, f32) {
        (GEMMA3_LOCAL_ROPE_BASE, 1.0)
    }

    /// The longest context docent runs the model at.
    pub fn usable_context(&self, max_positions: usize) -> usize {
        self.context_length
            .min(self.rope_original_context.unwrap_or(usize::MAX))
            .min(max_positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_architectures_are_refused_with_the_supported_list() {
        let err = Architecture::from_name("mamba").unwrap_err().to_string();
        assert!(
            err.contains("\"mamba\"") && err.contains("llama, qwen2, qwen3, gemma3, phi3"),
            "{err}"
        );
        for name in Architecture::VARIANTS {
            assert_eq!(Architecture::from_name(name).unwrap().key(), *name);
        }
    }
}
