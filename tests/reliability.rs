//! Reliability: `docent ingest` killed with SIGKILL at random points leaves a store that the next
//! ingest repairs to exactly match the folder.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

/// A folder of 45 documents: the sample corpus, five times over in subfolders.
fn folder(dir: &std::path::Path) -> std::path::PathBuf {
    let source = copy_corpus(dir);
    let target = dir.join("many");
    for copy in 0..5 {
        for entry in ["en", "zh"] {
            for file in std::fs::read_dir(source.join(entry)).unwrap() {
                let file = file.unwrap().path();
                let dest = target
                    .join(format!("copy{copy}"))
                    .join(entry)
                    .join(file.file_name().unwrap());
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(&file, dest).unwrap();
            }
        }
    }
    target
}

/// Appends a line naming `run` to every document of the folder but the PDFs (appending text
/// would break them; they stay as they are).
fn edit_every_file(dir: &std::path::Path, run: usize) {
    for path in walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "pdf"))
    {
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(format!("\n\nRevision {run}.\n").as_bytes());
        std::fs::write(&path, text).unwrap();
    }
}

/// A pseudo-random sequence from the clock (printed, so a failure can be replayed by reading it).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn ingest_killed_at_random_points_is_repaired_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let docs = folder(dir.path());

    // How long an uninterrupted ingest takes, to spread the kills over it.
    let started = Instant::now();
    let report = ingest(&dir.path().join("timing"), &docs);
    let full = started.elapsed();
    assert_eq!(report["added"], 45, "{report}");

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}; an uninterrupted ingest takes {full:?}");
    let mut random = Lcg(seed);
    let store = dir.path().join("store");
    let mut killed_while_running = 0;
    // Six kills mid-way are wanted. The timing run is only a guide (a loaded machine makes later
    // runs faster or slower than it), so kills fall in its first 60%, and a run that finished
    // before its kill is followed by another, up to twelve runs in all.
    let mut run = 0;
    while killed_while_running < 6 && run < 12 {
        // Every run has the whole folder to index again: each file gains a line, so no run
        // finds its predecessors' work already done.
        edit_every_file(&docs, run);
        let delay = Duration::from_millis(random.next(full.as_millis() as u64 * 6 / 10 + 1));
        let mut child = docent(&store)
            .arg("ingest")
            .arg(&docs)
            .arg("--json")
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL: no cleanup of any kind
        child.wait().unwrap();
        killed_while_running += usize::from(!finished);
        eprintln!(
            "run {run}: killed after {delay:?}{}",
            if finished {
                " (it had already finished)"
            } else {
                ""
            }
        );
        run += 1;
    }
    assert!(
        killed_while_running >= 5,
        "only {killed_while_running} runs were killed mid-way; the test proves little"
    );

    // The reference: the folder as it is now, ingested without interruption into a store of its own.
    let reference_store = dir.path().join("reference");
    ingest(&reference_store, &docs);
    let expected = documents(&reference_store);
    assert!(
        expected
            .iter()
            .all(|(_, points, complete)| *points > 0 && *complete)
    );

    let repaired = ingest(&store, &docs);
    assert_eq!(
        repaired["failed"].as_array().unwrap().len(),
        0,
        "{repaired}"
    );
    let after = documents(&store);
    assert_eq!(
        after, expected,
        "same documents, chunk counts and completeness as an uninterrupted ingest"
    );
    // Searching finds each document's text once: no duplicate points.
    let hits = search(&store, "nucleus sampling", 10);
    let mut seen = std::collections::HashSet::new();
    for hit in &hits {
        assert!(
            seen.insert((
                hit["path"].as_str().unwrap().to_string(),
                hit["chunk"].as_u64()
            )),
            "duplicate hit {hit}"
        );
    }
    // A further run has nothing to do.
    let again = ingest(&store, &docs);
    assert_eq!(again["unchanged"], 45, "{again}");
    assert_eq!(again["chunks_written"], 0, "{again}");
}
