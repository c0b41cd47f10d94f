//! The lexical channel: BM25 as sparse vectors. Text becomes terms (words lowercased, English
//! ones reduced to their Snowball stem; Chinese, which has no spaces, as overlapping character
//! bigrams), each term a dimension whose
//! value is its BM25 term-frequency weight. The store multiplies in each term's IDF (Qdrant's
//! `idf` modifier) and sums over the query's terms, which is BM25.

use std::collections::BTreeMap;

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

use crate::language::is_han;

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Changes whenever the same text would get other terms or weights: stored vectors made by
/// another version must be rebuilt.
pub const VERSION: u32 = 1;

/// BM25's term-frequency saturation and length normalisation, at their usual values.
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// BM25's average document length, for length normalisation: a fixed nominal chunk length in
/// terms rather than the corpus's mean, so that a chunk's vector never depends on what else is
/// stored (nor goes stale as the store grows). Chunks of 200–400 embedder tokens hold roughly
/// 120–300 terms.
const AVERAGE_TERMS: f32 = 120.0;

/// A word as a term: lowercased, and stemmed when it is a plain English word, so that
/// "installing", "installed" and "installs" meet.
fn word_term(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.bytes().all(|b| b.is_ascii_alphabetic()) { ENGLISH.stem(&lower).into_owned() } else { lower }
}

/// The terms of `text`, in order: words (see [`word_term`]), and bigrams over runs of Han
/// characters (a lone character stands as itself).
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut han_run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut Vec<String>| {
        match run.len() {
            0 => {}
            1 => out.push(run[0].to_string()),
            _ => out.extend(run.windows(2).map(|pair| pair.iter().collect::<String>())),
        }
        run.clear();
    };
    for word in text.unicode_words() {
        let mut chars = word.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if is_han(c) => han_run.push(c),
            _ if word.chars().any(is_han) => {
                // A mixed token: its Han characters join the run, the rest stands alone.
                for c in word.chars() {
                    if is_han(c) {
                        han_run.push(c);
                    } else {
                        flush(&mut han_run, &mut out);
                    }
                }
            }
            _ => {
                flush(&mut han_run, &mut out);
                out.push(word_term(word));
            }
        }
    }
    flush(&mut han_run, &mut out);
    out
}

/// A term's dimension: a stable 32-bit hash (FNV-1a), so no vocabulary has to be stored.
pub fn term_id(term: &str) -> u32 {
    term.bytes().fold(0x811c9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x01000193))
}

/// A sparse vector as sorted (dimension, value) pairs.
pub type Sparse = Vec<(u32, f32)>;

fn counts(text: &str) -> (BTreeMap<u32, f32>, usize) {
    let terms = terms(text);
    let mut counts = BTreeMap::new();
    for term in &terms {
        *counts.entry(term_id(term)).or_insert(0.0) += 1.0;
    }
    (counts, terms.len())
}

/// A passage's vector: BM25's saturated, length-normalised term frequencies.
pub fn passage_vector(text: &str) -> Sparse {
    let (counts, length) = counts(text);
    let norm = K1 * (1.0 - B + B * length as f32 / AVERAGE_TERMS);
    counts.into_iter().map(|(id, tf)| (id, tf * (K1 + 1.0) / (tf + norm))).collect()
}

/// A query's vector: each distinct term once.
pub fn query_vector(text: &str) -> Sparse {
    counts(text).0.into_keys().map(|id| (id, 1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_lowercased_words() {
        assert_eq!(
            terms("Installing packages: APT's cache works! apt-get v2.0"),
            ["instal", "packag", "apt's", "cach", "work", "apt", "get", "v2.0"]
        );
        assert_eq!(terms("installed"), terms("installs"));
    }

    #[test]
    fn chinese_becomes_character_bigrams() {
        assert_eq!(terms("检索增强"), ["检索", "索增", "增强"]);
        assert_eq!(terms("用 apt 安装软件包。"), ["用", "apt", "安装", "装软", "软件", "件包"]);
        assert_eq!(terms("Debian的包"), ["debian", "的包"]);
    }

    #[test]
    fn bm25_weights_saturate_and_normalise_length() {
        let once = passage_vector("apt");
        let thrice = passage_vector("apt apt apt");
        let w = |v: &Sparse| v.iter().find(|(id, _)| *id == term_id("apt")).unwrap().1;
        // tf = 1 in a 1-term text: 2.2 / (1 + 1.2 * (0.25 + 0.75 / 120)).
        assert!((w(&once) - 2.2 / (1.0 + 1.2 * (0.25 + 0.75 / 120.0))).abs() < 1e-6);
        assert!(w(&thrice) > w(&once) && w(&thrice) < 3.0 * w(&once));
        let long = format!("apt {}", "word ".repeat(300));
        assert!(w(&passage_vector(&long)) < w(&once), "longer passages weigh a term less");
        assert_eq!(query_vector("apt apt cache"), {
            // "cache" is stemmed to "cach"; a repeated query term counts once.
            let mut v = vec![(term_id("apt"), 1.0), (term_id("cach"), 1.0)];
            v.sort_by_key(|(id, _)| *id);
            v
        });
    }
}
