//! Retrieval quality measures over ranked document ids, as BEIR and TREC define them:
//! nDCG@k (graded gains), MRR@k, Recall@k, and latency percentiles; and answer quality against a
//! gold answer: token F1 and containment, in English and Chinese.

use std::collections::HashMap;

use docent_core::text::tokens::{self, answer_tokens, content_tokens};

/// Relevance judgments of one query: document id → gain (> 0 is relevant).
pub type Judgments = HashMap<String, f64>;

/// nDCG@k: discounted cumulative gain of `ranked`'s first k documents, divided by that of the
/// ideal ordering of the judged documents.
pub fn ndcg_at(ranked: &[String], judged: &Judgments, k: usize) -> f64 {
    let discount = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| judged.get(d).copied().unwrap_or(0.0) * discount(i))
        .sum();
    let mut ideal: Vec<f64> = judged.values().copied().filter(|&g| g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| g * discount(i))
        .sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

/// Reciprocal rank of the first relevant document within the first k, else 0.
pub fn mrr_at(ranked: &[String], judged: &Judgments, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| judged.get(d).is_some_and(|&g| g > 0.0))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Share of the relevant documents found within the first k.
pub fn recall_at(ranked: &[String], judged: &Judgments, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&g| g > 0.0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| judged.get(*d).is_some_and(|&g| g > 0.0))
        .count();
    found as f64 / relevant as f64
}

/// The p-th percentile (0–100) by nearest rank; `None` for no samples.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Document ids in rank order from chunk-level hits: a document ranks where its best chunk does.
pub fn rank_documents<'a>(chunk_doc_ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    chunk_doc_ids
        .into_iter()
        .filter(|d| seen.insert(*d))
        .map(str::to_string)
        .collect()
}

/// Tokens `answer` and `gold` share, counting repeats at most as often as both have them.
fn overlap(answer: &[String], gold: &[String]) -> usize {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for token in gold {
        *counts.entry(token).or_default() += 1;
    }
    answer
        .iter()
        .filter(|token| match counts.get_mut(token.as_str()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count()
}

/// SQuAD's token F1: the harmonic mean of the share of the answer's tokens found in the gold
/// answer (precision) and the share of the gold answer's tokens found in the answer (recall).
pub fn token_f1(answer: &str, gold: &str) -> f64 {
    let (answer, gold) = (answer_tokens(answer), answer_tokens(gold));
    let common = overlap(&answer, &gold);
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / answer.len() as f64;
    let recall = common as f64 / gold.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Share of the answer's tokens that the gold answer contains: how much of what was said is
/// backed by the reference (gold answers here are whole FAQ answers, far longer than a good
/// reply, so recall-heavy F1 alone would punish concise answers).
pub fn containment(answer: &str, gold: &str) -> f64 {
    let (answer, gold) = (answer_tokens(answer), answer_tokens(gold));
    if answer.is_empty() {
        return 0.0;
    }
    overlap(&answer, &gold) as f64 / answer.len() as f64
}

/// Share of `answer`'s content words (see [`content_tokens`]) that occur in the
/// sources it cites; 0 when it cites none.
pub fn faithfulness(answer: &str, cited_sources: &[&str]) -> f64 {
    let tokens = content_tokens(answer);
    if cited_sources.is_empty() || tokens.is_empty() {
        return 0.0;
    }
    let sources: std::collections::HashSet<String> = cited_sources
        .iter()
        .flat_map(|s| content_tokens(s))
        .collect();
    tokens::overlap(&tokens, &sources) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn judged(pairs: &[(&str, f64)]) -> Judgments {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    #[test]
    fn ndcg_matches_hand_computed_values() {
        // One relevant document at rank 3: DCG = 1/log2(4) = 0.5, IDCG = 1.
        assert!((ndcg_at(&ids(&["a", "b", "r"]), &judged(&[("r", 1.0)]), 10) - 0.5).abs() < 1e-12);
        // Gains 3 and 1 found at ranks 2 and 1:
        // DCG = 1/log2(2) + 3/log2(3) = 1 + 1.892789; IDCG = 3 + 1/log2(3) = 3.630930.
        let value = ndcg_at(&ids(&["x", "y"]), &judged(&[("x", 1.0), ("y", 3.0)]), 10);
        assert!((value - 2.892789 / 3.630930).abs() < 1e-6, "{value}");
        // Beyond the cut-off counts for nothing.
        assert_eq!(
            ndcg_at(&ids(&["a", "b", "r"]), &judged(&[("r", 1.0)]), 2),
            0.0
        );
        assert_eq!(ndcg_at(&ids(&["r"]), &judged(&[("r", 1.0)]), 10), 1.0);
    }

    #[test]
    fn mrr_and_recall_match_hand_computed_values() {
        let ranked = ids(&["a", "r1", "b", "r2"]);
        let j = judged(&[("r1", 1.0), ("r2", 1.0), ("r3", 1.0), ("n", 0.0)]);
        assert_eq!(mrr_at(&ranked, &j, 10), 0.5);
        assert_eq!(mrr_at(&ranked, &j, 1), 0.0);
        assert!((recall_at(&ranked, &j, 10) - 2.0 / 3.0).abs() < 1e-12);
        assert!((recall_at(&ranked, &j, 2) - 1.0 / 3.0).abs() < 1e-12);
        // A judged-but-irrelevant document is no hit.
        assert_eq!(mrr_at(&ids(&["n"]), &j, 10), 0.0);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples = [5.0, 1.0, 4.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&samples, 50.0), Some(5.0));
        assert_eq!(percentile(&samples, 95.0), Some(10.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn documents_rank_by_their_best_chunk() {
        assert_eq!(
            rank_documents(["d2", "d1", "d2", "d3", "d1"]),
            ids(&["d2", "d1", "d3"])
        );
    }

    #[test]
    fn token_f1_and_containment_match_hand_computed_values() {
        // answer: the cat sat (3) / gold: the cat sat on the mat (6); 3 shared.
        // precision 1, recall 0.5, F1 = 2/3; containment = 1.
        assert!((token_f1("The cat sat.", "the cat sat on the mat") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(containment("The cat sat.", "the cat sat on the mat"), 1.0);
        // A repeated token counts only as often as the gold answer has it:
        // answer: the the the dog (4) / gold: the cat (2); shared 1 ("the").
        // precision 1/4, recall 1/2, F1 = 2·(1/8)/(3/4) = 1/3; containment 1/4.
        assert!((token_f1("the the the dog", "the cat") - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(containment("the the the dog", "the cat"), 0.25);
        // Chinese by character: 安装软件 vs 用 apt 安 装: shared 安, 装 → P 2/4, R 2/4, F1 = 1/2.
        assert!((token_f1("安装软件", "用apt安装") - 0.5).abs() < 1e-12);
        assert_eq!(token_f1("", "gold"), 0.0);
        assert_eq!(containment("", "gold"), 0.0);
        assert_eq!(token_f1("nothing shared", "gold"), 0.0);
    }
}
