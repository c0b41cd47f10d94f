//! Local generation with candle from a GGUF file: weights, tokenizer and chat template all come
//! from the one file. Supported architectures: `llama` (SmolLM2, Llama, Mistral-style GGUFs).
//! Another architecture is one more [`Weights`] variant over its candle model.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::quantized::gguf_file::Content;
use candle_core::{Tensor, quantized::gguf_file};
use candle_transformers::generation::{LogitsProcessor, Sampling};

use docent_core::device::{Device, Place};
use docent_core::language::Language;

use crate::llama::{self, Llama};
use crate::{ChatTemplate, PREFILL_CHUNK, TokenStream, tokenizer_from_gguf};
use docent_core::{ChatMessage, GenerationParams, GenerationStats, Generator};

/// `device` as candle's: CUDA's first GPU or the CPU (see [`Device::place`]). The generator
/// logs which it picked.
fn candle_device(device: Device, flag: &str) -> Result<candle_core::Device> {
    let place = device.place(candle_core::utils::cuda_is_available(), flag)?;
    let picked = match place {
        Place::Cpu => candle_core::Device::Cpu,
        Place::Cuda => candle_core::Device::new_cuda(0)
            .with_context(|| format!("{flag} {device}: opening the first CUDA GPU"))?,
    };
    tracing::info!("{flag} {device}: running on {place:?}");
    Ok(picked)
}

/// The model itself. Cloning shares the weights and gives a fresh KV cache, so each request
/// generates on its own copy.
#[derive(Clone)]
enum Weights {
    Llama(Llama),
}

impl Weights {
    fn load(
        architecture: &str,
        content: Content,
        file: &mut std::fs::File,
        device: &candle_core::Device,
    ) -> Result<Self> {
        match architecture {
            "llama" => Ok(Weights::Llama(Llama::from_gguf(&content, file, device)?)),
            other => bail!("GGUF architecture {other:?} is not supported yet (supported: llama)"),
        }
    }

    fn forward(&mut self, input: &Tensor, position: usize) -> Result<Tensor> {
        match self {
            Weights::Llama(m) => m.forward(input, position),
        }
    }

    fn max_positions(&self) -> usize {
        match self {
            Weights::Llama(_) => llama::MAX_POSITIONS,
        }
    }
}

/// A GGUF chat model run by candle: llama's architecture, docent's own forward pass.
pub struct GgufGenerator {
    name: String,
    weights: Weights,
    tokenizer: tokenizers::Tokenizer,
    template: ChatTemplate,
    bos: Option<u32>,
    stop_tokens: Vec<u32>,
    context_length: usize,
    device: candle_core::Device,
    writes_chinese: bool,
}

/// Vocabulary entries holding a Chinese character that a model needs to be asked for Chinese:
/// models trained on Chinese have thousands (Qwen2.5: ~25,000), English ones a handful
/// (SmolLM2: a few hundred byte-level fragments).
const CHINESE_VOCABULARY: usize = 2000;

fn metadata_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

impl GgufGenerator {
    /// Loads a GGUF chat model (architecture llama) onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let device = candle_device(device, "--device")?;
        let mut file = std::fs::File::open(path)
            .with_context(|| format!("opening the generator model {}", path.display()))?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| anyhow!("{} is not a readable GGUF file: {e}", path.display()))?;
        let meta_str = |key: &str| {
            content
                .metadata
                .get(key)
                .and_then(|v| v.to_string().ok())
                .cloned()
        };
        let architecture =
            meta_str("general.architecture").ok_or_else(|| anyhow!("GGUF has no architecture"))?;
        let tokenizer = tokenizer_from_gguf(&content)?;
        let token_text = |id: Option<u32>| {
            id.and_then(|id| tokenizer.id_to_token(id))
                .unwrap_or_default()
        };
        let bos_id = metadata_u32(&content, "tokenizer.ggml.bos_token_id");
        let eos_id = metadata_u32(&content, "tokenizer.ggml.eos_token_id");
        let template_source = meta_str("tokenizer.chat_template").ok_or_else(|| {
            anyhow!(
                "{} has no chat template; docent needs an instruction-tuned model",
                path.display()
            )
        })?;
        let template = ChatTemplate::new(template_source, token_text(bos_id), token_text(eos_id))?;
        let add_bos = content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok());
        // End-of-turn markers of the common chat formats, besides the declared end of text.
        let stop_tokens = ["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>"]
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .chain(eos_id)
            .collect();
        let trained_context =
            metadata_u32(&content, &format!("{architecture}.context_length")).unwrap_or(2048);
        let name = meta_str("general.name").unwrap_or_else(|| {
            path.file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into()
        });
        let weights = Weights::load(&architecture, content, &mut file, &device)
            .with_context(|| format!("loading weights from {}", path.display()))?;
        let context_length = (trained_context as usize).min(weights.max_positions());
        let chinese_tokens = (0..tokenizer.get_vocab_size(true) as u32)
            .filter_map(|id| tokenizer.decode(&[id], false).ok())
            .filter(|text| text.chars().any(docent_core::language::is_han))
            .count();
        Ok(GgufGenerator {
            name,
            weights,
            tokenizer,
            template,
            bos: if add_bos == Some(true) { bos_id } else { None },
            stop_tokens,
            context_length,
            device,
            writes_chinese: chinese_tokens >= CHINESE_VOCABULARY,
        })
    }

    fn encode(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        self.tokens(&self.template.render(messages)?)
    }

    /// `text`'s token ids, after the beginning-of-text token where the model wants one.
    fn tokens(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow!("tokenizing the prompt: {e}"))?;
        Ok(self
            .bos
            .into_iter()
            .chain(encoding.get_ids().iter().copied())
            .collect())
    }

    /// Continues `text` as plain text (no chat template), cut to its first `prompt_tokens`
    /// tokens, by `tokens` greedy tokens, past any end of text: the fixed workload of a speed
    /// comparison with another engine. Returns the tokens and the two phases' timings.
    pub fn continue_text(
        &self,
        text: &str,
        prompt_tokens: usize,
        tokens: usize,
    ) -> Result<(Vec<u32>, GenerationStats)> {
        let mut prompt = self.tokens(text)?;
        prompt.truncate(prompt_tokens);
        let params = GenerationParams {
            max_tokens: tokens,
            temperature: 0.0,
            repeat_penalty: 1.0,
            ..Default::default()
        };
        let mut generated = Vec::with_capacity(tokens);
        let stats = self.run(&prompt, &params, false, &mut |token| {
            generated.push(token);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok((generated, stats))
    }

    /// Runs the prompt through the model, then samples up to `params.max_tokens` tokens, each
    /// handed to `on_token`, stopping early at an end-of-turn token when `stop` is set.
    fn run(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        stop: bool,
        on_token: &mut dyn FnMut(u32) -> Result<ControlFlow<()>>,
    ) -> Result<GenerationStats> {
        if prompt.len() + params.max_tokens > self.context_length {
            bail!(
                "the prompt ({} tokens) plus max_tokens ({}) exceeds the model's context of {} tokens",
                prompt.len(),
                params.max_tokens,
                self.context_length
            );
        }
        let mut model = self.weights.clone();
        let mut sampler = Self::sampler(params);
        let mut stats = GenerationStats {
            prompt_tokens: prompt.len(),
            ..Default::default()
        };

        let started = Instant::now();
        let mut last = None;
        for (i, chunk) in prompt.chunks(PREFILL_CHUNK).enumerate() {
            if params.should_stop() {
                return Ok(stats);
            }
            let input = Tensor::new(chunk, &self.device)?.unsqueeze(0)?;
            last = Some(model.forward(&input, i * PREFILL_CHUNK)?);
        }
        let mut logits = last.ok_or_else(|| anyhow!("an empty prompt"))?;
        stats.prompt_ms = started.elapsed().as_secs_f64() * 1e3;

        let started = Instant::now();
        let mut context = prompt.to_vec();
        for _ in 0..params.max_tokens {
            if params.should_stop() {
                break;
            }
            let mut step = logits.squeeze(0)?.to_dtype(candle_core::DType::F32)?;
            if params.repeat_penalty != 1.0 {
                let recent = &context[context.len().saturating_sub(REPEAT_WINDOW)..];
                step = candle_transformers::utils::apply_repeat_penalty(
                    &step,
                    params.repeat_penalty,
                    recent,
                )?;
            }
            let token = sampler.sample(&step)?;
            if stop && self.stop_tokens.contains(&token) {
                break;
            }
            stats.generated_tokens += 1;
            context.push(token);
            if on_token(token)?.is_break() {
                break;
            }
            let input = Tensor::new(&[token], &self.device)?.unsqueeze(0)?;
            logits = model.forward(&input, context.len() - 1)?;
        }
        stats.generation_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(stats)
    }

    fn sampler(params: &GenerationParams) -> LogitsProcessor {
        let sampling = if params.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            Sampling::TopP {
                p: params.top_p,
                temperature: params.temperature,
            }
        };
        LogitsProcessor::from_sampling(params.seed, sampling)
    }
}

/// How far back the repeat penalty looks.
const REPEAT_WINDOW: usize = 64;

impl Generator for GgufGenerator {
    fn name(&self) -> &str {
        &self.name
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn writes(&self, language: Language) -> bool {
        language == Language::English || self.writes_chinese
    }

    fn count_tokens(&self, messages: &[ChatMessage]) -> Result<usize> {
        Ok(self.encode(messages)?.len())
    }

    fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerationStats> {
        let prompt = self.encode(messages)?;
        let mut stream = TokenStream::new(&self.tokenizer);
        self.run(&prompt, params, true, &mut |token| {
            Ok(match stream.push(token)? {
                Some(text) => on_text(&text),
                None => ControlFlow::Continue(()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docent_core::ModelPaths;

    /// A deadline already past, or a cancel already set, stops the generator before the
    /// prompt: no time spent, nothing written; without either the same call writes.
    #[test]
    fn a_past_deadline_or_a_cancel_stops_before_the_prompt() {
        let generator =
            GgufGenerator::load(&ModelPaths::locate(None).default_generator(), Device::Cpu)
                .unwrap();
        let messages = [ChatMessage::new("user", "Name a colour.")];
        let mut written = String::new();
        let free = GenerationParams {
            max_tokens: 4,
            ..Default::default()
        };
        let stats = generator
            .generate(&messages, &free, &mut |t| {
                written.push_str(t);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert!(
            stats.generated_tokens > 0 && !written.is_empty(),
            "{stats:?}"
        );

        let late = GenerationParams {
            deadline: Some(Instant::now()),
            ..free
        };
        let stats = generator
            .generate(&messages, &late, &mut |_| {
                panic!("nothing is written past the deadline")
            })
            .unwrap();
        assert_eq!(
            (stats.generated_tokens, stats.prompt_ms),
            (0, 0.0),
            "{stats:?}"
        );

        // A cancelled request (its client went away) stops the same way.
        let gone = GenerationParams {
            cancel: Some(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
                true,
            ))),
            ..free
        };
        let stats = generator
            .generate(&messages, &gone, &mut |_| {
                panic!("nothing is written once cancelled")
            })
            .unwrap();
        assert_eq!(
            (stats.generated_tokens, stats.prompt_ms),
            (0, 0.0),
            "{stats:?}"
        );
    }
}
