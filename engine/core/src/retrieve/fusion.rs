//! Hybrid retrieval's last step: several ranked channels merged into one ranking of chunks.
//!
//! The channels are the dense one (chunks by embedding similarity), the lexical one (chunks by
//! BM25) and the document one (whole documents by BM25, each represented by its first chunk).
//! A document channel's score counts for every chunk of that document, so a chunk that the
//! embedder ranks well inside a document whose words match the question as a whole rises.
//!
//! Fusion happens here rather than in the store's own query API: Qdrant fuses per point, so a
//! document's score could not reach its other chunks, and its distribution-based fusion takes no
//! weights. Both stores answer the same three single-channel queries, so they rank alike.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::store::Candidate;
use crate::types::Hit;

/// What fusion ranks: a chunk with a score, a whole hit or a candidate not yet read.
pub trait Ranked: Clone {
    /// The chunk's document.
    fn doc_id(&self) -> &str;
    /// The chunk's position in its document.
    fn chunk(&self) -> u32;
    /// Its score.
    fn score(&self) -> f32;
    /// Replaces its score.
    fn set_score(&mut self, score: f32);
}

impl Ranked for Hit {
    fn doc_id(&self) -> &str {
        &self.doc_id
    }
    fn chunk(&self) -> u32 {
        self.chunk
    }
    fn score(&self) -> f32 {
        self.score
    }
    fn set_score(&mut self, score: f32) {
        self.score = score;
    }
}

impl Ranked for Candidate {
    fn doc_id(&self) -> &str {
        &self.doc_id
    }
    fn chunk(&self) -> u32 {
        self.chunk
    }
    fn score(&self) -> f32 {
        self.score
    }
    fn set_score(&mut self, score: f32) {
        self.score = score;
    }
}

/// How channel scores are merged.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Fusion {
    /// Each channel's scores in standard deviations (over its candidates) above its weakest
    /// candidate, weighted and summed: a channel that is sure of its top hit (a wide gap)
    /// counts for more than one whose scores are flat.
    #[default]
    Zscore,
    /// Weighted reciprocal rank fusion: only ranks count, never scores.
    Rrf,
}

/// Reciprocal rank fusion's constant: the hit at place p (from 0) of a channel of weight w adds
/// w / (K + p). The customary 60 flattens the top of each ranking; with few channels the first
/// places carry the signal.
pub const RRF_K: f32 = 10.0;

/// One channel's hits, best first.
pub struct Channel<T = Hit> {
    /// The channel's hits, best first.
    pub hits: Vec<T>,
    /// The channel's say in the fused ranking.
    pub weight: f32,
    /// The hits stand for their whole documents (their score goes to every chunk of the document).
    pub per_document: bool,
}

/// Each hit's contribution under `fusion`, before weighting.
fn contributions<T: Ranked>(hits: &[T], fusion: Fusion) -> Vec<f32> {
    match fusion {
        Fusion::Rrf => (0..hits.len())
            .map(|place| 1.0 / (RRF_K + place as f32))
            .collect(),
        // A lone candidate has no spread to be measured in: it stands one deviation above what
        // the channel did not return (measured from itself, it would count for nothing, and an
        // exact keyword that only one chunk holds would get no say from BM25).
        Fusion::Zscore if hits.len() == 1 => vec![1.0],
        Fusion::Zscore => {
            let n = hits.len() as f32;
            let mean = hits.iter().map(|h| h.score()).sum::<f32>() / n;
            let deviation =
                (hits.iter().map(|h| (h.score() - mean).powi(2)).sum::<f32>() / n).sqrt();
            // All scores equal: the channel ranks nothing above anything else.
            let deviation = if deviation > f32::EPSILON {
                deviation
            } else {
                1.0
            };
            // Measured from the weakest candidate, not the mean: a chunk the channel did not
            // return ranks below all it did, so it must get less than any of them (nothing).
            let floor = hits.iter().map(|h| h.score()).fold(f32::INFINITY, f32::min);
            hits.iter()
                .map(|h| (h.score() - floor) / deviation)
                .collect()
        }
    }
}

/// The `k` best chunks of the channels merged, each scored by the weighted sum of its
/// contributions (a chunk absent from a channel gets nothing from it: under `Zscore`, the
/// same as that channel's weakest candidate). A document found only by a document channel is represented by the
/// chunk that channel returned.
pub fn fuse<T: Ranked>(channels: Vec<Channel<T>>, fusion: Fusion, k: usize) -> Vec<T> {
    let mut chunks: HashMap<(String, u32), (f32, T)> = HashMap::new();
    let mut documents: HashMap<String, (f32, T)> = HashMap::new();
    for channel in channels
        .into_iter()
        .filter(|c| c.weight > 0.0 && !c.hits.is_empty())
    {
        let contributions = contributions(&channel.hits, fusion);
        for (hit, contribution) in channel.hits.into_iter().zip(contributions) {
            let score = channel.weight * contribution;
            let entry = if channel.per_document {
                documents
                    .entry(hit.doc_id().to_string())
                    .or_insert((0.0, hit))
            } else {
                chunks
                    .entry((hit.doc_id().to_string(), hit.chunk()))
                    .or_insert((0.0, hit))
            };
            entry.0 += score;
        }
    }
    let represented: HashSet<String> = chunks.keys().map(|(doc, _)| doc.clone()).collect();
    for (doc_id, (_, representative)) in &documents {
        if !represented.contains(doc_id) {
            chunks.insert(
                (doc_id.clone(), representative.chunk()),
                (0.0, representative.clone()),
            );
        }
    }
    let mut fused: Vec<T> = chunks
        .into_values()
        .map(|(score, mut hit)| {
            let document = documents.get(hit.doc_id()).map_or(0.0, |(s, _)| *s);
            hit.set_score(score + document);
            hit
        })
        .collect();
    // Ties (equal scores) broken by document and chunk, so equal inputs give equal outputs.
    fused.sort_by(|a, b| {
        b.score()
            .total_cmp(&a.score())
            .then_with(|| (a.doc_id(), a.chunk()).cmp(&(b.doc_id(), b.chunk())))
    });
    fused.truncate(k);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(doc: &str, chunk: u32, score: f32) -> Hit {
        Hit {
            score,
            path: doc.into(),
            doc_id: doc.into(),
            chunk,
            start_line: 1,
            end_line: 1,
            headings: Vec::new(),
            text: format!("{doc}#{chunk}"),
            pages: None,
        }
    }

    fn channel(hits: &[(&str, u32, f32)], weight: f32, per_document: bool) -> Channel {
        Channel {
            hits: hits.iter().map(|&(d, c, s)| hit(d, c, s)).collect(),
            weight,
            per_document,
        }
    }

    fn ranked(hits: &[Hit]) -> Vec<(String, f32)> {
        hits.iter()
            .map(|h| (format!("{}#{}", h.doc_id, h.chunk), h.score))
            .collect()
    }

    fn assert_ranked(got: Vec<Hit>, want: &[(&str, f32)]) {
        let got = ranked(&got);
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((name, score), (want_name, want_score)) in got.iter().zip(want) {
            assert_eq!(name, want_name, "{got:?}");
            assert!(
                (score - want_score).abs() < 1e-5,
                "{name}: {score} != {want_score}"
            );
        }
    }

    /// Dense: a#0 b#0 c#1; lexical: c#1 a#0 d#0.
    fn two_channels(lexical_weight: f32) -> Vec<Channel> {
        vec![
            channel(&[("a", 0, 0.9), ("b", 0, 0.8), ("c", 1, 0.7)], 1.0, false),
            channel(
                &[("c", 1, 5.0), ("a", 0, 3.0), ("d", 0, 1.0)],
                lexical_weight,
                false,
            ),
        ]
    }

    #[test]
    fn reciprocal_rank_fusion_matches_hand_computed_scores() {
        // a: 1/10 + 1/11, c: 1/12 + 1/10, b: 1/11, d: 1/12.
        assert_ranked(
            fuse(two_channels(1.0), Fusion::Rrf, 10),
            &[
                ("a#0", 0.190909),
                ("c#1", 0.183333),
                ("b#0", 0.090909),
                ("d#0", 0.083333),
            ],
        );
        // Lexical at half weight: a 1/10 + 0.5/11, c 1/12 + 0.5/10, b 1/11, d 0.5/12.
        assert_ranked(
            fuse(two_channels(0.5), Fusion::Rrf, 3),
            &[("a#0", 0.145455), ("c#1", 0.133333), ("b#0", 0.090909)],
        );
    }

    #[test]
    fn zscore_fusion_matches_hand_computed_scores() {
        // Dense scores 0.9 0.8 0.7: deviation sqrt(0.02/3) = 0.0816497, so above the weakest
        // 2.449490, 1.224745, 0. Lexical 5 3 1: deviation sqrt(8/3) = 1.632993 → 2.449490, 1.224745, 0.
        // a 2.449490 + 1.224745, c 0 + 2.449490, b 1.224745, d 0.
        assert_ranked(
            fuse(two_channels(1.0), Fusion::Zscore, 10),
            &[
                ("a#0", 3.674_24),
                ("c#1", 2.449_49),
                ("b#0", 1.224_75),
                ("d#0", 0.0),
            ],
        );
        // Lexical at weight 2: a 2.449490 + 2.449490, c 0 + 4.898979: a tie, broken by name.
        assert_ranked(
            fuse(two_channels(2.0), Fusion::Zscore, 2),
            &[("a#0", 4.898_98), ("c#1", 4.898_98)],
        );
    }

    /// A channel that found one chunk (an exact keyword only it holds) lifts it by one
    /// deviation: measured from itself it would add nothing.
    #[test]
    fn a_lone_candidate_counts_one_deviation() {
        let channels = vec![
            channel(&[("a", 0, 0.9), ("b", 0, 0.8), ("c", 1, 0.7)], 1.0, false),
            channel(&[("c", 1, 7.0)], 2.0, false),
        ];
        // a 2.449490, b 1.224745, c 0 + 2 × 1.
        assert_ranked(
            fuse(channels, Fusion::Zscore, 10),
            &[("a#0", 2.449_49), ("c#1", 2.0), ("b#0", 1.224_75)],
        );
    }

    #[test]
    fn a_document_channel_lifts_every_chunk_of_its_documents() {
        let channels = vec![
            channel(
                &[("a", 2, 0.9), ("b", 3, 0.8), ("d", 1, 0.75), ("b", 5, 0.7)],
                1.0,
                false,
            ),
            // Document b ranks first, then c (found by nothing else), then a.
            channel(&[("b", 0, 3.0), ("c", 0, 2.0), ("a", 0, 1.0)], 1.0, true),
        ];
        // RRF: b#3 1/11 + 1/10; a#2 1/10 + 1/12; b#5 1/13 + 1/10; c#0 (its representative) 1/11;
        // d#1 1/12 (its document is not in the document channel).
        assert_ranked(
            fuse(channels, Fusion::Rrf, 10),
            &[
                ("b#3", 0.190909),
                ("a#2", 0.183333),
                ("b#5", 0.176923),
                ("c#0", 0.090909),
                ("d#1", 0.083333),
            ],
        );
    }

    #[test]
    fn a_channel_without_weight_has_no_say() {
        let got = fuse(two_channels(0.0), Fusion::Zscore, 10);
        assert_eq!(
            ranked(&got).into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
            ["a#0", "b#0", "c#1"]
        );
    }

    #[test]
    fn fusion_names_parse_and_print() {
        for fusion in [Fusion::Zscore, Fusion::Rrf] {
            assert_eq!(fusion.to_string().parse::<Fusion>().unwrap(), fusion);
        }
        assert!("borda".parse::<Fusion>().is_err());
    }
}
