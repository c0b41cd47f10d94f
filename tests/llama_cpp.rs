//! docent's generator against llama.cpp, per architecture: the same GGUF, the same text, the
//! same greedy tokens.
//!
//! llama.cpp is node-llama-cpp's prebuilt CPU binary and the GGUF writer is the `gguf` Python
//! package, both pinned and installed under .docent/ by `make test`. The tiny models
//! (tests/llama_cpp/tiny_gguf.py) have random f32 weights, each family's real tensor names and
//! metadata, and SmolLM2's real tokenizer and chat template; llama.cpp keeps its KV cache in f32
//! here, so the engines differ only in the order of their additions and must pick the same 32
//! tokens. The real models are Gemma 3 270M (4- to 8-bit weights, `make models`), run past its
//! 512-token sliding window, and the two Qwen2.5 writers, on English and Chinese.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{docent, notes_folder, run, run_json};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A pinned tool `make test` installs, or a failure that says so.
fn tool(dir: &str) -> PathBuf {
    let dir = root().join(dir);
    assert!(
        dir.join(".installed").is_file(),
        "{} is missing: run `make test`, which installs the agreement tests' pinned tools",
        dir.display()
    );
    dir
}

fn smollm2() -> PathBuf {
    root().join("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn gemma3_270m() -> PathBuf {
    let model = root().join("models/gemma3/gemma-3-270m-q4_k_m.gguf");
    assert!(
        model.is_file(),
        "{} is missing: run `make models`",
        model.display()
    );
    model
}

/// A writer `make models` fetches (Qwen2.5-Coder instruct, 4-bit K-quants).
fn qwen(size: &str) -> PathBuf {
    let model = root().join(format!(
        "models/qwen2.5/qwen2.5-coder-{size}-instruct-q4_k_m.gguf"
    ));
    assert!(
        model.is_file(),
        "{} is missing: run `make models`",
        model.display()
    );
    model
}

/// Writes the tiny random-weight GGUF of `architecture` into `dir`, with the tokenizer of
/// `tokenizer_from` (and `tokenizer_options` for tiny_gguf.py).
fn tiny_gguf(
    architecture: &str,
    dir: &Path,
    tokenizer_from: &Path,
    tokenizer_options: &[&str],
) -> PathBuf {
    let out = dir.join(format!(
        "tiny-{architecture}{}.gguf",
        tokenizer_options.join("")
    ));
    run(Command::new("python3")
        .arg(root().join("tests/llama_cpp/tiny_gguf.py"))
        .arg(architecture)
        .arg(&out)
        .arg(tokenizer_from)
        .args(tokenizer_options)
        .env("PYTHONPATH", tool(".docent/gguf-py")));
    out
}

/// llama.cpp's greedy continuation of the text in `prompt`, cut to `prompt_tokens` tokens.
fn llama_cpp(model: &Path, prompt: &Path, prompt_tokens: usize, tokens: usize) -> Value {
    let dir = tool(".docent/llama-cpp");
    // Node resolves node-llama-cpp from the script's folder.
    let script = dir.join("llama-cpp-continue.mjs");
    std::fs::copy(root().join("scripts/llama-cpp-continue.mjs"), &script).unwrap();
    run_json(
        Command::new("node")
            .arg(script)
            .arg(model)
            .arg(prompt)
            .args([
                &prompt_tokens.to_string(),
                &tokens.to_string(),
                "2",
                "f32-cache",
            ]),
    )
}

/// docent's greedy continuation of the same, following `follow`'s tokens where given.
fn docent_continues(
    model: &Path,
    prompt: &Path,
    prompt_tokens: usize,
    tokens: usize,
    follow: Option<&Path>,
) -> Value {
    let mut command = docent(Path::new("unused-store"));
    command
        .args(["bench", "generate", "--json", "--model"])
        .arg(model)
        .arg("--prompt-file")
        .arg(prompt)
        .args(["--prompt-tokens", &prompt_tokens.to_string()])
        .args(["--tokens", &tokens.to_string()])
        .env("RAYON_NUM_THREADS", "2");
    if let Some(follow) = follow {
        command.arg("--follow").arg(follow);
    }
    run_json(&mut command)
}

fn ids(value: &Value, key: &str) -> Vec<u64> {
    value[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

/// The English prose of the sample corpus the prompts are cut from.
const PROSE: [&str; 3] = [
    "how-llms-generate-text.md",
    "prompting.md",
    "retrieval-augmented-generation.md",
];

/// These files of the English sample corpus, as one text.
fn english(files: &[&str]) -> String {
    files
        .iter()
        .map(|f| std::fs::read_to_string(root().join("corpus/en").join(f)).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each family's tiny model: the same prompt tokens and the same 32 greedy tokens as llama.cpp,
/// after a 300-token prompt (two prefill chunks; the tiny gemma3's window of 8 keys is crossed
/// at every position). Then `docent ask` answers with it: the family's model loads, the chat
/// template renders and generation runs end to end.
#[test]
fn every_architecture_agrees_with_llama_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let prompt = dir.path().join("prompt.txt");
    std::fs::write(&prompt, english(&PROSE)).unwrap();
    let store = dir.path().join("store");
    run(docent(&store).arg("ingest").arg(notes_folder(dir.path())));

    for architecture in ["llama", "qwen2", "qwen3", "gemma3", "phi3"] {
        let model = tiny_gguf(architecture, dir.path(), &smollm2(), &[]);
        let reference = llama_cpp(&model, &prompt, 300, 32);
        let ours = docent_continues(&model, &prompt, 300, 32, None);
        assert_eq!(
            ids(&ours, "prompt_ids"),
            ids(&reference, "prompt_ids"),
            "{architecture}: the prompt's tokens"
        );
        let tokens = ids(&ours, "tokens");
        assert_eq!(
            tokens,
            ids(&reference, "tokens"),
            "{architecture}: 32 greedy tokens"
        );
        // A model that repeated one token would prove little.
        let distinct: std::collections::HashSet<_> = tokens.iter().collect();
        assert!(
            distinct.len() >= 4,
            "{architecture}: only {} distinct tokens: {tokens:?}",
            distinct.len()
        );

        let answer = run_json(
            docent(&store)
                .args(["ask", "At what temperature is green tea brewed?", "--json"])
                .args(["--max-tokens", "16", "--model"])
                .arg(&model),
        );
        assert!(
            answer["answer"]
                .as_str()
                .is_some_and(|a| !a.trim().is_empty()),
            "{architecture}: {answer}"
        );
    }
}

/// Gemma 3 270M, a real 4-bit model with a 512-token sliding window on five of every six
/// layers, past that window: on a text that repeats after ~760 tokens (so that continuing it
/// means reading back further than the window), the same 880 prompt tokens and the same 64
/// greedy tokens as llama.cpp. Then on plain prose (900 tokens), where the two engines' 4-bit
/// arithmetic (rounded in different orders) can break a near-tie either way: docent follows
/// llama.cpp's 64 tokens, and each is docent's own pick or within 1 logit of it. (Measured
/// here: at most 0.5 on such near-ties; a window off by its size moves logits by 2 to 13.)
#[test]
fn gemma3_agrees_with_llama_cpp_past_its_sliding_window() {
    let model = gemma3_270m();
    let dir = tempfile::tempdir().unwrap();

    let passage = english(&PROSE[..2]);
    let repeated = dir.path().join("repeated.txt");
    std::fs::write(&repeated, format!("{passage}\n{passage}")).unwrap();
    let reference = llama_cpp(&model, &repeated, 880, 64);
    let ours = docent_continues(&model, &repeated, 880, 64, None);
    assert_eq!(ids(&ours, "prompt_ids"), ids(&reference, "prompt_ids"));
    assert_eq!(ids(&ours, "prompt_ids").len(), 880);
    assert_eq!(ids(&ours, "tokens"), ids(&reference, "tokens"));

    let prose = dir.path().join("prose.txt");
    std::fs::write(&prose, english(&PROSE)).unwrap();
    follow_llama_cpp(&model, &prose, 900, 64);
}

/// docent follows llama.cpp's `tokens` greedy tokens after the same `prompt_tokens` prompt
/// tokens; each must be docent's own pick or within 1 logit of it. Returns how far below
/// docent's pick each was (0: the same token).
fn follow_llama_cpp(model: &Path, prompt: &Path, prompt_tokens: usize, tokens: usize) -> Vec<f64> {
    let reference = llama_cpp(model, prompt, prompt_tokens, tokens);
    let theirs = prompt.with_extension("theirs.json");
    std::fs::write(&theirs, reference["tokens"].to_string()).unwrap();
    let ours = docent_continues(model, prompt, prompt_tokens, tokens, Some(&theirs));
    let name = model.display();
    assert_eq!(
        ids(&ours, "prompt_ids"),
        ids(&reference, "prompt_ids"),
        "{name}"
    );
    assert_eq!(ids(&ours, "prompt_ids").len(), prompt_tokens, "{name}");
    let margins: Vec<f64> = ours["margins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_f64().unwrap())
        .collect();
    assert_eq!(margins.len(), tokens, "{name}");
    let worst = margins.iter().copied().fold(0.0, f64::max);
    assert!(
        worst <= 1.0,
        "{name}: llama.cpp's token was {worst} logits below docent's pick: {margins:?}"
    );
    margins
}

/// Both Qwen2.5 writers on a text of English and Chinese prose (400 tokens, two prefill chunks):
/// the same prompt tokens as llama.cpp, and the same first 8 greedy tokens; then docent follows
/// llama.cpp's 32 tokens and each is docent's own pick or within 1 logit of it (the engines'
/// 4-bit arithmetic is rounded in different orders, so a near-tie may break either way).
#[test]
fn the_qwen_writers_agree_with_llama_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let prose = dir.path().join("prose.txt");
    let chinese = std::fs::read_to_string(root().join("corpus/zh/rag.zh.md")).unwrap();
    std::fs::write(&prose, format!("{chinese}\n{}", english(&PROSE[2..]))).unwrap();
    for size in ["0.5b", "1.5b"] {
        let margins = follow_llama_cpp(&qwen(size), &prose, 400, 32);
        assert!(
            margins[..8].iter().all(|m| *m == 0.0),
            "{size}: the first 8 greedy tokens differ from llama.cpp's: {margins:?}"
        );
    }
}

/// Each way docent rebuilds a tokenizer from GGUF metadata cuts a tricky text into the same
/// ids as llama.cpp: SmolLM2's byte-level BPE under each pre-tokenizer docent knows (how digits,
/// contractions, spaces and newlines are split differs between SmolLM2, Qwen, Llama 3 and
/// GPT-4o/Phi-4), and Gemma's SentencePiece vocabulary with and without the space prefix
/// (Gemma has none; Phi-3 and Llama 2 have one).
#[test]
fn tokenizers_cut_text_as_llama_cpp_does() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(
        &text,
        "Don't panic: I'll say it 12345 times, 3.14159 and 2024-12-01.\n\n  Indented\tcode(x);  \
         a  b   c\n检索增强生成（RAG）把文档检索和生成结合起来。Ж ü 🦀 THE END\n",
    )
    .unwrap();
    let cases: [(&str, PathBuf, &[&str]); 8] = [
        ("llama", smollm2(), &["--pre", "smollm"]),
        ("llama", smollm2(), &["--pre", "qwen2"]),
        ("llama", smollm2(), &["--pre", "llama-bpe"]),
        ("llama", smollm2(), &["--pre", "gpt-4o"]),
        ("llama", smollm2(), &["--pre", "gpt-2"]),
        ("llama", smollm2(), &["--pre", "default"]),
        ("gemma3", gemma3_270m(), &["--space-prefix", "false"]),
        ("gemma3", gemma3_270m(), &["--space-prefix", "true"]),
    ];
    for (architecture, vocabulary, options) in cases {
        let model = tiny_gguf(architecture, dir.path(), &vocabulary, options);
        let reference = llama_cpp(&model, &text, 10_000, 1);
        let ours = docent_continues(&model, &text, 10_000, 1, None);
        assert_eq!(
            ids(&ours, "prompt_ids"),
            ids(&reference, "prompt_ids"),
            "{} {options:?}",
            vocabulary.display()
        );
    }
}
