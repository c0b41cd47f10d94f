//! 32 clients for 30 seconds against one server, mixing search, ask (a few tokens) and uploads:
//! no 5xx but the deliberate 503s, no crash, and the store holds exactly what was uploaded.
//! Prints throughput and p95 latency per kind of request (and keeps them in
//! target/test-artifacts/load.json).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::server::*;
use reqwest::StatusCode;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

const CLIENTS: usize = 32;
const DURATION: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, usize>,
    /// Latencies of successful requests, seconds.
    ok_seconds: Vec<f64>,
}

#[test]
fn thirty_two_clients_for_thirty_seconds() {
    let server = start_with(&["--queue", "8"]);
    let base = server.base.clone();
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let base = base.clone();
            std::thread::spawn(move || {
                let client = client();
                let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
                let mut uploaded = Vec::new();
                let mut n = 0;
                while started.elapsed() < DURATION {
                    n += 1;
                    // Mostly searches, some questions, a few uploads; clients start at different points.
                    let (kind, request) = match (id + n) % 10 {
                        0..=5 => ("search", client.post(format!("{base}/v1/search")).json(&json!({"query": "how are documents chunked", "k": 5}))),
                        6..=8 => ("ask", client.post(format!("{base}/v1/ask")).json(&json!({"question": "What is few-shot prompting?", "max_tokens": 8}))),
                        _ => {
                            let name = format!("load-{id}-{n}.md");
                            let text = format!("# Load note {id} {n}\n\nClient {id} wrote note {n} during the load test.\n");
                            uploaded.push(name.clone());
                            let form = Form::new().part("file", Part::bytes(text.into_bytes()).file_name(name));
                            ("upload", client.post(format!("{base}/v1/documents")).multipart(form))
                        }
                    };
                    let sent = Instant::now();
                    let status = match request.send() {
                        Ok(response) => response.status().as_u16(),
                        Err(err) => panic!("client {id}: {kind} failed without a response: {err}"),
                    };
                    let tally = tallies.entry(kind).or_default();
                    *tally.statuses.entry(status).or_default() += 1;
                    if status == 200 {
                        tally.ok_seconds.push(sent.elapsed().as_secs_f64());
                    } else if kind == "upload" {
                        uploaded.pop();
                    }
                }
                (tallies, uploaded)
            })
        })
        .collect();

    let mut totals: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut uploaded = Vec::new();
    for worker in workers {
        let (tallies, names) = worker.join().expect("a client thread panicked");
        uploaded.extend(names);
        for (kind, tally) in tallies {
            let total = totals.entry(kind).or_default();
            for (status, count) in tally.statuses {
                *total.statuses.entry(status).or_default() += count;
            }
            total.ok_seconds.extend(tally.ok_seconds);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();

    let mut report = serde_json::Map::new();
    for (kind, tally) in &mut totals {
        let ok = tally.ok_seconds.len();
        let line = json!({
            "statuses": tally.statuses,
            "ok_per_second": ok as f64 / elapsed,
            "p95_seconds": docent_eval::metrics::percentile(&tally.ok_seconds, 95.0).unwrap_or(0.0),
        });
        eprintln!("{kind}: {line}");
        report.insert(kind.to_string(), line);
        for status in tally.statuses.keys() {
            assert!(
                *status < 500 || *status == 503,
                "{kind} answered {status}: {:?}",
                tally.statuses
            );
            assert!(
                *status == 200 || *status == 503,
                "{kind} answered {status}: {:?}",
                tally.statuses
            );
        }
        assert!(ok > 0, "no {kind} succeeded: {:?}", tally.statuses);
    }
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(
        artifacts.join("load.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();

    // Still alive, and the store holds the corpus plus exactly the uploads that succeeded.
    let health: Value = client()
        .get(format!("{base}/healthz"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    let listed: Value = client()
        .get(format!("{base}/v1/documents"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let documents = listed["documents"].as_array().unwrap();
    assert!(
        documents.iter().all(|d| d["complete"] == true),
        "an incomplete document after the load"
    );
    let mut stored: Vec<String> = documents
        .iter()
        .filter(|d| d["root"] == "upload:")
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    stored.sort();
    uploaded.sort();
    assert_eq!(stored, uploaded);
    assert_eq!(documents.len(), 9 + uploaded.len());
    let (status, _) = post(
        &server,
        "/v1/search",
        json!({"query": "note written during the load test", "k": 3}),
    );
    assert_eq!(status, StatusCode::OK);
}
