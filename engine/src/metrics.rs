//! Retrieval quality measures over ranked document ids, as BEIR and TREC define them:
//! nDCG@k (graded gains), MRR@k, Recall@k, and latency percentiles.

use std::collections::HashMap;

/// Relevance judgments of one query: document id → gain (> 0 is relevant).
pub type Judgments = HashMap<String, f64>;

/// nDCG@k: discounted cumulative gain of `ranked`'s first k documents, divided by that of the
/// ideal ordering of the judged documents.
pub fn ndcg_at(ranked: &[String], judged: &Judgments, k: usize) -> f64 {
    let discount = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked.iter().take(k).enumerate().map(|(i, d)| judged.get(d).copied().unwrap_or(0.0) * discount(i)).sum();
    let mut ideal: Vec<f64> = judged.values().copied().filter(|&g| g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, g)| g * discount(i)).sum();
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
    let found = ranked.iter().take(k).filter(|d| judged.get(*d).is_some_and(|&g| g > 0.0)).count();
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
    chunk_doc_ids.into_iter().filter(|d| seen.insert(*d)).map(str::to_string).collect()
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
        assert_eq!(ndcg_at(&ids(&["a", "b", "r"]), &judged(&[("r", 1.0)]), 2), 0.0);
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
        assert_eq!(rank_documents(["d2", "d1", "d2", "d3", "d1"]), ids(&["d2", "d1", "d3"]));
    }
}
