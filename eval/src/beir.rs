//! A loader for evaluation sets in the BEIR layout: `corpus.jsonl` (`{"id","title","text"}`),
//! `queries.jsonl` (`{"id","text"}`) and `qrels.tsv` (`query-id<TAB>corpus-id<TAB>score`, with a
//! header), `qa.jsonl` (`{"id","question","answers"}`) for answer quality, and follow-up
//! files (`{"id","first","followup"}`) for conversations. Corpus records
//! become [`Source`]s named by their id, so they go through the same pipeline as files.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use docent_ingest::Format;
use docent_ingest::{Origin, Scope, Source};

#[derive(Deserialize)]
struct CorpusRecord {
    id: String,
    #[serde(default)]
    title: String,
    text: String,
}

/// A query of the set.
#[derive(Debug, Clone, Deserialize)]
pub struct Query {
    /// Its id in the qrels.
    pub id: String,
    /// Its text.
    pub text: String,
}

/// A question with its gold answers; its id is a query id of the qrels.
#[derive(Debug, Clone, Deserialize)]
pub struct QaItem {
    /// Its query id in the qrels.
    pub id: String,
    /// The question.
    pub question: String,
    /// Answers judged right.
    pub answers: Vec<String>,
}

/// A follow-up question and the question before it; its id is the query id of the full
/// question it stands for (whose judgments score it).
#[derive(Debug, Clone, Deserialize)]
pub struct FollowupItem {
    /// The full question's query id in the qrels.
    pub id: String,
    /// The question asked before it.
    pub first: String,
    /// The follow-up, which needs `first` to be understood.
    pub followup: String,
}

/// The follow-ups of a `{"id","first","followup"}`-a-line file.
pub fn load_followups(path: &Path) -> Result<Vec<FollowupItem>> {
    jsonl(path)
}

fn jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut records = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        records.push(
            serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a valid record", path.display(), n + 1))?,
        );
    }
    Ok(records)
}

/// The corpus as sources (a record's title becomes its top heading), and the scope they fill.
pub fn load_corpus(path: &Path) -> Result<(Vec<Source>, Scope)> {
    let canonical =
        std::fs::canonicalize(path).with_context(|| format!("cannot open {}", path.display()))?;
    let root = format!("beir:{}", canonical.display());
    let sources = jsonl::<CorpusRecord>(path)?
        .into_iter()
        .map(|r| {
            let (text, format) = if r.title.trim().is_empty() {
                (r.text, Format::Text)
            } else {
                (
                    format!("# {}\n\n{}", r.title.trim(), r.text),
                    Format::Markdown,
                )
            };
            Source {
                root: root.clone(),
                rel: r.id,
                origin: Origin::Memory {
                    bytes: text.into_bytes(),
                    format,
                },
            }
        })
        .collect();
    Ok((sources, Scope::Folder { root }))
}

/// The queries of `queries.jsonl`.
pub fn load_queries(path: &Path) -> Result<Vec<Query>> {
    jsonl(path)
}

/// The questions and gold answers of `qa.jsonl`.
pub fn load_qa(path: &Path) -> Result<Vec<QaItem>> {
    let items: Vec<QaItem> = jsonl(path)?;
    if let Some(item) = items.iter().find(|item| item.answers.is_empty()) {
        bail!(
            "{}: question {} has no gold answer",
            path.display(),
            item.id
        );
    }
    Ok(items)
}

/// Judgments per query id: corpus id → score.
pub fn load_qrels(path: &Path) -> Result<HashMap<String, HashMap<String, f64>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut qrels: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        if line.trim().is_empty()
            || (n == 0 && fields.get(2).is_some_and(|s| s.parse::<f64>().is_err()))
        {
            continue; // blank, or the header row
        }
        let [query, doc, score] = fields[..] else {
            bail!(
                "{}:{}: expected query-id, corpus-id and score separated by tabs",
                path.display(),
                n + 1
            );
        };
        let score: f64 = score
            .trim()
            .parse()
            .with_context(|| format!("{}:{}: bad score", path.display(), n + 1))?;
        qrels
            .entry(query.to_string())
            .or_default()
            .insert(doc.to_string(), score);
    }
    Ok(qrels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_beir_layout() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus.jsonl");
        std::fs::write(&corpus, "{\"id\":\"d1\",\"title\":\"Apt\",\"text\":\"apt installs\"}\n\n{\"id\":\"d2\",\"text\":\"no title\"}\n").unwrap();
        let (sources, scope) = load_corpus(&corpus).unwrap();
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].rel, "d1");
        assert_eq!(
            sources[0].origin,
            Origin::Memory {
                bytes: b"# Apt\n\napt installs".to_vec(),
                format: Format::Markdown
            }
        );
        assert_eq!(
            sources[1].origin,
            Origin::Memory {
                bytes: b"no title".to_vec(),
                format: Format::Text
            }
        );
        assert!(scope.covers(&sources[0].root, "anything"));

        let qrels = dir.path().join("qrels.tsv");
        std::fs::write(&qrels, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\n").unwrap();
        let judged = load_qrels(&qrels).unwrap();
        assert_eq!(judged["q1"]["d2"], 2.0);
        assert_eq!(judged["q1"].len(), 2);

        std::fs::write(&qrels, "q1 d1 1\n").unwrap();
        assert!(load_qrels(&qrels).unwrap_err().to_string().contains("tabs"));
    }
}
