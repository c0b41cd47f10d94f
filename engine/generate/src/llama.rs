//! The llama architecture (SmolLM2, Llama 2/3, Mistral-style GGUFs), written for the two phases
//! of a CPU answer.
//!
//! Prompt processing multiplies many rows at once and is bound by arithmetic: there a matrix
//! multiply over f32 weights (candle's gemm) runs about three times faster than candle's
//! quantized kernels, which take one row at a time. Decoding multiplies one row and is bound by
//! memory: there the 4-bit weights win, being an eighth of the bytes to read. So each projection
//! keeps both forms when the dense copies fit [`DENSE_BUDGET_BYTES`] (small models, where prompt
//! time dominates an answer), and picks by the number of rows it is given.

use std::io::{Read, Seek};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use candle_core::quantized::{QMatMul, QTensor, gguf_file};
use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::kv_cache::KvCache;

use crate::decode_attention;
use crate::q4_1::Q4_1Rows;

/// The f32 copies of the projection weights are kept only while they take at most this much
/// memory: SmolLM2-135M's take 0.4 GB, a 1B model's 4 GB (then prompts run on the 4-bit weights).
pub const DENSE_BUDGET_BYTES: usize = 1 << 30;
/// From this many rows on, a projection multiplies with its f32 weights.
const DENSE_ROWS: usize = 8;
/// Positions the rotary tables cover (the context is capped to it).
pub const MAX_POSITIONS: usize = 8192;
/// The KV cache grows by this many positions at a time.
const CACHE_GROWTH: usize = 512;

/// A projection with its 4-bit weights, and their f32 copy for many rows at once.
#[derive(Clone)]
struct Linear {
    quantized: QMatMul,
    /// docent's own kernel for single rows, where the weights are Q4_1 (see `q4_1`).
    single_row: Option<Q4_1Rows>,
    dense: Option<QMatMul>,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.elem_count() / x.dim(D::Minus1)?;
        if let (1, Some(kernel)) = (rows, &self.single_row) {
            let out = kernel.multiply(&x.flatten_all()?.to_vec1::<f32>()?)?;
            let mut shape = x.dims().to_vec();
            shape.pop();
            shape.push(out.len());
            return Ok(Tensor::from_vec(out, shape, x.device())?);
        }
        let weights = match &self.dense {
            Some(dense) if rows >= DENSE_ROWS => dense,
            _ => &self.quantized,
        };
        Ok(weights.forward(x)?)
    }
}

#[derive(Clone)]
struct Layer {
    attention_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
    cache: KvCache,
}

/// The model's weights and one generation's KV cache; cloning shares the weights and copies
/// the cache (an unused model's is empty).
#[derive(Clone)]
pub struct Llama {
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    eps: f64,
    cos: Tensor,
    sin: Tensor,
}

impl Llama {
    pub fn from_gguf<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Self> {
        Self::load(content, reader, device, DENSE_BUDGET_BYTES)
    }

    /// Loads with dense copies when they fit `dense_budget` bytes.
    fn load<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        dense_budget: usize,
    ) -> Result<Self> {
        let number = |key: &str| -> Result<&gguf_file::Value> {
            content
                .metadata
                .get(&format!("llama.{key}"))
                .ok_or_else(|| anyhow!("the GGUF has no llama.{key}"))
        };
        let heads = number("attention.head_count")?.to_u32()? as usize;
        let kv_heads = number("attention.head_count_kv")?.to_u32()? as usize;
        let layers = number("block_count")?.to_u32()? as usize;
        let hidden = number("embedding_length")?.to_u32()? as usize;
        let eps = number("attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let rope_base = number("rope.freq_base")
            .and_then(|v| Ok(v.to_f32()?))
            .unwrap_or(10_000.0);
        let head_dim = hidden / heads;

        // Dense copies only on the CPU (a GPU's quantized kernels batch well) and within budget.
        let projection_elements: usize = content
            .tensor_infos
            .iter()
            .filter(|(name, _)| name.starts_with("blk.") && !name.ends_with("norm.weight"))
            .map(|(_, info)| info.shape.elem_count())
            .sum();
        let dense = device.is_cpu() && projection_elements * 4 <= dense_budget;

        let embeddings_q = read(content, reader, "token_embd.weight", device)?;
        let embeddings = embeddings_q.dequantize(device)?;
        let norm = read(content, reader, "output_norm.weight", device)?.dequantize(device)?;
        let output = match read(content, reader, "output.weight", device) {
            Ok(output) => QMatMul::QTensor(Arc::new(output)),
            // Tied embeddings (SmolLM2): the output head is the embedding matrix.
            Err(_) => QMatMul::QTensor(Arc::new(embeddings_q)),
        };
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let name = |part: &str| format!("blk.{i}.{part}.weight");
            let mut linear = |part: &str| -> Result<Linear> {
                let weights = Arc::new(read(content, reader, &name(part), device)?);
                let dense = if dense {
                    Some(QMatMul::Tensor(weights.dequantize(device)?))
                } else {
                    None
                };
                Ok(Linear {
                    single_row: Q4_1Rows::new(weights.clone()),
                    quantized: QMatMul::QTensor(weights),
                    dense,
                })
            };
            let (q, k, v, o) = (
                linear("attn_q")?,
                linear("attn_k")?,
                linear("attn_v")?,
                linear("attn_output")?,
            );
            let (gate, up, down) = (linear("ffn_gate")?, linear("ffn_up")?, linear("ffn_down")?);
            blocks.push(Layer {
                q,
                k,
                v,
                o,
                gate,
                up,
                down,
                attention_norm: read(content, reader, &name("attn_norm"), device)?
                    .dequantize(device)?,
                ffn_norm: read(content, reader, &name("ffn_norm"), device)?.dequantize(device)?,
                cache: KvCache::new(2, CACHE_GROWTH),
            });
        }

        // Rotary tables: angle position / base^(2i/d) for each pair of dimensions. (Written as
        // base^(-2i/d) the rounding differs, and this small model's logits move by 0.5.)
        let inverse: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / rope_base.powf(i as f32 / head_dim as f32))
            .collect();
        let inverse = Tensor::new(inverse.as_slice(), device)?.reshape((1, head_dim / 2))?;
        let positions = Tensor::arange(0u32, MAX_POSITIONS as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((MAX_POSITIONS, 1))?;
        let angles = positions.matmul(&inverse)?;
        Ok(Llama {
            embeddings,
            layers: blocks,
            norm,
            output,
            heads,
            kv_heads,
            head_dim,
            eps,
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }

    /// Runs `tokens` (shape `[1, n]`) at positions `position..position + n` and returns the
    /// logits of the last one. Position 0 starts a new sequence. (Callers feed a long prompt in
    /// chunks of [`PREFILL_CHUNK`](crate::PREFILL_CHUNK).)
    pub fn forward(&mut self, tokens: &Tensor, position: usize) -> Result<Tensor> {
        if position == 0 {
            self.layers.iter_mut().for_each(|layer| layer.cache.reset());
        }
        let rows = tokens.dim(1)?;
        let hidden = self.run_layers(tokens, position)?;
        let last = hidden.i((.., rows - 1, ..))?.contiguous()?;
        Ok(self.output.forward(&candle_nn::ops::rms_norm(
            &last,
            &self.norm,
            self.eps as f32,
        )?)?)
    }

    /// The layers over `tokens`; returns their hidden states.
    fn run_layers(&mut self, tokens: &Tensor, position: usize) -> Result<Tensor> {
        let (batch, rows) = tokens.dims2()?;
        let hidden = self.embeddings.dim(1)?;
        let mut x = self
            .embeddings
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((batch, rows, hidden))?;
        let mask = if rows > 1 {
            Some(causal_mask(rows, position, x.device())?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, position, rows)?;
        let sin = self.sin.narrow(0, position, rows)?;
        let (heads, kv_heads, head_dim, eps) = (self.heads, self.kv_heads, self.head_dim, self.eps);
        for layer in &mut self.layers {
            let h = candle_nn::ops::rms_norm(&x, &layer.attention_norm, eps as f32)?;
            let split = |t: Tensor, n: usize| -> Result<Tensor> {
                Ok(t.reshape((batch, rows, n, head_dim))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q =
                candle_nn::rotary_emb::rope_i(&split(layer.q.forward(&h)?, heads)?, &cos, &sin)?;
            let k =
                candle_nn::rotary_emb::rope_i(&split(layer.k.forward(&h)?, kv_heads)?, &cos, &sin)?;
            let v = split(layer.v.forward(&h)?, kv_heads)?;
            let (k, v) = layer.cache.append(&k, &v)?;
            let attention = if rows == 1 && x.device().is_cpu() {
                decode_attention::attend_one(&q, &k, &v)?
            } else {
                attend(&q, &k, &v, mask.as_ref())?
            };
            let attention = attention.transpose(1, 2)?.reshape((batch, rows, hidden))?;
            x = (x + layer.o.forward(&attention)?)?;

            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, eps as f32)?;
            let gated = (layer.gate.forward(&h)?.silu()? * layer.up.forward(&h)?)?;
            x = (x + layer.down.forward(&gated)?)?;
        }
        Ok(x)
    }
}

/// `softmax(q·kᵀ / √d + mask)·v` as matrix products: `q` is `[1, heads, rows, d]`, `k` and `v`
/// `[1, kv_heads, n, d]`. Query heads that share a KV head are adjacent, so they are grouped as
/// extra rows of their KV head, and the cache is read in place instead of repeated per head.
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let (batch, heads, rows, dim) = q.dims4()?;
    let (_, kv_heads, keys, _) = k.dims4()?;
    let group = heads / kv_heads;
    let q = (q * (1.0 / (dim as f64).sqrt()))?.reshape((batch, kv_heads, group * rows, dim))?;
    let mut scores = q.matmul(&k.t()?)?;
    if let Some(mask) = mask {
        scores = scores
            .reshape((batch, kv_heads, group, rows, keys))?
            .broadcast_add(mask)?;
    }
    let weights = candle_nn::ops::softmax_last_dim(&scores)?.reshape((
        batch,
        kv_heads,
        group * rows,
        keys,
    ))?;
    Ok(weights.matmul(v)?.reshape((batch, heads, rows, dim))?)
}

fn read<R: Read + Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
    name: &str,
    device: &Device,
) -> Result<QTensor> {
    content
        .tensor(reader, name, device)
        .with_context(|| format!("reading tensor {name}"))
}

/// An additive mask: query `i` (at `position + i`) sees keys up to its own position.
fn causal_mask(rows: usize, position: usize, device: &Device) -> Result<Tensor> {
    let keys = position + rows;
    let mask: Vec<f32> = (0..rows)
        .flat_map(|i| {
            (0..keys).map(move |j| {
                if j > position + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Tensor::from_slice(&mask, (rows, keys), device)?)
}

#[cfg(test)]
mod tests {
    use candle_transformers::models::quantized_llama::ModelWeights;

    use super::*;
    use crate::{PREFILL_CHUNK, tokenizer_from_gguf};
    use docent_core::ModelPaths;

    /// The logits after the prompt (fed in chunks, as the generator feeds it) and after each of
    /// `steps` tokens fed one at a time, each picked by `next` from the step's index and the
    /// logits before it.
    fn logits_along(
        mut step: impl FnMut(&Tensor, usize) -> Result<Tensor>,
        prompt: &[u32],
        steps: usize,
        mut next: impl FnMut(usize, &[f32]) -> u32,
    ) -> Vec<Vec<f32>> {
        let logits = |t: Tensor| t.squeeze(0).unwrap().to_vec1::<f32>().unwrap();
        let mut last = None;
        for (i, chunk) in prompt.chunks(PREFILL_CHUNK).enumerate() {
            let input = Tensor::new(chunk, &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            last = Some(step(&input, i * PREFILL_CHUNK).unwrap());
        }
        let mut all = vec![logits(last.unwrap())];
        for i in 0..steps {
            let token = next(i, &all[i]);
            let input = Tensor::new(&[token], &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            all.push(logits(step(&input, prompt.len() + i).unwrap()));
        }
        all
    }

    fn argmax(logits: &[f32]) -> u32 {
        logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0 as u32
    }

    /// Checks `ours` against `reference` at every step: logits within 5% of the reference's
    /// spread, and the same likeliest token wherever the reference's top two are further apart
    /// than twice the difference (closer ties may flip on rounding alone).
    ///
    /// Why 5%: the 4-bit kernels round each activation row to 8 bits, so a change in the last
    /// bit of an attention output (another order of the same additions) can move one rounding
    /// and with it the logits by up to ~2% of their spread; the f32 prompt path does not round
    /// at all, and differs from the rounded reference by up to ~3.5%. Decoding one position off
    /// (tried) crosses 5% within six steps.
    fn assert_agree(ours: &[Vec<f32>], reference: &[Vec<f32>]) {
        for (step, (ours, reference)) in ours.iter().zip(reference).enumerate() {
            let spread = reference.iter().fold(f32::MIN, |a, &b| a.max(b))
                - reference.iter().fold(f32::MAX, |a, &b| a.min(b));
            let worst = ours
                .iter()
                .zip(reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                worst < 0.05 * spread,
                "step {step}: largest logit difference {worst} of a spread of {spread}"
            );
            let mut sorted = reference.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if sorted[0] - sorted[1] > 2.0 * worst {
                assert_eq!(argmax(ours), argmax(reference), "step {step}");
            }
        }
    }

    /// docent's llama against candle's own quantized llama on the default model, over a prompt
    /// longer than one prefill chunk and the reference's next 31 greedy tokens (32 sets of
    /// logits): with the same 4-bit weights throughout, and with f32 weights for the prompt.
    #[test]
    fn agrees_with_candles_quantized_llama() {
        let path = ModelPaths::locate(None).default_generator();
        let open = || {
            let mut file = std::fs::File::open(&path).unwrap();
            let content = gguf_file::Content::read(&mut file).unwrap();
            (file, content)
        };
        let (mut file, content) = open();
        let tokenizer = tokenizer_from_gguf(&content).unwrap();
        let text: String = (1..=9)
            .map(|n| {
                format!(
                    "Step {n}. Retrieval-augmented generation retrieves passages from a store of documents and \
                     asks the model to answer from them, citing each one. "
                )
            })
            .chain(["The retriever embeds the question".to_string()])
            .collect();
        let prompt: Vec<u32> = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
        assert!(
            prompt.len() > PREFILL_CHUNK,
            "the prompt takes more than one chunk"
        );

        // The reference picks the likeliest token 31 times; docent's models follow its tokens.
        let (mut reference_file, reference_content) = open();
        let mut reference =
            ModelWeights::from_gguf(reference_content, &mut reference_file, &Device::Cpu).unwrap();
        let expected = logits_along(
            |x, p| Ok(reference.forward(x, p)?),
            &prompt,
            31,
            |_, logits| argmax(logits),
        );
        let reference_tokens: Vec<u32> =
            expected[..31].iter().map(|logits| argmax(logits)).collect();
        let follow = |i: usize, _: &[f32]| reference_tokens[i];

        let mut quantized = Llama::load(&content, &mut file, &Device::Cpu, 0).unwrap();
        assert_agree(
            &logits_along(|x, p| quantized.forward(x, p), &prompt, 31, follow),
            &expected,
        );
        let (mut file, content) = open();
        let mut dense = Llama::from_gguf(&content, &mut file, &Device::Cpu).unwrap();
        assert!(
            dense.layers[0].q.dense.is_some(),
            "a 135M model keeps dense copies"
        );
        assert_agree(
            &logits_along(|x, p| dense.forward(x, p), &prompt, 31, follow),
            &expected,
        );
    }
}
