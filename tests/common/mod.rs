//! Helpers shared by the end-to-end tests: they run the real `docent` binary with the real models
//! (fetched by `make models`) on a store in a temporary folder.

#![allow(dead_code)] // each test file uses its own subset

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn docent(store: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_docent"));
    command
        .arg("--store")
        .arg(store)
        .env_remove("DOCENT_QDRANT_URL")
        .env("DOCENT_LOG", "error");
    command
}

/// `docent` over collection `collection` of the Qdrant server or cluster at `urls` (gRPC URLs,
/// comma-separated for a cluster's nodes).
pub fn docent_on_qdrant(urls: &str, collection: &str) -> Command {
    let mut command = docent(Path::new("/nonexistent-store"));
    command.args(["--qdrant-url", urls, "--collection", collection]);
    command
}

/// Runs the Python script `tests/SCRIPT` with `args` and `env`, its packages from
/// `.docent/PACKAGES` (installed there by `make test`; a test fails saying so when `module` is
/// missing): its stdout, or its stderr when it failed.
pub fn python(
    packages: &str,
    module: &str,
    script: &str,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> Result<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let packages = root.join(".docent").join(packages);
    assert!(
        packages.join(module).exists(),
        "{module} is missing from {}: run `make test`, which installs it",
        packages.display()
    );
    let output = Command::new("python3")
        .arg(root.join("tests").join(script))
        .args(args)
        .env("PYTHONPATH", &packages)
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// [`python`]'s JSON output, failing the test with its stderr when it failed.
pub fn python_json(packages: &str, module: &str, script: &str, args: &[&std::ffi::OsStr]) -> Value {
    let out = python(packages, module, script, args, &[])
        .unwrap_or_else(|err| panic!("tests/{script} failed:\n{err}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("tests/{script}: not JSON ({e}): {out}"))
}

pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Runs and returns stdout, failing the test with stderr when the command fails.
pub fn run(command: &mut Command) -> String {
    let output: Output = command.output().expect("the docent binary runs");
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("docent prints UTF-8")
}

pub fn run_json(command: &mut Command) -> Value {
    let stdout = run(command);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

pub fn ingest(store: &Path, path: &Path) -> Value {
    run_json(docent(store).arg("ingest").arg(path).arg("--json"))
}

/// A folder `notes` under `dir` holding one note, `tea.md`, for the tests that watch a folder.
pub fn notes_folder(dir: &Path) -> PathBuf {
    let folder = dir.join("notes");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("tea.md"),
        "# Tea\n\nGreen tea is brewed at 80 degrees.\n",
    )
    .unwrap();
    folder
}

/// Copies the sample corpus, so a test may edit and delete files.
pub fn copy_corpus(into: &Path) -> PathBuf {
    let target = into.join("corpus");
    for entry in walk(&corpus()) {
        let rel = entry.strip_prefix(corpus()).unwrap();
        let dest = target.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, dest).unwrap();
    }
    target
}

/// Every file under `dir`, at any depth.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path))
        } else {
            files.push(path)
        }
    }
    files
}

pub fn search(store: &Path, query: &str, k: usize) -> Vec<Value> {
    let out = run_json(docent(store).args(["search", query, "-k", &k.to_string(), "--json"]));
    out["hits"].as_array().expect("hits is an array").clone()
}

/// (path, chunk count) of every document in the store, sorted.
pub fn documents(store: &Path) -> Vec<(String, u64, bool)> {
    let out = run_json(docent(store).args(["documents", "--json"]));
    let mut docs: Vec<(String, u64, bool)> = out["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_string(),
                d["points"].as_u64().unwrap(),
                d["complete"].as_bool().unwrap(),
            )
        })
        .collect();
    docs.sort();
    docs
}

/// The seconds a test gives the generator to plan a search: what such a test checks is the plan,
/// and the tests run side by side on two cores, where the default 4 s is sometimes not enough.
pub const PLAN_SECONDS: &str = "60";

/// The sentences an answer shows (`"kept": true`), as `--json` and the API give them.
pub fn kept_sentences(answer: &Value) -> Vec<&Value> {
    answer["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kept"] == true)
        .collect()
}

/// How many Han characters `text` holds: a Chinese answer has many, an English one none.
pub fn han_characters(text: &str) -> usize {
    text.chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count()
}

/// Checks an answer's citations point at the sources (evidence) it returned, with matching
/// paths and lines, and that every source lies inside a returned hit.
pub fn assert_citations_are_sources(answer: &Value) {
    let sources = answer["sources"].as_array().unwrap();
    let hits = answer["hits"].as_array().unwrap();
    for citation in answer["citations"].as_array().unwrap() {
        let n = citation["n"].as_u64().unwrap() as usize;
        assert!(
            (1..=sources.len()).contains(&n),
            "citation [{n}] with {} sources",
            sources.len()
        );
        let source = &sources[n - 1];
        assert_eq!(citation["path"], source["path"]);
        assert_eq!(citation["start_line"], source["start_line"]);
        assert_eq!(citation["end_line"], source["end_line"]);
    }
    for source in sources {
        let inside = hits.iter().any(|hit| {
            hit["path"] == source["path"]
                && hit["start_line"].as_u64() <= source["start_line"].as_u64()
                && source["end_line"].as_u64() <= hit["end_line"].as_u64()
        });
        assert!(inside, "source {source} lies in no hit");
    }
    // Any [n] left in the text refers to a returned source as well.
    let text = answer["answer"].as_str().unwrap();
    for marker in text.split('[').skip(1).filter_map(|s| s.split(']').next()) {
        for n in marker
            .split(',')
            .filter_map(|n| n.trim().parse::<usize>().ok())
        {
            assert!(
                (1..=sources.len()).contains(&n),
                "answer cites [{n}] but has {} sources: {text}",
                sources.len()
            );
        }
    }
}
