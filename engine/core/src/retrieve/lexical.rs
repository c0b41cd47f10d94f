//! The lexical channel: BM25 as sparse vectors. Text becomes terms (words lowercased, English
//! ones reduced to their Snowball stem; Chinese, which has no spaces, as overlapping character
//! bigrams), each term a dimension whose
//! value is its BM25 term-frequency weight. The store multiplies in each term's IDF (Qdrant's
//! `idf` modifier) and sums over the query's terms, which is BM25.

use std::collections::BTreeMap;

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

use crate::text::language::is_han;
use crate::text::tokens::FUNCTION_CHARACTERS;

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Changes whenever the same text would get other terms or weights: stored vectors made by
/// another version must be rebuilt.
pub const VERSION: u32 = 3;

/// BM25's term-frequency saturation and length normalisation, at their usual values.
const K1: f32 = 1.2;
/// The most a term can weigh in a passage vector (BM25 saturates at K1 + 1).
pub const MAX_TERM_WEIGHT: f32 = K1 + 1.0;
const B: f32 = 0.75;
/// BM25's average document length, for length normalisation: a fixed nominal chunk length in
/// terms rather than the corpus's mean, so that a chunk's vector never depends on what else is
/// stored (nor goes stale as the store grows). Chunks of 200–400 embedder tokens hold roughly
/// 120–300 terms.
const AVERAGE_TERMS: f32 = 120.0;

/// A word as a term: lowercased, and stemmed when it is a plain English word, so that
/// "installing", "installed" and "installs" meet.
pub(crate) fn word_term(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.bytes().all(|b| b.is_ascii_alphabetic()) {
        ENGLISH.stem(&lower).into_owned()
    } else {
        lower
    }
}

/// The parts of a word that joins several with inner punctuation ("libfoo.so", "os.path",
/// "apt's", "v2.0"), which Unicode keeps as one word: indexed besides the whole, so that
/// "libfoo.so.x" and "libfoo.so" meet on "libfoo" and "so". A plain word has none.
fn compound_parts(word: &str) -> Vec<&str> {
    let parts: Vec<&str> = word
        .split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() > 1 { parts } else { Vec::new() }
}

/// The terms of `text`, in order: words (see [`word_term`]), and bigrams over runs of Han
/// characters (a lone character stands as itself). Punctuation ends a run, so no bigram spans
/// two clauses ("安装。软件" has no "装软"); whitespace does not, since Chinese puts none
/// between words and a space or line break inside a run is only layout.
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
    for segment in text.split_word_bounds() {
        if segment.chars().all(char::is_whitespace) {
            continue;
        }
        if !segment.chars().any(char::is_alphanumeric) {
            flush(&mut han_run, &mut out);
            continue;
        }
        let mut chars = segment.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if is_han(c) => han_run.push(c),
            _ if segment.chars().any(is_han) => {
                // A mixed token: its Han characters join the run, the rest stands alone.
                for c in segment.chars() {
                    if is_han(c) {
                        han_run.push(c);
                    } else {
                        flush(&mut han_run, &mut out);
                    }
                }
            }
            _ => {
                flush(&mut han_run, &mut out);
                out.push(word_term(segment));
                out.extend(compound_parts(segment).into_iter().map(word_term));
            }
        }
    }
    flush(&mut han_run, &mut out);
    out
}

/// A term's dimension: a stable 32-bit hash (FNV-1a), so no vocabulary has to be stored. Part of
/// the store's format: another hash would need a new [`VERSION`].
pub fn term_id(term: &str) -> u32 {
    const_fnv1a_hash::fnv1a_hash_str_32(term)
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
    counts
        .into_iter()
        .map(|(id, tf)| (id, tf * (K1 + 1.0) / (tf + norm)))
        .collect()
}

fn is_function_term(term: &str) -> bool {
    term.chars()
        .all(|c| is_han(c) && FUNCTION_CHARACTERS.contains(c))
}

/// A query's vector: each distinct term once, less Chinese function terms (unless nothing else is left).
pub fn query_vector(text: &str) -> Sparse {
    let all = terms(text);
    let content: Vec<&String> = all.iter().filter(|t| !is_function_term(t)).collect();
    let kept = if content.is_empty() {
        all.iter().collect()
    } else {
        content
    };
    let ids: std::collections::BTreeSet<u32> = kept.into_iter().map(|t| term_id(t)).collect();
    ids.into_iter().map(|id| (id, 1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored vectors use these ids: they must not change.
    #[test]
    fn term_ids_are_fnv1a_32() {
        assert_eq!(term_id(""), 0x811c9dc5);
        assert_eq!(term_id("a"), 0xe40c292c);
        assert_eq!(term_id("foobar"), 0xbf9cf968);
    }

    #[test]
    fn english_is_lowercased_words() {
        assert_eq!(
            terms("Installing packages: APT's cache works! apt-get v2.0"),
            [
                "instal", "packag", "apt's", "apt", "s", "cach", "work", "apt", "get", "v2.0",
                "v2", "0"
            ]
        );
        // A compound stands whole and in parts, so a shorter one meets it on its parts.
        assert_eq!(terms("libfoo.so.x"), ["libfoo.so.x", "libfoo", "so", "x"]);
        assert_eq!(terms("os.path"), ["os.path", "os", "path"]);
        assert_eq!(terms("installed"), terms("installs"));
    }

    #[test]
    fn chinese_becomes_character_bigrams() {
        assert_eq!(terms("检索增强"), ["检索", "索增", "增强"]);
        assert_eq!(
            terms("用 apt 安装软件包。"),
            ["用", "apt", "安装", "装软", "软件", "件包"]
        );
        assert_eq!(terms("Debian的包"), ["debian", "的包"]);
    }

    #[test]
    fn punctuation_ends_a_han_run_and_whitespace_does_not() {
        assert_eq!(terms("安装。软件"), ["安装", "软件"]);
        assert_eq!(
            terms("（以及解答！）如果"),
            ["以及", "及解", "解答", "如果"]
        );
        // A line break inside a Chinese sentence is layout, not a word boundary.
        assert_eq!(terms("操作\n系统"), ["操作", "作系", "系统"]);
    }

    #[test]
    fn chinese_query_terms_made_only_of_function_characters_are_dropped() {
        let ids = |terms: &[&str]| {
            let mut ids: Vec<(u32, f32)> = terms.iter().map(|t| (term_id(t), 1.0)).collect();
            ids.sort_by_key(|(id, _)| *id);
            ids
        };
        // 什么 and 么是 say how the question is asked; 是软 still holds a content character.
        assert_eq!(
            query_vector("什么是软件包？"),
            ids(&["是软", "软件", "件包"])
        );
        assert_eq!(
            query_vector("如何安装 apt？"),
            ids(&["何安", "安装", "apt"])
        );
        // Nothing but function terms: they are all there is to search for.
        assert_eq!(query_vector("什么？"), ids(&["什么"]));
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
        assert!(
            w(&passage_vector(&long)) < w(&once),
            "longer passages weigh a term less"
        );
        assert_eq!(query_vector("apt apt cache"), {
            // "cache" is stemmed to "cach"; a repeated query term counts once.
            let mut v = vec![(term_id("apt"), 1.0), (term_id("cach"), 1.0)];
            v.sort_by_key(|(id, _)| *id);
            v
        });
    }
}
