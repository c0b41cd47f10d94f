//! Local generation with candle from a GGUF file: weights, tokenizer and chat template all come
//! from the one file. Supported architectures: see [`crate::architecture`].

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::quantized::gguf_file::Content;
use candle_core::{Tensor, quantized::gguf_file};
use candle_transformers::generation::{LogitsProcessor, Sampling};

use docent_core::Language;
use docent_core::device::Device;

use crate::architecture::{Architecture, Hyperparameters};
use crate::decoder::{self, Decoder};
use crate::thinking::HideThinking;
use crate::{ChatTemplate, PREFILL_CHUNK, TokenStream, tokenizer_from_gguf};
use docent_core::{Chat, GenerationParams, GenerationStats, Generator};

/// A GGUF model run by candle (docent's own forward pass, [`Decoder`]). Each generation works
/// on its own clone of the model: shared weights, its own KV cache, so answers can run at once
/// on the CPU; on a GPU they take turns (see `gpu_turn`).
pub struct GgufGenerator {
    name: String,
    weights: Decoder,
    tokenizer: tokenizers::Tokenizer,
    /// None for a base model, which can only continue text.
    template: Option<ChatTemplate>,
    bos: Option<u32>,
    stop_tokens: Vec<u32>,
    context_length: usize,
    writes_chinese: bool,
    /// Models whose caches hold a chat's opening — every message but the last: the system
    /// prompt, worked examples — keyed by its tokens, most recently used last. docent's chats
    /// open the same few ways (an answer, a follow-up's topic, RAG-Fusion's phrasings; English or
    /// Chinese), so a prompt that opens with one runs only what follows it.
    openings: std::sync::Mutex<Vec<(Vec<u32>, Decoder)>>,
    /// Held by the generation running, when the model is on a CUDA GPU: there all of them share
    /// candle's one stream, and two at once corrupt each other (measured on an H200 with
    /// candle 0.11: eight greedy answers at once came out unlike the same eight one by one,
    /// one of them gibberish, and like them with `CUDA_LAUNCH_BLOCKING=1`). One at a time was
    /// faster there too (8 answers in 3.4 s, against 7.0 s at once).
    gpu_turn: Option<std::sync::Mutex<()>>,
}

/// Openings kept: the six ways docent's chats open, each in storage of its own.
const OPENINGS: usize = 6;

/// Vocabulary entries holding a Chinese character that a model needs to be asked for Chinese:
/// models trained on Chinese have thousands (Qwen2.5: ~25,000), English ones a handful
/// (SmolLM2: a few hundred byte-level fragments).
const CHINESE_VOCABULARY: usize = 2000;

/// End-of-turn markers of the common chat formats (ChatML, Llama 3, Gemma, Phi-3), besides the
/// end of text the GGUF declares.
const END_OF_TURN: [&str; 5] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|endoftext|>",
];

fn metadata_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

impl GgufGenerator {
    /// Loads a GGUF chat model onto `device`; a model without a chat template (a base model)
    /// is refused, since it cannot answer.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let generator = Self::load_any(path, device)?;
        if generator.template.is_none() {
            bail!(
                "{} has no chat template: it is a base model, and docent needs an \
                 instruction-tuned (chat) model to answer",
                path.display()
            );
        }
        Ok(generator)
    }

    /// Loads any supported GGUF onto `device`, a base model too (which can only
    /// [continue text](Self::continue_text)).
    pub fn load_any(path: &Path, device: Device) -> Result<Self> {
        let gpu = || {
            let device = candle_core::Device::new_cuda(0)
                .map_err(|e| anyhow!("opening the first CUDA GPU: {e}"))?;
            Self::load_onto(path, &device)
        };
        Ok(device
            .load("--device", gpu, || {
                Self::load_onto(path, &candle_core::Device::Cpu)
            })?
            .0)
    }

    fn load_onto(path: &Path, device: &candle_core::Device) -> Result<Self> {
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
        let architecture = Architecture::from_name(
            &meta_str("general.architecture").ok_or_else(|| anyhow!("GGUF has no architecture"))?,
        )
        .with_context(|| format!("loading {}", path.display()))?;
        let params = Hyperparameters::read(architecture, &content)?;
        let tokenizer = tokenizer_from_gguf(&content)?;
        let token_text = |id: Option<u32>| {
            id.and_then(|id| tokenizer.id_to_token(id))
                .unwrap_or_default()
        };
        let bos_id = metadata_u32(&content, "tokenizer.ggml.bos_token_id");
        let eos_id = metadata_u32(&content, "tokenizer.ggml.eos_token_id");
        let template = meta_str("tokenizer.chat_template")
            .map(|source| ChatTemplate::new(source, token_text(bos_id), token_text(eos_id)))
            .transpose()?;
        let add_bos = content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok());
        let stop_tokens = END_OF_TURN
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .chain(eos_id)
            .collect();
        let context_length = params.usable_context(decoder::MAX_POSITIONS);
        let name = meta_str("general.name").unwrap_or_else(|| {
            path.file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into()
        });
        let weights = Decoder::from_gguf(params, &content, &mut file, device)
            .with_context(|| format!("loading weights from {}", path.display()))?;
        let chinese_tokens = (0..tokenizer.get_vocab_size(true) as u32)
            .filter_map(|id| tokenizer.decode(&[id], false).ok())
            .filter(|text| text.chars().any(docent_core::text::language::is_han))
            .count();
        tracing::info!(
            "loaded {name} ({}, context {context_length} tokens)",
            architecture.key()
        );
        Ok(GgufGenerator {
            name,
            weights,
            tokenizer,
            template,
            bos: if add_bos == Some(true) { bos_id } else { None },
            stop_tokens,
            context_length,
            writes_chinese: chinese_tokens >= CHINESE_VOCABULARY,
            openings: Default::default(),
            gpu_turn: device.is_cuda().then(Default::default),
        })
    }

    /// The chat rendered as the model's prompt text, the reply's given start included.
    fn prompt(&self, chat: Chat<'_>) -> Result<String> {
        if !chat.tools.is_empty() && !self.calls_tools() {
            bail!(
                "{} cannot call tools: its chat template has no tool-call format",
                self.name
            );
        }
        let mut text = self
            .template
            .as_ref()
            .ok_or_else(|| anyhow!("{} is a base model and cannot chat", self.name))?
            .render(chat.messages, chat.tools)?;
        text.push_str(chat.reply_start);
        Ok(text)
    }

    fn encode(&self, chat: Chat<'_>) -> Result<Vec<u32>> {
        self.tokens(&self.prompt(chat)?)
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
    /// comparison with another engine, and of the agreement tests with llama.cpp.
    ///
    /// With `follow`, the model is fed those tokens instead of its own picks (another engine's
    /// continuation), so that the two can be compared at every step even after a near-tie went
    /// the other way; each step's [`margin`](Continuation::margins) says how far the followed
    /// token's logit was below the model's best.
    pub fn continue_text(
        &self,
        text: &str,
        prompt_tokens: usize,
        tokens: usize,
        follow: Option<&[u32]>,
    ) -> Result<Continuation> {
        let mut prompt = self.tokens(text)?;
        prompt.truncate(prompt_tokens);
        let params = GenerationParams {
            max_tokens: follow.map_or(tokens, |f| tokens.min(f.len())),
            temperature: 0.0,
            repeat_penalty: 1.0,
            ..Default::default()
        };
        let mut generated = Vec::with_capacity(tokens);
        let mut margins = Vec::new();
        let stats = self.run(&prompt, 0, &params, false, &mut |token, logits| {
            let step = generated.len();
            generated.push(token);
            let Some(followed) = follow.and_then(|f| f.get(step).copied()) else {
                return Ok(ControlFlow::Continue(token));
            };
            let logits = logits.to_vec1::<f32>()?;
            let best = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let theirs = *logits
                .get(followed as usize)
                .ok_or_else(|| anyhow!("followed token {followed} is outside the vocabulary"))?;
            margins.push(best - theirs);
            Ok(ControlFlow::Continue(followed))
        })?;
        Ok(Continuation {
            prompt,
            tokens: generated,
            margins,
            stats,
        })
    }

    /// Runs the prompt through the model, then samples up to `params.max_tokens` tokens, each
    /// handed to `on_token` with the logits it was picked from, stopping early at an
    /// end-of-turn token when `stop` is set. `on_token` says which token to feed the model
    /// next (the one picked, unless it follows another engine), or to stop.
    fn run(
        &self,
        prompt: &[u32],
        opening: usize,
        params: &GenerationParams,
        stop: bool,
        on_token: &mut OnToken,
    ) -> Result<GenerationStats> {
        if prompt.len() + params.max_tokens > self.context_length {
            bail!(
                "the prompt ({} tokens) plus max_tokens ({}) exceeds the model's context of {} tokens",
                prompt.len(),
                params.max_tokens,
                self.context_length
            );
        }
        let mut sampler = Self::sampler(params);
        let mut stats = GenerationStats {
            prompt_tokens: prompt.len(),
            ..Default::default()
        };

        // Before the model: its copy's GPU memory is freed inside the turn too.
        let _turn = self
            .gpu_turn
            .as_ref()
            .map(|turn| turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let started = Instant::now();
        let Some((mut model, start)) = self.opened(&prompt[..opening], params)? else {
            return Ok(stats);
        };
        let mut last = None;
        for (i, chunk) in prompt[start..].chunks(PREFILL_CHUNK).enumerate() {
            if params.should_stop() {
                return Ok(stats);
            }
            last = Some(model.forward(chunk, start + i * PREFILL_CHUNK)?);
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
            let ControlFlow::Continue(fed) = on_token(token, &step)? else {
                break;
            };
            context.push(fed);
            logits = model.forward(&[fed], context.len() - 1)?;
        }
        stats.generation_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(stats)
    }

    /// A model to run a prompt that opens with `opening`, and the position to go on from: one
    /// whose cache holds the opening (run now, and kept, the first time it is seen), or a fresh
    /// one from position 0 when there is no opening. `None` when stopped meanwhile.
    fn opened(
        &self,
        opening: &[u32],
        params: &GenerationParams,
    ) -> Result<Option<(Decoder, usize)>> {
        if opening.is_empty() {
            return Ok(Some((self.weights.clone(), 0)));
        }
        let room = self.context_length - opening.len();
        {
            let mut openings = self.openings.lock().unwrap();
            if let Some(at) = openings.iter().position(|(tokens, _)| tokens == opening) {
                let entry = openings.remove(at);
                let model = entry.1.fork(room.min(decoder::CACHE_GROWTH))?;
                openings.push(entry);
                return Ok(Some((model, opening.len())));
            }
        }
        let mut model = self.weights.clone();
        for (i, chunk) in opening.chunks(PREFILL_CHUNK).enumerate() {
            if params.should_stop() {
                return Ok(None);
            }
            model.forward(chunk, i * PREFILL_CHUNK)?;
        }
        let kept = model.fork(0)?;
        let mut openings = self.openings.lock().unwrap();
        if !openings.iter().any(|(tokens, _)| tokens == opening) {
            if openings.len() == OPENINGS {
                openings.remove(0);
            }
            openings.push((opening.to_vec(), kept));
        }
        Ok(Some((model, opening.len())))
    }

    /// How many of `prompt`'s tokens (the rendering of `chat`) are the chat's opening —
    /// every message but the last, with the tools offered — or 0 when it has none, or its
    /// tokens do not begin the prompt's (a template that renders an opening otherwise than as
    /// the start of the chat).
    fn opening_tokens(&self, chat: Chat<'_>, prompt: &[u32]) -> Result<usize> {
        let (Some(template), [opening @ .., _]) = (&self.template, chat.messages) else {
            return Ok(0);
        };
        if opening.is_empty() {
            return Ok(0);
        }
        let tokens = self.tokens(&template.render_opening(opening, chat.tools)?)?;
        let begins = tokens.len() < prompt.len() && prompt.starts_with(&tokens);
        Ok(if begins { tokens.len() } else { 0 })
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

/// Called with each token the model picks and the logits it was picked from; says which token
/// to feed the model next, or to stop.
type OnToken<'a> = dyn FnMut(u32, &Tensor) -> Result<ControlFlow<(), u32>> + 'a;

/// What [`GgufGenerator::continue_text`] did.
pub struct Continuation {
    /// The prompt's token ids, as the model saw them.
    pub prompt: Vec<u32>,
    /// The model's greedy pick at each step.
    pub tokens: Vec<u32>,
    /// Where it followed another engine's tokens: at each step, its best logit minus the
    /// followed token's (0 where they agree).
    pub margins: Vec<f32>,
    /// The two phases' timings.
    pub stats: GenerationStats,
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

    fn calls_tools(&self) -> bool {
        self.template
            .as_ref()
            .is_some_and(ChatTemplate::calls_tools)
    }

    fn count_tokens(&self, chat: Chat<'_>) -> Result<usize> {
        Ok(self.encode(chat)?.len())
    }

    fn generate(
        &self,
        chat: Chat<'_>,
        params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerationStats> {
        let text = self.prompt(chat)?;
        tracing::trace!("prompt: {text}");
        let prompt = self.tokens(&text)?;
        let opening = self.opening_tokens(chat, &prompt)?;
        let mut stream = TokenStream::new(&self.tokenizer);
        // A reasoning model's thinking is never part of the answer.
        let mut answer = HideThinking::after_prompt(&text);
        let mut written = String::new();
        let stats = self.run(&prompt, opening, params, true, &mut |token, _| {
            let shown = match stream.push(token)? {
                Some(text) => answer.push(&text),
                None => String::new(),
            };
            written.push_str(&shown);
            if !shown.is_empty() && on_text(&shown).is_break() {
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(token))
        })?;
        let rest = answer.finish();
        if !rest.is_empty() {
            let _ = on_text(&rest);
        }
        tracing::trace!("reply: {written}");
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docent_core::{ChatMessage, ModelPaths, Role};

    /// A chat's opening (here its system prompt) is run once and kept: the same chat run again
    /// from the kept cache, after another chat with the same opening, picks the same tokens as
    /// the whole prompt run from scratch.
    #[test]
    fn a_kept_opening_gives_the_tokens_of_a_fresh_run() {
        let generator =
            GgufGenerator::load(&ModelPaths::locate(None).default_generator(), Device::Cpu)
                .unwrap();
        let chat = |question: &str| {
            [
                ChatMessage::new(Role::System, "You answer in one short sentence."),
                ChatMessage::new(Role::User, question),
            ]
        };
        let params = GenerationParams {
            max_tokens: 12,
            ..Default::default()
        };
        let tokens = |messages: &[ChatMessage], with_opening: bool| {
            let prompt = generator.encode(Chat::new(messages)).unwrap();
            let opening = generator
                .opening_tokens(Chat::new(messages), &prompt)
                .unwrap();
            assert!(opening > 0 && opening < prompt.len(), "{opening}");
            let mut picked = Vec::new();
            let opening = if with_opening { opening } else { 0 };
            generator
                .run(&prompt, opening, &params, true, &mut |token, _| {
                    picked.push(token);
                    Ok(ControlFlow::Continue(token))
                })
                .unwrap();
            picked
        };
        let colour = chat("Name a colour.");
        let fresh = tokens(&colour, false);
        assert!(!fresh.is_empty());
        assert!(generator.openings.lock().unwrap().is_empty());
        assert_eq!(
            tokens(&colour, true),
            fresh,
            "the run that keeps the opening"
        );
        tokens(&chat("Name an animal, and say where it lives."), true);
        assert_eq!(tokens(&colour, true), fresh, "from the kept opening");
        assert_eq!(generator.openings.lock().unwrap().len(), 1);
    }

    /// A deadline already past, or a cancel already set, stops the generator before the
    /// prompt: no time spent, nothing written; without either the same call writes.
    #[test]
    fn a_past_deadline_or_a_cancel_stops_before_the_prompt() {
        let generator =
            GgufGenerator::load(&ModelPaths::locate(None).default_generator(), Device::Cpu)
                .unwrap();
        let messages = [ChatMessage::new(Role::User, "Name a colour.")];
        let mut written = String::new();
        let free = GenerationParams {
            max_tokens: 4,
            ..Default::default()
        };
        let stats = generator
            .generate(Chat::new(&messages), &free, &mut |t| {
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
            .generate(Chat::new(&messages), &late, &mut |_| {
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
            .generate(Chat::new(&messages), &gone, &mut |_| {
                panic!("nothing is written once cancelled")
            })
            .unwrap();
        assert_eq!(
            (stats.generated_tokens, stats.prompt_ms),
            (0, 0.0),
            "{stats:?}"
        );
    }

    /// The chat template a GGUF ships.
    fn shipped_template(model: &str) -> ChatTemplate {
        let path = ModelPaths::locate(None).resolve(model);
        let mut file = std::fs::File::open(&path).unwrap();
        let content = gguf_file::Content::read(&mut file).unwrap();
        let source = content.metadata["tokenizer.chat_template"]
            .to_string()
            .unwrap()
            .clone();
        ChatTemplate::new(source, String::new(), String::new()).unwrap()
    }

    /// Qwen2.5's own template renders the tools offered, the model's call and the tool's reply
    /// exactly as Hugging Face's Jinja does (Python's `json.dumps` inside: checked against
    /// jinja2), so the model reads the markup it was trained on; SmolLM2's has no tool calls.
    #[test]
    fn qwen_renders_tools_calls_and_results_as_trained() {
        let template = shipped_template("qwen2.5-0.5b");
        assert!(template.calls_tools());
        assert!(!shipped_template("smollm2").calls_tools());
        let tools = [docent_core::Tool {
            name: "get_weather".into(),
            description: "The weather now".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }];
        let chat = [
            ChatMessage::new(Role::System, "Answer from the sources."),
            ChatMessage::new(Role::User, "Weather in Paris?"),
            ChatMessage::calling(
                "",
                vec![docent_core::ToolCall {
                    name: "get_weather".into(),
                    arguments: serde_json::json!({"city": "Paris", "units": "°C"}),
                }],
            ),
            ChatMessage::new(Role::Tool, "[1] Sunny, 21 °C."),
        ];
        let expected = "<|im_start|>system\nAnswer from the sources.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"The weather now\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"units\": \"\u{b0}C\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n[1] Sunny, 21 \u{b0}C.\n</tool_response><|im_end|>\n<|im_start|>assistant\n";
        assert_eq!(template.render(&chat, &tools).unwrap(), expected);
    }
}
