//! `docent bench embed`: ingest's embedding speed, e5's two engines side by side — the C engine
//! (the CPU's default) and candle on the CPU, and candle on the GPU when this build and machine
//! have CUDA — over passages of 200–400 tokens cut from a folder of Markdown and text files.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use docent_core::Embedder;
use serde::Serialize;

/// Passages are cut at paragraph ends once they hold at least this many tokens.
const PASSAGE_TOKENS: usize = 250;
/// And never past this many.
const MAX_PASSAGE_TOKENS: usize = 400;

/// One engine's figures.
#[derive(Serialize)]
pub struct EmbedFigures {
    engine: String,
    passages: usize,
    mean_tokens: f64,
    seconds: f64,
    passages_per_second: f64,
    tokens_per_second: f64,
}

/// Passages of 200–400 tokens (by `embedder`'s count) from the `.md` and `.txt` files under
/// `dir`, repeated until there are `count`.
pub fn passages(dir: &Path, count: usize, embedder: &dyn Embedder) -> Result<Vec<String>> {
    let mut paragraphs = Vec::new();
    let mut files = vec![dir.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path)?.flatten().map(|e| e.path()));
        } else if path.extension().is_some_and(|e| e == "md" || e == "txt") {
            let text = std::fs::read_to_string(&path)?;
            paragraphs.extend(
                text.split("\n\n")
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from),
            );
        }
    }
    let mut cut = Vec::new();
    let mut current = String::new();
    for paragraph in paragraphs {
        let longer = format!("{current}\n\n{paragraph}");
        if !current.is_empty() && embedder.count_tokens(&longer) > MAX_PASSAGE_TOKENS {
            cut.push(std::mem::take(&mut current));
            current = paragraph;
        } else {
            current = longer.trim().to_string();
        }
        if embedder.count_tokens(&current) >= PASSAGE_TOKENS {
            cut.push(std::mem::take(&mut current));
        }
    }
    cut.retain(|p| (200..=MAX_PASSAGE_TOKENS).contains(&embedder.count_tokens(p)));
    if cut.is_empty() {
        bail!(
            "{} has no Markdown or text long enough for a 200-token passage",
            dir.display()
        );
    }
    Ok(cut.iter().cycle().take(count).cloned().collect())
}

/// Embeds `passages` with `embedder` in batches of `batch`, after one batch of warm-up.
pub fn run(
    engine: &str,
    embedder: &Arc<dyn Embedder>,
    passages: &[String],
    batch: usize,
) -> Result<EmbedFigures> {
    embedder.embed_passages(&passages[..batch.min(passages.len())])?;
    let tokens: usize = passages.iter().map(|p| embedder.count_tokens(p)).sum();
    let started = Instant::now();
    for group in passages.chunks(batch) {
        embedder.embed_passages(group)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(EmbedFigures {
        engine: engine.to_string(),
        passages: passages.len(),
        mean_tokens: tokens as f64 / passages.len() as f64,
        seconds,
        passages_per_second: passages.len() as f64 / seconds,
        tokens_per_second: tokens as f64 / seconds,
    })
}

impl EmbedFigures {
    /// Prints the figures for a terminal.
    pub fn print(&self) {
        println!(
            "{:<14} {} passages of {:.0} tokens on average in {:.1} s: {:.1} passages/s, {:.0} tokens/s",
            self.engine,
            self.passages,
            self.mean_tokens,
            self.seconds,
            self.passages_per_second,
            self.tokens_per_second
        );
    }
}
