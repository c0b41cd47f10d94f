//! all-MiniLM-L6-v2 (int8 ONNX) run by fastembed on an ONNX Runtime library that docent loads
//! itself (never downloaded at run time).

use std::path::Path;
use std::sync::{Mutex, Once};

use anyhow::{Context, Result, anyhow};
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use docent_core::Embedder;
use docent_core::Language;
use docent_core::models::ModelPaths;

pub(super) const ID: &str = "all-MiniLM-L6-v2-int8";

/// Sentence-transformers all-MiniLM-L6-v2, int8 weights, mean pooling, 384 dimensions.
pub struct MiniLmEmbedder {
    model: Mutex<TextEmbedding>,
    tokenizer: tokenizers::Tokenizer,
}

const MINILM_MAX_TOKENS: usize = 256;
const MINILM_DIMENSION: usize = 384;
const BATCH: usize = 32;

impl MiniLmEmbedder {
    /// Loads ONNX Runtime, the model and its tokenizer from `models`.
    pub fn load(models: &ModelPaths) -> Result<Self> {
        load_onnxruntime(models)?;
        let dir = models.minilm();
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            models.require(&path)?;
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let tokenizer = chunking_tokenizer(&files.tokenizer_file)?;
        let model =
            UserDefinedEmbeddingModel::new(read("model.onnx")?, files).with_pooling(Pooling::Mean);
        let embedding = TextEmbedding::try_new_from_user_defined(
            model,
            InitOptionsUserDefined::new().with_max_length(MINILM_MAX_TOKENS),
        )
        .context("loading the MiniLM embedding model")?;
        Ok(MiniLmEmbedder {
            model: Mutex::new(embedding),
            tokenizer,
        })
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut model = self
            .model
            .lock()
            .map_err(|_| anyhow!("embedder poisoned by an earlier panic"))?;
        model.embed(texts, Some(BATCH)).context("embedding text")
    }
}

impl Embedder for MiniLmEmbedder {
    fn id(&self) -> &str {
        ID
    }

    fn dimension(&self) -> usize {
        MINILM_DIMENSION
    }

    fn count_tokens(&self, text: &str) -> usize {
        // An encoding error can only come from a broken tokenizer file, which load() rules
        // out; counting every byte as a token keeps chunks short if it ever happens.
        self.tokenizer
            .encode(text, true)
            .map_or(text.len(), |encoding| encoding.len())
    }

    fn max_tokens(&self) -> usize {
        MINILM_MAX_TOKENS
    }

    fn embed_passages(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.embed(texts)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.embed(&[text.to_string()])?
            .pop()
            .ok_or_else(|| anyhow!("the embedder returned no vector"))
    }

    fn supports(&self, language: Language) -> bool {
        language == Language::English
    }

    fn relevance_floor(&self) -> f32 {
        0.25
    }
}

/// MiniLM's tokenizer as chunking needs it: without the truncation and padding its
/// tokenizer.json sets up for the model, which would make every text count as 128 tokens.
fn chunking_tokenizer(json: &[u8]) -> Result<tokenizers::Tokenizer> {
    let mut tokenizer = tokenizers::Tokenizer::from_bytes(json)
        .map_err(|e| anyhow!("parsing MiniLM tokenizer.json: {e}"))?;
    tokenizer
        .with_truncation(None)
        .map_err(|e| anyhow!("configuring the MiniLM tokenizer: {e}"))?
        .with_padding(None);
    Ok(tokenizer)
}

/// ort panics on first use when it has no ONNX Runtime library, so docent loads the one from
/// `make models` explicitly (once per process) and turns a missing file into an error that says what to do.
fn load_onnxruntime(models: &ModelPaths) -> Result<()> {
    static LOADED: Once = Once::new();
    let path = models.onnxruntime();
    models.require(&path)?;
    let mut result = Ok(());
    LOADED.call_once(|| result = init_ort(&path));
    result
}

fn init_ort(path: &Path) -> Result<()> {
    ort::init_from(path).map(drop).map_err(|e| {
        anyhow!(
            "loading ONNX Runtime from {}: {e}. Run `make models` to fetch it.",
            path.display()
        )
    })
}
