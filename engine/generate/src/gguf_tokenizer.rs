//! A `tokenizers::Tokenizer` built from a GGUF file's own vocabulary, for GGUFs that ship no
//! tokenizer.json. candle's `TokenizerFromGguf` adds a leading space on gpt2-style models and so
//! produces other ids than llama.cpp; this builds the byte-level BPE the way llama.cpp does
//! (digits split one by one, no prefix space) from `tokenizer.ggml.{tokens,merges,token_type}`.

use anyhow::{Result, anyhow, bail};
use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::json;

/// GGUF token types (llama.cpp's `llama_token_type`): control tokens are special, user-defined
/// ones are matched whole in text but are not special.
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The model's tokenizer, rebuilt from the vocabulary and merges in its GGUF metadata.
pub fn tokenizer_from_gguf(content: &Content) -> Result<tokenizers::Tokenizer> {
    let meta = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| anyhow!("GGUF has no {key}"))
    };
    let model = meta("tokenizer.ggml.model")?.to_string()?;
    if model != "gpt2" {
        bail!(
            "tokenizer type {model:?} is not supported yet (supported: gpt2-style byte-level BPE)"
        );
    }
    let tokens = strings(meta("tokenizer.ggml.tokens")?)?;
    let merges = strings(meta("tokenizer.ggml.merges")?)?;
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
    build_byte_level_bpe(&tokens, &merges, &added)
}

fn strings(value: &Value) -> Result<Vec<&str>> {
    value
        .to_vec()?
        .iter()
        .map(|v| Ok(v.to_string()?.as_str()))
        .collect()
}

/// Assembles the tokenizer through its JSON form, the format `tokenizers` keeps stable.
pub(super) fn build_byte_level_bpe(
    tokens: &[&str],
    merges: &[&str],
    added: &[(u32, &str, bool)],
) -> Result<tokenizers::Tokenizer> {
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.to_string(), json!(id)))
        .collect();
    let added_tokens: Vec<_> = added
        .iter()
        .map(|(id, content, special)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": special})
        })
        .collect();
    let spec = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
        ]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
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
        build_byte_level_bpe(&tokens, &[], &[]).unwrap()
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
