//! End-to-end test of `docent eval` on a small evaluation set in the BEIR layout, written here.

mod common;

use common::*;

const CORPUS: &[(&str, &str, &str)] = &[
    (
        "apt",
        "Installing packages",
        "Use apt install followed by the package name to install software from the Debian archive.",
    ),
    (
        "grub",
        "Boot loader",
        "GRUB is the boot loader: it starts the Linux kernel when the computer is switched on.",
    ),
    (
        "mirror",
        "Choosing a mirror",
        "A mirror is a server that holds a copy of the Debian archive; pick one close to you for speed.",
    ),
    (
        "release",
        "Release cycle",
        "Debian has three main branches: unstable, testing and stable, and a new stable release every two years.",
    ),
    (
        "bug",
        "Reporting bugs",
        "Bugs are reported with the reportbug tool, which sends an email to the Debian bug tracking system.",
    ),
    (
        "wifi",
        "Wireless networks",
        "Wireless cards often need non-free firmware packages before the network can be used.",
    ),
];

const QUERIES: &[(&str, &str, &str)] = &[
    ("q1", "How do I install a program?", "apt"),
    ("q2", "What starts the kernel at boot time?", "grub"),
    ("q3", "How do I report a problem in a package?", "bug"),
    (
        "q4",
        "How often is a new stable version released?",
        "release",
    ),
];

fn write_set(dir: &std::path::Path) {
    let corpus: String = CORPUS
        .iter()
        .map(|(id, title, text)| {
            serde_json::json!({"id": id, "title": title, "text": text}).to_string() + "\n"
        })
        .collect();
    std::fs::write(dir.join("corpus.jsonl"), corpus).unwrap();
    let mut queries: String = QUERIES
        .iter()
        .map(|(id, text, _)| serde_json::json!({"id": id, "text": text}).to_string() + "\n")
        .collect();
    // A query without judgments is not scored.
    queries.push_str("{\"id\": \"unjudged\", \"text\": \"What is a mirror?\"}\n");
    std::fs::write(dir.join("queries.jsonl"), queries).unwrap();
    let qrels: String = std::iter::once("query-id\tcorpus-id\tscore\n".to_string())
        .chain(QUERIES.iter().map(|(q, _, d)| format!("{q}\t{d}\t1\n")))
        .collect();
    std::fs::write(dir.join("qrels.tsv"), qrels).unwrap();
}

#[test]
fn eval_reports_retrieval_metrics_for_each_mode() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    write_set(&set);
    let store = dir.path().join("store");

    for mode in ["dense", "lexical", "hybrid"] {
        let report = run_json(
            docent(&store)
                .arg("eval")
                .arg(&set)
                .args(["--mode", mode, "--json"]),
        );
        for key in [
            "ndcg@10",
            "mrr@10",
            "recall@10",
            "recall@100",
            "queries",
            "latency_ms_p50",
            "latency_ms_p95",
        ] {
            assert!(report.get(key).is_some(), "{mode}: no {key} in {report}");
        }
        assert_eq!(report["queries"], 4, "{mode}: only judged queries count");
        // Six documents: everything is within the first ten and the first hundred.
        assert_eq!(report["recall@10"], 1.0, "{mode}: {report}");
        assert_eq!(report["recall@100"], 1.0, "{mode}: {report}");
        let ndcg = report["ndcg@10"].as_f64().unwrap();
        let mrr = report["mrr@10"].as_f64().unwrap();
        assert!(
            ndcg > 0.0 && ndcg <= 1.0 && mrr > 0.0 && mrr <= 1.0,
            "{mode}: {report}"
        );
        assert!(
            report["latency_ms_p50"].as_f64().unwrap()
                <= report["latency_ms_p95"].as_f64().unwrap()
        );
        if mode == "dense" {
            // The questions are unambiguous paraphrases: meaning finds each document first.
            assert_eq!(report["mrr@10"], 1.0, "{report}");
            assert_eq!(report["ndcg@10"], 1.0, "{report}");
        }
    }
}

#[test]
fn eval_refuses_a_store_holding_other_documents_and_bad_sets() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    write_set(&set);
    let store = dir.path().join("store");
    ingest(&store, &corpus());
    let output = docent(&store).arg("eval").arg(&set).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("skew the scores"));

    let output = docent(&dir.path().join("other"))
        .args(["eval", "/no/such/set"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot open"));
}

#[test]
fn eval_with_qa_scores_generated_answers() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    write_set(&set);
    let qa = [
        (
            "q1",
            "How do I install a program?",
            "Use apt install followed by the package name to install software.",
        ),
        (
            "q2",
            "What starts the kernel at boot time?",
            "GRUB, the boot loader, starts the Linux kernel.",
        ),
        // Judged, but nothing in the corpus answers it: docent declines, which scores 0.
        (
            "q3",
            "What is the boiling point of tungsten?",
            "About 5,930 degrees Celsius.",
        ),
    ];
    let lines: String = qa
        .iter()
        .map(|(id, q, a)| {
            serde_json::json!({"id": id, "context": "", "question": q, "answers": [a]}).to_string()
                + "\n"
        })
        .collect();
    std::fs::write(set.join("qa.jsonl"), lines).unwrap();
    let mut qrels = std::fs::read_to_string(set.join("qrels.tsv")).unwrap();
    qrels.push_str("q3\trelease\t1\n");
    std::fs::write(set.join("qrels.tsv"), qrels).unwrap();

    let report = run_json(
        docent(&dir.path().join("store"))
            .arg("eval")
            .arg(&set)
            .arg("--qa")
            .arg(set.join("qa.jsonl"))
            .args(["--max-tokens", "32", "--json"]),
    );
    assert!(
        report.get("ndcg@10").is_some(),
        "retrieval is still reported: {report}"
    );
    let qa = &report["qa"];
    assert_eq!(qa["questions"], 3, "{report}");
    assert_eq!(
        qa["answered"], 2,
        "the tungsten question is declined: {report}"
    );
    for key in ["token_f1", "containment", "cited_relevant"] {
        let value = qa[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value), "{key} = {value}");
    }
    // Answers drawn from "Use apt install …" and "GRUB … starts the Linux kernel" share words
    // with the gold answers.
    assert!(qa["token_f1"].as_f64().unwrap() > 0.0, "{report}");
    assert!(qa["seconds_p50"].as_f64().unwrap() <= qa["seconds_p95"].as_f64().unwrap());
    assert_eq!(qa["answer_mode"], "auto");
    let by = |key: &str| qa[key].as_u64().unwrap();
    assert_eq!(
        by("answered_by_generator") + by("answered_by_extract"),
        2,
        "{report}"
    );
    // auto shows only supported sentences: most of what it says is in what it cites.
    assert!(qa["faithfulness"].as_f64().unwrap() >= 0.7, "{report}");

    // extract quotes its sources: every content word is in what it cites. Each answer is
    // written out whole with --answers, to be read.
    let answers = dir.path().join("answers.jsonl");
    let report = run_json(
        docent(&dir.path().join("store"))
            .arg("eval")
            .arg(&set)
            .arg("--qa")
            .arg(set.join("qa.jsonl"))
            .args(["--answer-mode", "extract", "--json", "--answers"])
            .arg(&answers),
    );
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&answers)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        written
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["q1", "q2", "q3"]
    );
    assert_eq!(written[0]["question"], "How do I install a program?");
    assert_eq!(
        written[0]["gold"][0],
        "Use apt install followed by the package name to install software."
    );
    assert_eq!(written[0]["answer"]["answered_by"], "extract");
    assert!(
        written[0]["answer"]["answer"]
            .as_str()
            .unwrap()
            .contains("apt install"),
        "{}",
        written[0]
    );
    assert_eq!(written[2]["answer"]["grounded"], false);
    let qa = &report["qa"];
    assert_eq!(
        (
            qa["answer_mode"].as_str(),
            qa["answered_by_extract"].as_u64()
        ),
        (Some("extract"), Some(2)),
        "{report}"
    );
    assert_eq!(qa["faithfulness"].as_f64(), Some(1.0), "{report}");

    // A QA file whose ids the qrels do not judge is refused, naming the question.
    std::fs::write(
        set.join("bad.jsonl"),
        "{\"id\": \"nope\", \"question\": \"?\", \"answers\": [\"x\"]}\n",
    )
    .unwrap();
    let output = docent(&dir.path().join("store"))
        .arg("eval")
        .arg(&set)
        .arg("--qa")
        .arg(set.join("bad.jsonl"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nope"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
