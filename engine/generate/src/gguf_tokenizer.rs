//! A `tokenizers::Tokenizer` built from a GGUF file's own vocabulary, for GGUFs that ship no
//! tokenizer.json, tokenizing as llama.cpp does (the ids must match for the model to see what
//! it was trained on):
//!
//! - `gpt2`: byte-level BPE from `tokenizer.ggml.{tokens,merges}`, split first by the
//!   pre-tokenizer `tokenizer.ggml.pre` names (SmolLM2, Qwen, Llama 3, Phi-4 differ in how they
//!   cut digits and words). candle's `TokenizerFromGguf` adds a leading space here, so its ids
//!   differ from llama.cpp's.
//! - `llama`: SentencePiece (Gemma, Phi-3, Llama 2): the vocabulary's scores decide the merges,
//!   the highest-scoring pair first, and characters outside the vocabulary fall back to bytes.

use anyhow::{Result, anyhow, bail};
use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::json;

/// GGUF token types (llama.cpp's `llama_token_type`): control tokens are special, user-defined
/// ones are matched whole in text but are not special, byte tokens are SentencePiece's
/// fallback for characters outside the vocabulary.
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;
const TOKEN_TYPE_BYTE: i32 = 6;

/// SentencePiece's stand-in for a space.
const SPACE: &str = "\u{2581}";

/// GPT-2's split: contractions, letters, digits, punctuation, spaces (llama.cpp "gpt-2").
const GPT2_SPLIT: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Qwen2/Qwen3 (and the R1 distills of Qwen): digits one by one.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3: digits in threes.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// GPT-4o's (Phi-4-mini): words split at case changes, digits in threes.
const GPT4O_SPLIT: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The model's tokenizer, rebuilt from the vocabulary in its GGUF metadata.
pub fn tokenizer_from_gguf(content: &Content) -> Result<tokenizers::Tokenizer> {
    let meta = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| anyhow!("GGUF has no {key}"))
    };
    let tokens = strings(meta("tokenizer.ggml.tokens")?)?;
    let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|t| t.to_i32())
            .collect::<candle_core::Result<_>>()?,
        None => Vec::new(),
    };
    let added: Vec<(u32, &str, bool)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(id, token)| match types.get(id) {
            Some(&TOKEN_TYPE_CONTROL) => Some((id as u32, *token, true)),
            Some(&TOKEN_TYPE_USER_DEFINED) => Some((id as u32, *token, false)),
            _ => None,
        })
        .collect();
    match meta("tokenizer.ggml.model")?.to_string()?.as_str() {
        "gpt2" => {
            let merges = strings(meta("tokenizer.ggml.merges")?)?;
            let pre = content
                .metadata
                .get("tokenizer.ggml.pre")
                .and_then(|v| v.to_string().ok())
                .map_or("default", String::as_str);
            build_byte_level_bpe(&tokens, &merges, &added, pre)
        }
        "llama" => {
            let scores: Vec<f32> = meta("tokenizer.ggml.scores")?
                .to_vec()?
                .iter()
                .map(|s| s.to_f32())
                .collect::<candle_core::Result<_>>()?;
            let space_prefix = content
                .metadata
                .get("tokenizer.ggml.add_space_prefix")
                .and_then(|v| v.to_bool().ok())
                .unwrap_or(true);
            let unk = content
                .metadata
                .get("tokenizer.ggml.unknown_token_id")
                .and_then(|v| v.to_u32().ok())
                .and_then(|id| tokens.get(id as usize).copied());
            build_sentencepiece(&tokens, &scores, &types, &added, space_prefix, unk)
        }
        other => bail!(
            "tokenizer type {other:?} is not supported (supported: gpt2 byte-level BPE, \
             llama SentencePiece)"
        ),
    }
}

fn strings(value: &Value) -> Result<Vec<&str>> {
    value
        .to_vec()?
        .iter()
        .map(|v| Ok(v.to_string()?.as_str()))
        .collect()
}

fn added_tokens(added: &[(u32, &str, bool)]) -> Vec<serde_json::Value> {
    added
        .iter()
        .map(|(id, content, special)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": special})
        })
        .collect()
}

/// llama.cpp's "default" (a GGUF that names no pre-tokenizer): punctuation runs first, then
/// GPT-2's split, then digit runs, cut into threes — each splitting the pieces of the one before.
const DEFAULT_SPLITS: [&str; 4] = [
    r"[\p{P}\$\+<=>\^~\|]+",
    GPT2_SPLIT,
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];

/// The pre-tokenizer llama.cpp uses for `pre` (`tokenizer.ggml.pre`).
fn pre_tokenizer(pre: &str) -> serde_json::Value {
    let byte_level = |use_regex: bool| {
        json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
               "use_regex": use_regex})
    };
    let splits = |patterns: &[&str]| {
        let mut steps: Vec<_> = patterns
            .iter()
            .map(|pattern| {
                json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated",
                       "invert": false})
            })
            .collect();
        steps.push(byte_level(false));
        json!({"type": "Sequence", "pretokenizers": steps})
    };
    let split = |pattern: &str| splits(&[pattern]);
    match pre {
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            byte_level(true)
        ]}),
        "qwen2" | "deepseek-r1-qwen" => split(QWEN2_SPLIT),
        "llama-bpe" | "llama3" | "smaug-bpe" => split(LLAMA3_SPLIT),
        "gpt-4o" => split(GPT4O_SPLIT),
        "gpt-2" => split(GPT2_SPLIT),
        other => {
            if other != "default" {
                tracing::warn!(
                    "tokenizer pre-tokenizer {other:?} is unknown to docent; using llama.cpp's default"
                );
            }
            splits(&DEFAULT_SPLITS)
        }
    }
}

/// A byte-level BPE: GPT-2's byte alphabet, merges as the GGUF lists them.
pub(super) fn build_byte_level_bpe(
    tokens: &[&str],
    merges: &[&str],
    added: &[(u32, &str, bool)],
    pre: &str,
) -> Result<tokenizers::Tokenizer> {
    assemble(
        tokens,
        added,
        Kind {
            normalizer: serde_json::Value::Null,
            pre_tokenizer: pre_tokenizer(pre),
            decoder: json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                            "use_regex": true}),
            merges: json!(merges),
            unk: None,
            byte_fallback: false,
        },
    )
}

/// SentencePiece's BPE as `tokenizers` runs it: spaces become `▁` (with one in front when
/// `space_prefix`), and every split of a vocabulary piece into two pieces is a merge, ranked by
/// the whole piece's score, so the highest-scoring pair merges first, as in llama.cpp's
/// SentencePiece tokenizer.
fn build_sentencepiece(
    tokens: &[&str],
    scores: &[f32],
    types: &[i32],
    added: &[(u32, &str, bool)],
    space_prefix: bool,
    unk: Option<&str>,
) -> Result<tokenizers::Tokenizer> {
    let ids: std::collections::HashSet<&str> = tokens.iter().copied().collect();
    let mergeable =
        |id: usize| !matches!(types.get(id), Some(&(TOKEN_TYPE_CONTROL | TOKEN_TYPE_BYTE)));
    let mut merges: Vec<(f32, usize, &str, &str)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate().filter(|(id, _)| mergeable(*id)) {
        for (at, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(at);
            if ids.contains(left) && ids.contains(right) {
                merges.push((scores.get(id).copied().unwrap_or(0.0), id, left, right));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let merges: Vec<[&str; 2]> = merges.iter().map(|m| [m.2, m.3]).collect();
    let mut normalizers =
        vec![json!({"type": "Replace", "pattern": {"String": " "}, "content": SPACE})];
    if space_prefix {
        normalizers.insert(0, json!({"type": "Prepend", "prepend": SPACE}));
    }
    assemble(
        tokens,
        added,
        Kind {
            normalizer: json!({"type": "Sequence", "normalizers": normalizers}),
            pre_tokenizer: serde_json::Value::Null,
            // No stripping of the leading space: text is decoded a piece at a time as it streams.
            decoder: json!({"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"}
            ]}),
            merges: json!(merges),
            unk,
            byte_fallback: true,
        },
    )
}

/// What sets a kind of GGUF tokenizer apart, in `tokenizers`' JSON form.
struct Kind<'a> {
    normalizer: serde_json::Value,
    pre_tokenizer: serde_json::Value,
    decoder: serde_json::Value,
    merges: serde_json::Value,
    unk: Option<&'a str>,
    /// Characters outside the vocabulary become `<0xXX>` byte tokens.
    byte_fallback: bool,
}

/// Builds a BPE tokenizer through its JSON form, the format `tokenizers` keeps stable: the
/// vocabulary and added tokens as the GGUF has them, the rest as `kind` says.
fn assemble(
    tokens: &[&str],
    added: &[(u32, &str, bool)],
    kind: Kind,
) -> Result<tokenizers::Tokenizer> {
    let Kind {
        normalizer,
        pre_tokenizer,
        decoder,
        merges,
        unk,
        byte_fallback,
    } = kind;
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.to_string(), json!(id)))
        .collect();
    let spec = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens(added),
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": decoder,
        "model": {"type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": byte_fallback, "byte_fallback": byte_fallback,
                  "ignore_merges": false, "vocab": vocab, "merges": merges}
    });
    tokenizers::Tokenizer::from_bytes(serde_json::to_vec(&spec)?)
        .map_err(|e| anyhow!("building the tokenizer from GGUF metadata: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// GPT-2's byte-to-character table: printable bytes stand for themselves, the rest are
    /// shifted past 255 so every byte has a visible character.
    fn byte_alphabet() -> Vec<String> {
        let mut shifted = 0;
        (0u32..256)
            .map(|b| {
                let printable =
                    (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
                let c = if printable {
                    b
                } else {
                    shifted += 1;
                    255 + shifted
                };
                char::from_u32(c).unwrap().to_string()
            })
            .collect()
    }

    /// A byte-level BPE with no merges: every byte is its own token.
    pub(crate) fn byte_tokenizer() -> tokenizers::Tokenizer {
        let alphabet = byte_alphabet();
        let tokens: Vec<&str> = alphabet.iter().map(String::as_str).collect();
        build_byte_level_bpe(&tokens, &[], &[], "smollm").unwrap()
    }

    #[test]
    fn byte_level_round_trips_any_text() {
        let tokenizer = byte_tokenizer();
        for text in [
            "plain ascii",
            "检索增强生成 (RAG)",
            "tabs\tand\nnewlines",
            "emoji 🦀 2024",
        ] {
            let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
            assert_eq!(tokenizer.decode(&ids, false).unwrap(), text);
        }
    }

    fn smollm2() -> Content {
        let models = docent_core::ModelPaths::locate(None);
        let path = models.default_generator();
        models.require(&path).unwrap();
        let mut file = std::fs::File::open(path).unwrap();
        Content::read(&mut file).unwrap()
    }

    #[test]
    fn smollm2_tokenizer_round_trips_and_keeps_chat_markers_whole() {
        let content = smollm2();
        let tokenizer = tokenizer_from_gguf(&content).unwrap();
        let tokens = strings(content.metadata.get("tokenizer.ggml.tokens").unwrap()).unwrap();
        let im_start = tokens.iter().position(|t| *t == "<|im_start|>").unwrap() as u32;

        let text = "<|im_start|>user\nWhat is RAG? 检索增强生成, 2024.<|im_end|>\n";
        let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(ids[0], im_start, "a chat marker must be one token");
        assert_eq!(tokenizer.decode(&ids, false).unwrap(), text);

        // No prefix space (the candle tokenizer's bug) and digits one by one (llama.cpp "smollm").
        let hello = tokenizer.encode("Hello", false).unwrap();
        assert_eq!(hello.get_tokens(), ["Hello"]);
        let year = tokenizer.encode("2024", false).unwrap();
        assert_eq!(year.get_tokens(), ["2", "0", "2", "4"]);
        // Merges are applied: a common word is one token, not one per byte.
        assert_eq!(tokenizer.encode(" the", false).unwrap().get_ids().len(), 1);
    }
}
