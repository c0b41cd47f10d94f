//! A `docent serve` child process on a port the OS picks, over a fresh store of the corpus.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;

use super::{corpus, docent, ingest};

/// A store of the corpus, ingested once per test binary (under cargo's folder for test data);
/// each server gets a copy: ingesting with the real embedder for every server cost more than
/// some of the tests themselves.
fn corpus_store() -> &'static std::path::Path {
    static STORE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    STORE.get_or_init(|| {
        let store = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("corpus-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        ingest(&store, &corpus());
        store
    })
}

/// Copies a folder with everything in it, empty folders included.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

pub struct Server {
    child: Child,
    pub base: String,
    pub store: std::path::PathBuf,
    /// Everything the server wrote to stderr so far.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The server process's peak resident memory so far (VmHWM), in MB.
    pub fn peak_rss_mb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc/PID/status");
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb / 1024
    }

    /// Sends SIGTERM and waits for the process to exit, returning whether it exited cleanly;
    /// fails the test if it is still running after a minute.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "docent serve still runs a minute after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves a copy of the corpus store on a port the OS picks.
pub fn start() -> Server {
    start_with(&[])
}

/// [`start`] with more `serve` arguments, logging at debug level.
pub fn start_with(args: &[&str]) -> Server {
    start_over(corpus_store(), args)
}

/// [`start_with`] over a copy of another store.
pub fn start_over(source: &std::path::Path, args: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    copy_tree(source, &store);
    let mut child = docent(&store)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env("DOCENT_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .unwrap();
        if let Some(url) = line.strip_prefix("docent: serving on ") {
            break url.to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .for_each(|line| sink.lock().unwrap().push_str(&(line + "\n")))
    });
    Server {
        child,
        base,
        store,
        log,
        _dir: dir,
    }
}

pub fn client() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .unwrap()
}

/// `GET route`'s JSON body (no key).
pub fn get(server: &Server, route: &str) -> Value {
    client()
        .get(format!("{}{route}", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

pub fn post(server: &Server, route: &str, body: Value) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}{route}", server.base))
        .json(&body)
        .send()
        .unwrap();
    (response.status(), response.json().unwrap())
}
