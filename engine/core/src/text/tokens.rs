//! The tokens answers, questions and sources are compared in: lowercase words, and Chinese one
//! character a token; content tokens leave out English stopwords and Chinese function
//! characters. The support check, evidence selection, follow-ups and the eval's metrics all count
//! words this one way.

use std::collections::HashSet;
use std::sync::LazyLock;

use unicode_segmentation::UnicodeSegmentation;

use crate::text::language::is_han;
use crate::text::markers;

/// English stopwords (NLTK's list).
pub static STOPWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| stop_words::get("en").iter().copied().collect());

/// Chinese function characters: a query bigram made only of these says how a question is
/// asked ("什么", "怎么", "可以"), not what about.
pub const FUNCTION_CHARACTERS: &str = "的了是我你他她它们吗呢吧啊呀么什怎如何哪为该应能可以会要在有和与或这那一个些都也就把被让给对从到之其所";

/// Tokens for comparing answers: lowercase Unicode words, with Chinese text one token per
/// character (it has no spaces, and a character is the unit answer-overlap scores use for it).
/// Punctuation is not a token.
pub fn answer_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for word in text.unicode_words() {
        if word.chars().any(is_han) {
            let mut rest = String::new();
            for c in word.chars() {
                if is_han(c) {
                    if !rest.is_empty() {
                        tokens.push(std::mem::take(&mut rest).to_lowercase());
                    }
                    tokens.push(c.to_string());
                } else {
                    rest.push(c);
                }
            }
            if !rest.is_empty() {
                tokens.push(rest.to_lowercase());
            }
        } else {
            tokens.push(word.to_lowercase());
        }
    }
    tokens
}

/// The words an answer's faithfulness is judged on: [`answer_tokens`] (lowercase words, one
/// token per Chinese character) less English stopwords and Chinese function characters, read
/// after removing `[n]` citation markers.
pub fn content_tokens(text: &str) -> Vec<String> {
    answer_tokens(&markers::strip(text).0)
        .into_iter()
        .filter(|t| {
            let mut chars = t.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if is_han(c) => !FUNCTION_CHARACTERS.contains(c),
                _ => !STOPWORDS.contains(t.as_str()),
            }
        })
        .collect()
}

/// The words a claim is compared in: English content words as in [`content_tokens`], and
/// Chinese as pairs of characters in a row (most Chinese words are two characters, and single
/// ones are shared by unrelated sentences all the time: 提, 示, 模, 型), without pairs of two
/// function characters ("可以", "什么"); a character standing alone counts by itself, a function
/// character alone not at all. Punctuation and Latin words end a run of characters; spaces do
/// not (they are layout). Citation markers are not words.
pub fn content_terms(text: &str) -> Vec<String> {
    let function = |c: char| FUNCTION_CHARACTERS.contains(c);
    let flush = |run: &mut Vec<char>, terms: &mut Vec<String>| {
        match run.as_slice() {
            [] => {}
            [c] if function(*c) => {}
            [c] => terms.push(c.to_string()),
            pairs => terms.extend(
                pairs
                    .windows(2)
                    .filter(|p| !(function(p[0]) && function(p[1])))
                    .map(|p| p.iter().collect()),
            ),
        }
        run.clear();
    };
    let (mut terms, mut run) = (Vec::new(), Vec::new());
    let mut word = String::new();
    for segment in markers::strip(text).0.split_word_bounds() {
        if segment.chars().all(char::is_whitespace) {
            continue;
        }
        for c in segment.chars() {
            if is_han(c) {
                run.push(c);
                continue;
            }
            flush(&mut run, &mut terms);
            if c.is_alphanumeric() || (c == '\'' && !word.is_empty()) {
                word.extend(c.to_lowercase());
            }
        }
        if !word.is_empty() && !STOPWORDS.contains(word.as_str()) {
            terms.push(std::mem::take(&mut word));
        }
        word.clear();
        if !segment.chars().any(|c| c.is_alphanumeric()) {
            flush(&mut run, &mut terms);
        }
    }
    flush(&mut run, &mut terms);
    terms
}

/// Share of `tokens` found in `source` (1 for no tokens: nothing is claimed).
pub fn overlap(tokens: &[String], source: &HashSet<String>) -> f32 {
    if tokens.is_empty() {
        return 1.0;
    }
    tokens.iter().filter(|t| source.contains(*t)).count() as f32 / tokens.len() as f32
}

/// Cosine similarity of two vectors (the embedders return unit vectors, but a check should not
/// rely on it).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 {
        dot / denominator
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_tokens_split_words_and_chinese_characters() {
        assert_eq!(
            answer_tokens("Use APT, then apt-get!"),
            ["use", "apt", "then", "apt", "get"]
        );
        assert_eq!(
            answer_tokens("用 apt 安装软件。"),
            ["用", "apt", "安", "装", "软", "件"]
        );
        assert_eq!(answer_tokens("Debian的apt"), ["debian", "的", "apt"]);
    }

    #[test]
    fn content_tokens_leave_out_stopwords_markers_and_function_characters() {
        assert_eq!(
            content_tokens("Debian is a free operating system [1]."),
            ["debian", "free", "operating", "system"]
        );
        assert_eq!(
            content_tokens("Debian 是一个自由的操作系统。[2]"),
            ["debian", "自", "由", "操", "作", "系", "统"]
        );
    }

    #[test]
    fn content_terms_pair_chinese_characters_within_a_clause() {
        assert_eq!(
            content_terms("Debian isn't a free system [1]."),
            ["debian", "free", "system"]
        );
        // Pairs within a run, none across punctuation or a Latin word; a function pair (可以)
        // and a lone function character (的) are not words.
        assert_eq!(
            content_terms("可以安装软件。用 apt 的 [2]"),
            ["以安", "安装", "装软", "软件", "用", "apt"]
        );
        assert_eq!(content_terms("稳定 版"), ["稳定", "定版"]);
    }

    #[test]
    fn overlap_counts_the_share_of_words_found() {
        let source: HashSet<String> = ["debian", "free", "system"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tokens = content_tokens("Debian is a free operating system");
        assert_eq!(overlap(&tokens, &source), 0.75);
    }
}
