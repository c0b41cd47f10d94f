//! One decoder-only transformer for every supported family (see [`crate::architecture`]),
//! written for the two phases of a CPU answer.
//!
//! Prompt processing multiplies many rows at once and is bound by arithmetic: there a matrix
//! multiply over f32 weights (candle's gemm) runs about three times faster than candle's
//! quantized kernels, which take one row at a time. Decoding multiplies one row and is bound by
//! memory: there the 4-bit weights win, being an eighth of the bytes to read. So each projection
//! picks by the number of rows it is given: one row goes to the quantized weights (docent's
//! decoding kernels where candle's are slow), many to docent's prompt kernels where the CPU has
//! AVX-512 VNNI ([`crate::lanes`], [`crate::ktiles`]: twice the f32 copies' speed on SmolLM2, and
//! no copies), else to f32 copies when they fit [`DENSE_BUDGET_BYTES`] (small models, where
//! prompt time dominates an answer).
//!
//! Why not candle-transformers' quantized models: their qwen2 cannot be cloned (each concurrent
//! answer needs its own KV cache over shared weights), their gemma3 has four bugs that turn its
//! output to noise past 512 tokens (GELU, the window mask, local layers' unwindowed cache, a
//! 131k-row rotary table per layer), their phi3 ignores partial rotation and LongRoPE factors,
//! and none has the CPU fast path above. The families differ in a dozen switches; one model
//! with those switches, checked against llama.cpp per family, is less code than five.

use std::io::{Read, Seek};
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use candle_core::quantized::{QMatMul, QTensor, ggml_file, gguf_file};
use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::kv_cache::KvCache;

use crate::architecture::{Activation, Hyperparameters, RopeStyle};
use crate::kquant::KQuantRows;
use crate::ktiles::KTileRows;
use crate::lanes::LaneRows;
use crate::q4_1::Q4_1Rows;
use crate::q5_0::Q5_0Rows;
use crate::q8_0::Q8_0Rows;
use crate::{causal_softmax, decode_attention};

/// The f32 copies of the projection weights are kept only while they take at most this much
/// memory: SmolLM2-135M's take 0.4 GB, a 1B model's 4 GB (then prompts run on the 4-bit weights).
pub const DENSE_BUDGET_BYTES: usize = 1 << 30;
/// From this many rows on, a projection multiplies with its f32 weights.
const DENSE_ROWS: usize = 8;
/// Positions the rotary tables cover (the context is capped to it).
pub const MAX_POSITIONS: usize = 8192;
/// The KV cache grows by this many positions at a time.
pub(crate) const CACHE_GROWTH: usize = 512;

/// A projection with its quantized weights, and their f32 copy for many rows at once.
#[derive(Clone)]
struct Linear {
    quantized: QMatMul,
    /// docent's own kernel, where candle's for the weights' format is slow.
    kernel: Option<Kernel>,
    /// docent's kernel for a prompt's chunk, where there is no f32 copy (boxed: a layer holds
    /// its projections by value).
    prompt: Option<Box<PromptKernel>>,
    dense: Option<QMatMul>,
    bias: Option<Tensor>,
}

/// docent's kernels for formats candle 0.11 multiplies with a portable loop.
#[derive(Clone)]
enum Kernel {
    /// Q4_1 (SmolLM2): one row at a time; a prompt's rows go to the lanes or the f32 copy.
    Q4_1(Q4_1Rows),
    /// Q5_0 (Qwen2.5's smaller models): any number of rows.
    Q5_0(Q5_0Rows),
    /// Q4_K and Q6_K (most K-quant GGUFs): one row at a time.
    KQuant(KQuantRows),
    /// Q8_0 (Qwen2.5-0.5B's output head): one row at a time.
    Q8_0(Q8_0Rows),
}

/// docent's kernels for a prompt's chunk: AMX tiles for the K formats where the CPU has them,
/// else AVX-512 lanes.
#[derive(Clone)]
enum PromptKernel {
    Tiles(KTileRows),
    Lanes(LaneRows),
}

impl PromptKernel {
    fn new(weights: &Arc<QTensor>) -> Option<Self> {
        KTileRows::new(weights.clone())
            .map(PromptKernel::Tiles)
            .or_else(|| LaneRows::new(weights.clone()).map(PromptKernel::Lanes))
    }

    fn multiply(&self, x: &[f32]) -> Result<Vec<f32>> {
        match self {
            PromptKernel::Tiles(kernel) => kernel.multiply(x),
            PromptKernel::Lanes(kernel) => kernel.multiply(x),
        }
    }
}

impl Kernel {
    fn new(weights: &Arc<QTensor>) -> Option<Self> {
        Q4_1Rows::new(weights.clone())
            .map(Kernel::Q4_1)
            .or_else(|| Q5_0Rows::new(weights.clone()).map(Kernel::Q5_0))
            .or_else(|| KQuantRows::new(weights.clone()).map(Kernel::KQuant))
            .or_else(|| Q8_0Rows::new(weights.clone()).map(Kernel::Q8_0))
    }
}

impl Linear {
    /// The output head: one row at a time (the last position's), no f32 copy, no bias.
    fn head(weights: Arc<QTensor>) -> Self {
        Linear {
            kernel: Kernel::new(&weights),
            prompt: None,
            quantized: QMatMul::QTensor(weights),
            dense: None,
            bias: None,
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let out = self.multiply(x)?;
        Ok(match &self.bias {
            Some(bias) => out.broadcast_add(bias)?,
            None => out,
        })
    }

    fn multiply(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.elem_count() / x.dim(D::Minus1)?;
        if rows >= DENSE_ROWS
            && let Some(dense) = &self.dense
        {
            return Ok(dense.forward(x)?);
        }
        let values = || -> Result<Vec<f32>> { Ok(x.flatten_all()?.to_vec1::<f32>()?) };
        let out = match (&self.prompt, &self.kernel) {
            (Some(prompt), _) if rows >= DENSE_ROWS => prompt.multiply(&values()?)?,
            (_, Some(Kernel::Q4_1(kernel))) if rows == 1 => kernel.multiply(&values()?)?,
            (_, Some(Kernel::Q5_0(kernel))) => kernel.multiply(&values()?)?,
            (_, Some(Kernel::KQuant(kernel))) => kernel.multiply(&values()?)?,
            (_, Some(Kernel::Q8_0(kernel))) => kernel.multiply(&values()?)?,
            _ => return Ok(self.quantized.forward(x)?),
        };
        let mut shape = x.dims().to_vec();
        shape.pop();
        shape.push(out.len() / rows.max(1));
        Ok(Tensor::from_vec(out, shape, x.device())?)
    }
}

/// Queries, keys and values: three projections, or one whose output holds all three (phi3).
#[derive(Clone)]
enum Qkv {
    Separate { q: Linear, k: Linear, v: Linear },
    Fused(Linear),
}

/// The feed-forward block's gate and up projections, or one holding both, gate first (phi3).
#[derive(Clone)]
enum GateUp {
    Separate { gate: Linear, up: Linear },
    Fused(Linear),
}

/// Rotary tables for positions `0..MAX_POSITIONS`.
#[derive(Clone)]
struct Rope {
    cos: Tensor,
    sin: Tensor,
    dims: usize,
    style: RopeStyle,
}

impl Rope {
    /// Angle `position / scale / factor_i / base^(2i/dims)` for each pair `i` (factors: Llama 3.1's
    /// and LongRoPE's per-pair divisors), as llama.cpp computes it.
    fn new(
        params: &Hyperparameters,
        (base, scale): (f32, f32),
        factors: Option<&[f32]>,
        device: &Device,
    ) -> Result<Self> {
        let dims = params.rope_dims;
        // Written as base^(-2i/d) the rounding differs, and a small model's logits move by 0.5.
        let inverse: Vec<f32> = (0..dims / 2)
            .map(|i| {
                let factor = factors.and_then(|f| f.get(i)).copied().unwrap_or(1.0);
                1.0 / (base.powf(2.0 * i as f32 / dims as f32) * scale * factor)
            })
            .collect();
        let inverse = Tensor::new(inverse.as_slice(), device)?.reshape((1, dims / 2))?;
        let positions = Tensor::arange(0u32, MAX_POSITIONS as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((MAX_POSITIONS, 1))?;
        let angles = positions.matmul(&inverse)?;
        let factor = params.rope_attention_factor as f64;
        Ok(Rope {
            cos: (angles.cos()? * factor)?,
            sin: (angles.sin()? * factor)?,
            dims,
            style: params.rope_style,
        })
    }

    /// Rotates `x` (`[batch, heads, rows, head_dim]`, at positions `position..`) in its first
    /// `dims` dimensions.
    fn apply(&self, x: &Tensor, position: usize) -> Result<Tensor> {
        let (_, _, rows, head_dim) = x.dims4()?;
        let cos = self.cos.narrow(0, position, rows)?;
        let sin = self.sin.narrow(0, position, rows)?;
        let rotate = |x: &Tensor| match self.style {
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(x, &cos, &sin),
            RopeStyle::Halves => candle_nn::rotary_emb::rope(x, &cos, &sin),
        };
        if self.dims == head_dim {
            return Ok(rotate(&x.contiguous()?)?);
        }
        let turned = rotate(&x.narrow(D::Minus1, 0, self.dims)?.contiguous()?)?;
        let kept = x.narrow(D::Minus1, self.dims, head_dim - self.dims)?;
        Ok(Tensor::cat(&[&turned, &kept], D::Minus1)?)
    }
}

/// The token embeddings in their GGUF format, in main memory, each row dequantized when its
/// token comes, as llama.cpp does: a 150k-word vocabulary of 3,584 values a row would take
/// 2.2 GB in f32, and rounding it to f16 instead moves a small model's greedy continuation.
#[derive(Clone)]
struct Embeddings {
    table: Arc<QTensor>,
    rows: usize,
    width: usize,
    row_bytes: usize,
}

impl Embeddings {
    fn new(table: QTensor) -> Result<Self> {
        let (rows, width) = table.shape().dims2()?;
        let dtype = table.dtype();
        Ok(Embeddings {
            row_bytes: width / dtype.block_size() * dtype.type_size(),
            table: Arc::new(table),
            rows,
            width,
        })
    }

    /// The f32 rows of `tokens`, `[tokens, width]`, on `device`.
    fn lookup(&self, tokens: &[u32], device: &Device) -> Result<Tensor> {
        let data = self.table.data()?;
        let mut picked = Vec::with_capacity(tokens.len() * self.row_bytes);
        for &token in tokens {
            let row = token as usize;
            ensure!(row < self.rows, "token {token} is outside the vocabulary");
            picked.extend_from_slice(&data[row * self.row_bytes..(row + 1) * self.row_bytes]);
        }
        let rows = ggml_file::qtensor_from_ggml(
            self.table.dtype(),
            &picked,
            vec![tokens.len(), self.width],
            &Device::Cpu,
        )?;
        Ok(rows.dequantize(&Device::Cpu)?.to_device(device)?)
    }
}

#[derive(Clone)]
struct Layer {
    attention_norm: Tensor,
    qkv: Qkv,
    /// Per-head norms of queries and keys (qwen3, gemma3).
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    o: Linear,
    /// Norms of the attention's and the feed-forward block's outputs (gemma3).
    post_attention_norm: Option<Tensor>,
    ffn_norm: Tensor,
    gate_up: GateUp,
    down: Linear,
    post_ffn_norm: Option<Tensor>,
    rope: Rope,
    /// Keys this layer sees, itself included, where it is a local layer.
    window: Option<usize>,
    cache: KvCache,
}

impl Layer {
    /// The query, key and value projections of the normed `h` (widths of all heads together).
    fn qkv(&self, h: &Tensor, q_width: usize, kv_width: usize) -> Result<(Tensor, Tensor, Tensor)> {
        Ok(match &self.qkv {
            Qkv::Separate { q, k, v } => (q.forward(h)?, k.forward(h)?, v.forward(h)?),
            Qkv::Fused(qkv) => {
                let all = qkv.forward(h)?;
                (
                    all.narrow(D::Minus1, 0, q_width)?,
                    all.narrow(D::Minus1, q_width, kv_width)?,
                    all.narrow(D::Minus1, q_width + kv_width, kv_width)?,
                )
            }
        })
    }

    /// The feed-forward block on the normed `h`: down(activation(gate) × up).
    fn feed_forward(&self, h: &Tensor, activation: Activation) -> Result<Tensor> {
        let (gate, up) = match &self.gate_up {
            GateUp::Separate { gate, up } => (gate.forward(h)?, up.forward(h)?),
            GateUp::Fused(both) => {
                let both = both.forward(h)?;
                let width = both.dim(D::Minus1)? / 2;
                (
                    both.narrow(D::Minus1, 0, width)?,
                    both.narrow(D::Minus1, width, width)?,
                )
            }
        };
        let gate = match activation {
            Activation::Silu => gate.silu()?,
            Activation::GeluTanh => gate.gelu()?,
        };
        self.down.forward(&(gate * up)?)
    }
}

/// The model's weights and one generation's KV cache; cloning shares the weights, and the
/// cache's storage too ([`Decoder::fork`] copies it): clone only a model whose cache is empty.
#[derive(Clone)]
pub struct Decoder {
    params: Arc<Hyperparameters>,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Linear,
}

/// Reads a GGUF's tensors onto a device.
struct Tensors<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
    /// Whether projections keep an f32 copy.
    dense: bool,
}

impl<R: Read + Seek> Tensors<'_, R> {
    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn quantized(&mut self, name: &str) -> Result<QTensor> {
        self.content
            .tensor(self.reader, name, self.device)
            .with_context(|| format!("reading tensor {name}"))
    }

    fn dequantized(&mut self, name: &str) -> Result<Tensor> {
        Ok(self.quantized(name)?.dequantize(self.device)?)
    }

    fn optional(&mut self, name: &str) -> Result<Option<Tensor>> {
        if self.has(name) {
            self.dequantized(name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The projection `{name}.weight`, with `{name}.bias` where the GGUF has one.
    fn linear(&mut self, name: &str) -> Result<Linear> {
        let weights = Arc::new(self.quantized(&format!("{name}.weight"))?);
        let prompt = PromptKernel::new(&weights).map(Box::new);
        // docent's prompt kernels beat the f32 copy (SmolLM2's 1,000-token prompt: 450–490
        // tokens/s through the copy, 890–930 through the lanes) and take no memory of their own.
        let dense = if self.dense && prompt.is_none() {
            Some(QMatMul::Tensor(weights.dequantize(self.device)?))
        } else {
            None
        };
        Ok(Linear {
            kernel: Kernel::new(&weights),
            prompt,
            quantized: QMatMul::QTensor(weights),
            dense,
            bias: self.optional(&format!("{name}.bias"))?,
        })
    }

    fn vector(&mut self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(match self.optional(name)? {
            Some(t) => Some(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?),
            None => None,
        })
    }

    /// Block `i`'s weights (with its attention `window`, rotated by `rope`) and an empty cache.
    fn layer(&mut self, i: usize, window: Option<usize>, rope: Rope) -> Result<Layer> {
        let name = |part: &str| format!("blk.{i}.{part}");
        let qkv = if self.has(&name("attn_qkv.weight")) {
            Qkv::Fused(self.linear(&name("attn_qkv"))?)
        } else {
            Qkv::Separate {
                q: self.linear(&name("attn_q"))?,
                k: self.linear(&name("attn_k"))?,
                v: self.linear(&name("attn_v"))?,
            }
        };
        let gate_up = if self.has(&name("ffn_gate.weight")) {
            GateUp::Separate {
                gate: self.linear(&name("ffn_gate"))?,
                up: self.linear(&name("ffn_up"))?,
            }
        } else {
            GateUp::Fused(self.linear(&name("ffn_up"))?)
        };
        Ok(Layer {
            attention_norm: self.dequantized(&name("attn_norm.weight"))?,
            qkv,
            q_norm: self.optional(&name("attn_q_norm.weight"))?,
            k_norm: self.optional(&name("attn_k_norm.weight"))?,
            o: self.linear(&name("attn_output"))?,
            post_attention_norm: self.optional(&name("post_attention_norm.weight"))?,
            ffn_norm: self.dequantized(&name("ffn_norm.weight"))?,
            gate_up,
            down: self.linear(&name("ffn_down"))?,
            post_ffn_norm: self.optional(&name("post_ffw_norm.weight"))?,
            rope,
            window,
            cache: KvCache::new(2, CACHE_GROWTH),
        })
    }
}

impl Decoder {
    /// Loads the model `params` describes from a GGUF.
    pub fn from_gguf<R: Read + Seek>(
        params: Hyperparameters,
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Self> {
        Self::load(params, content, reader, device, DENSE_BUDGET_BYTES)
    }

    /// Loads with dense copies when they fit `dense_budget` bytes.
    fn load<R: Read + Seek>(
        params: Hyperparameters,
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        dense_budget: usize,
    ) -> Result<Self> {
        // Dense copies only on the CPU (a GPU's quantized kernels batch well) and within budget.
        let projection_elements: usize = content
            .tensor_infos
            .iter()
            .filter(|(name, _)| name.starts_with("blk.") && !name.ends_with("norm.weight"))
            .map(|(_, info)| info.shape.elem_count())
            .sum();
        let mut tensors = Tensors {
            content,
            reader,
            device,
            dense: device.is_cpu() && projection_elements * 4 <= dense_budget,
        };

        let embeddings = Embeddings::new(
            content
                .tensor(tensors.reader, "token_embd.weight", &Device::Cpu)
                .context("reading tensor token_embd.weight")?,
        )?;
        let norm = tensors.dequantized("output_norm.weight")?;
        let output = Linear::head(if tensors.has("output.weight") {
            Arc::new(tensors.quantized("output.weight")?)
        } else if device.is_cpu() {
            // Tied embeddings (SmolLM2, Gemma): the output head is the embedding matrix.
            embeddings.table.clone()
        } else {
            Arc::new(tensors.quantized("token_embd.weight")?)
        });
        // Per-pair rotary divisors: Llama 3.1's, or LongRoPE's short ones (docent keeps within
        // the original context, where llama.cpp uses the short factors too).
        let factors = match tensors.vector("rope_freqs.weight")? {
            Some(f) => Some(f),
            None => tensors.vector("rope_factors_short.weight")?,
        };
        let global_rope = Rope::new(&params, params.global_rope(), factors.as_deref(), device)?;
        let local_rope = match params.sliding_window {
            Some(_) => Some(Rope::new(
                &params,
                params.local_rope(),
                factors.as_deref(),
                device,
            )?),
            None => None,
        };

        let layers = (0..params.layers)
            .map(|i| {
                let window = params.window(i);
                let rope = match (window, &local_rope) {
                    (Some(_), Some(local)) => local.clone(),
                    _ => global_rope.clone(),
                };
                tensors.layer(i, window, rope)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Decoder {
            params: Arc::new(params),
            embeddings,
            layers,
            norm,
            output,
        })
    }

    /// A copy of the model whose cache holds the same positions in storage of its own, with
    /// room for `room` more before it grows (a clone shares its cache's storage, which the next
    /// token would write into).
    pub fn fork(&self, room: usize) -> Result<Decoder> {
        let mut copy = self.clone();
        for layer in &mut copy.layers {
            let mut cache = KvCache::new(2, (layer.cache.current_seq_len() + room).max(1));
            if let (Some(k), Some(v)) = (layer.cache.k()?, layer.cache.v()?) {
                cache.append(&k.contiguous()?, &v.contiguous()?)?;
            }
            layer.cache = cache;
        }
        Ok(copy)
    }

    /// Runs `tokens` at positions `position..position + n` and returns the logits of the last
    /// one (`[1, vocabulary]`). Position 0 starts a new sequence. (Callers feed a long prompt
    /// in chunks of [`PREFILL_CHUNK`](crate::PREFILL_CHUNK).)
    pub fn forward(&mut self, tokens: &[u32], position: usize) -> Result<Tensor> {
        if position == 0 {
            self.layers.iter_mut().for_each(|layer| layer.cache.reset());
        }
        let rows = tokens.len();
        let hidden = self.run_layers(tokens, position)?;
        let last = hidden.i((.., rows - 1, ..))?.contiguous()?;
        let eps = self.params.eps as f32;
        self.output
            .forward(&candle_nn::ops::rms_norm(&last, &self.norm, eps)?)
    }

    /// The layers over `tokens`; returns their hidden states.
    fn run_layers(&mut self, tokens: &[u32], position: usize) -> Result<Tensor> {
        let params = self.params.clone();
        let device = self.norm.device().clone();
        let (batch, rows) = (1, tokens.len());
        let mut x =
            self.embeddings
                .lookup(tokens, &device)?
                .reshape((batch, rows, params.hidden))?;
        if params.scale_embeddings {
            x = (x * (params.hidden as f32).sqrt() as f64)?;
        }
        let eps = params.eps as f32;
        let norm = |x: &Tensor, weight: &Tensor| candle_nn::ops::rms_norm(x, weight, eps);
        let (head_dim, heads, kv_heads) = (params.head_dim, params.heads, params.kv_heads);
        // One mask per distinct window, built on first use.
        let mut masks: Vec<(Option<usize>, Tensor)> = Vec::new();
        for layer in &mut self.layers {
            let h = norm(&x, &layer.attention_norm)?;
            let (q, k, v) = layer.qkv(&h, heads * head_dim, kv_heads * head_dim)?;
            let split = |t: Tensor, n: usize, per_head_norm: Option<&Tensor>| -> Result<Tensor> {
                let t = t
                    .reshape((batch, rows, n, head_dim))?
                    .transpose(1, 2)?
                    .contiguous()?;
                Ok(match per_head_norm {
                    Some(weight) => norm(&t, weight)?,
                    None => t,
                })
            };
            let q = layer
                .rope
                .apply(&split(q, heads, layer.q_norm.as_ref())?, position)?;
            let k = layer
                .rope
                .apply(&split(k, kv_heads, layer.k_norm.as_ref())?, position)?;
            let v = split(v, kv_heads, None)?;
            let (k, v) = layer.cache.append(&k.contiguous()?, &v.contiguous()?)?;
            // A local layer's first query sees nothing before `first`.
            let first = match layer.window {
                Some(window) => (position + 1).saturating_sub(window),
                None => 0,
            };
            let keys = position + rows - first;
            let (k, v) = (k.narrow(2, first, keys)?, v.narrow(2, first, keys)?);
            let scale = params.attention_scale;
            let attention = if rows == 1 && x.device().is_cpu() {
                decode_attention::attend_one(&q, &k, &v, scale)?
            } else if rows == 1 {
                attend(&q, &k, &v, None, scale)?
            } else if x.device().is_cpu() {
                attend_causal(&q, &k, &v, scale, (position, first), layer.window)?
            } else {
                let mask = match masks.iter().find(|(w, _)| *w == layer.window) {
                    Some((_, mask)) => mask.clone(),
                    None => {
                        let mask = causal_mask(rows, position, first, layer.window, x.device())?;
                        masks.push((layer.window, mask.clone()));
                        mask
                    }
                };
                attend(&q, &k, &v, Some(&mask), scale)?
            };
            let attention = attention
                .transpose(1, 2)?
                .reshape((batch, rows, heads * head_dim))?;
            let mut attended = layer.o.forward(&attention)?;
            if let Some(weight) = &layer.post_attention_norm {
                attended = norm(&attended, weight)?;
            }
            x = (x + attended)?;

            let h = norm(&x, &layer.ffn_norm)?;
            let mut fed = layer.feed_forward(&h, params.activation)?;
            if let Some(weight) = &layer.post_ffn_norm {
                fed = norm(&fed, weight)?;
            }
            x = (x + fed)?;
        }
        Ok(x)
    }
}

/// `softmax(q·kᵀ·scale + mask)·v` as matrix products: `q` is `[1, heads, rows, d]`, `k` and `v`
/// `[1, kv_heads, n, d]`. Query heads that share a KV head are adjacent, so they are grouped as
/// extra rows of their KV head, and the cache is read in place instead of repeated per head.
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, scale: f64) -> Result<Tensor> {
    let (batch, heads, rows, dim) = q.dims4()?;
    let (_, kv_heads, keys, _) = k.dims4()?;
    let group = heads / kv_heads;
    let q = (q * scale)?.reshape((batch, kv_heads, group * rows, dim))?;
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

/// [`attend`] for a prompt's chunk on the CPU: the scores' softmax taken in place over the keys
/// each query sees ([`causal_softmax`]) instead of through a mask: the chunk's first query is at
/// `position`, and `k` and `v` start at key `first`.
fn attend_causal(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    (position, first): (usize, usize),
    window: Option<usize>,
) -> Result<Tensor> {
    let (batch, heads, rows, dim) = q.dims4()?;
    let (_, kv_heads, keys, _) = k.dims4()?;
    let group = heads / kv_heads;
    let q = (q * scale)?.reshape((batch, kv_heads, group * rows, dim))?;
    let mut scores = q.matmul(&k.t()?)?.flatten_all()?.to_vec1::<f32>()?;
    // Score row r is query r % rows of one of the heads.
    causal_softmax::softmax(&mut scores, keys, |r| {
        let seen = causal_softmax::visible(position + r % rows, window);
        seen.start.max(first) - first..seen.end - first
    });
    let weights = Tensor::from_vec(scores, (batch, kv_heads, group * rows, keys), q.device())?;
    Ok(weights.matmul(v)?.reshape((batch, heads, rows, dim))?)
}

/// An additive mask over keys `first..position + rows`: query `i` (at `position + i`) sees
/// keys up to its own position, and within `window` of it where the layer is local.
fn causal_mask(
    rows: usize,
    position: usize,
    first: usize,
    window: Option<usize>,
    device: &Device,
) -> Result<Tensor> {
    let keys = position + rows - first;
    let mask: Vec<f32> = (0..rows)
        .flat_map(|i| {
            let seen = causal_softmax::visible(position + i, window);
            (first..first + keys).map(move |j| {
                if seen.contains(&j) {
                    0.0
                } else {
                    f32::NEG_INFINITY
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
    use crate::architecture::Architecture;
    use crate::{PREFILL_CHUNK, tokenizer_from_gguf};
    use docent_core::ModelPaths;

    /// The logits after the prompt (fed in chunks, as the generator feeds it) and after each of
    /// `steps` tokens fed one at a time, each picked by `next` from the step's index and the
    /// logits before it.
    fn logits_along(
        mut step: impl FnMut(&[u32], usize) -> Result<Tensor>,
        prompt: &[u32],
        steps: usize,
        mut next: impl FnMut(usize, &[f32]) -> u32,
    ) -> Vec<Vec<f32>> {
        let logits = |t: Tensor| t.squeeze(0).unwrap().to_vec1::<f32>().unwrap();
        let mut last = None;
        for (i, chunk) in prompt.chunks(PREFILL_CHUNK).enumerate() {
            last = Some(step(chunk, i * PREFILL_CHUNK).unwrap());
        }
        let mut all = vec![logits(last.unwrap())];
        for i in 0..steps {
            let token = next(i, &all[i]);
            all.push(logits(step(&[token], prompt.len() + i).unwrap()));
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

    /// The keys each query sees, by absolute position, in a mask over keys `first..`.
    fn seen(rows: usize, position: usize, first: usize, window: Option<usize>) -> Vec<Vec<usize>> {
        let mask = causal_mask(rows, position, first, window, &Device::Cpu).unwrap();
        mask.to_vec2::<f32>()
            .unwrap()
            .iter()
            .map(|row| {
                let visible = row.iter().enumerate().filter(|(_, v)| v.is_finite());
                visible.map(|(j, _)| first + j).collect()
            })
            .collect()
    }

    /// A local layer's query sees itself and the `window - 1` keys before it (llama.cpp's
    /// window: a key `window` back is out), a global one everything up to itself.
    #[test]
    fn masks_keep_queries_to_their_past_and_their_window() {
        // Queries at 5, 6, 7 with a window of 4: the first key any of them sees is 5 + 1 - 4.
        assert_eq!(
            seen(3, 5, 2, Some(4)),
            [vec![2, 3, 4, 5], vec![3, 4, 5, 6], vec![4, 5, 6, 7]]
        );
        assert_eq!(seen(2, 3, 0, None), [vec![0, 1, 2, 3], vec![0, 1, 2, 3, 4]]);
    }

    /// docent's decoder against candle's own quantized llama on the default model, over a prompt
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
            |x, p| Ok(reference.forward(&Tensor::new(x, &Device::Cpu)?.unsqueeze(0)?, p)?),
            &prompt,
            31,
            |_, logits| argmax(logits),
        );
        let reference_tokens: Vec<u32> =
            expected[..31].iter().map(|logits| argmax(logits)).collect();
        let follow = |i: usize, _: &[f32]| reference_tokens[i];

        let params = || Hyperparameters::read(Architecture::Llama, &content).unwrap();
        let mut quantized = Decoder::load(params(), &content, &mut file, &Device::Cpu, 0).unwrap();
        assert_agree(
            &logits_along(|x, p| quantized.forward(x, p), &prompt, 31, follow),
            &expected,
        );
        let mut file = open().0;
        // As loaded for answers: prompts through docent's kernel where the CPU has one (AVX-512
        // VNNI), else through f32 copies of the weights.
        let mut loaded = Decoder::from_gguf(params(), &content, &mut file, &Device::Cpu).unwrap();
        assert!(
            matches!(&loaded.layers[0].qkv, Qkv::Separate { q, .. }
                if q.dense.is_some() != q.prompt.is_some()),
            "a 135M model's prompts take one fast path"
        );
        assert_agree(
            &logits_along(|x, p| loaded.forward(x, p), &prompt, 31, follow),
            &expected,
        );
    }
}
