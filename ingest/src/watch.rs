//! Live folders: the store follows the paths it was ingested from while they change.
//!
//! [`watch`] calls its `sync` once at once, then again each time files under the paths change
//! and have been quiet for the debounce time (notify, with notify-debouncer-full merging the
//! events of one save or one `git checkout`). The caller's `sync` is the ordinary incremental
//! ingest of the same paths, so the store always ends as a fresh ingest would leave it: new and
//! edited files (re)indexed, a renamed file moved, a deleted one removed — nothing is decided
//! from the events themselves, which only say *when* to look. (The price: each sync walks the
//! paths and `stat`s every file; a file is read only when its size or times changed.)

use std::ops::ControlFlow;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

/// How often the watch looks at its cancel flag while nothing changes.
const POLL: Duration = Duration::from_millis(200);

/// What a watch follows.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long files must be quiet before a sync: one save (or a checkout of many files)
    /// makes one sync.
    pub debounce: Duration,
    /// Changes under these paths are not the documents' (the store's own folder, when it lies
    /// inside a watched one: its writes would otherwise wake the watch forever).
    pub ignore: Vec<PathBuf>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(500),
            ignore: Vec::new(),
        }
    }
}

/// Calls `sync` now and after every quiet spell following a change under `paths`, until `sync`
/// returns `Break` or `cancel` is set. A folder is watched with everything in it; a single file
/// through its folder (editors save by writing a new file and renaming it over the old one).
/// Changes to hidden files and folders, which ingest never reads, do not wake it.
pub fn watch(
    paths: &[PathBuf],
    options: &WatchOptions,
    cancel: Option<&AtomicBool>,
    mut sync: impl FnMut() -> ControlFlow<()>,
) -> Result<()> {
    let targets = paths
        .iter()
        .map(|p| {
            let path = std::fs::canonicalize(p)
                .with_context(|| format!("cannot watch {}", p.display()))?;
            Ok(if path.is_dir() {
                Target::Folder(path)
            } else {
                Target::File(path)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ignore: Vec<PathBuf> = options
        .ignore
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let (sender, events) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(options.debounce, None, sender)?;
    for target in &targets {
        let (path, mode) = match target {
            Target::Folder(folder) => (folder.as_path(), RecursiveMode::Recursive),
            Target::File(file) => (
                file.parent().context("a file to watch has a folder")?,
                RecursiveMode::NonRecursive,
            ),
        };
        debouncer
            .watch(path, mode)
            .with_context(|| format!("cannot watch {}", path.display()))?;
    }
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    if sync().is_break() {
        return Ok(());
    }
    while !cancelled() {
        let changed = match events.recv_timeout(POLL) {
            // Reads are not changes: a sync's own reads would otherwise wake the next one.
            Ok(Ok(events)) => events
                .iter()
                .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                .flat_map(|e| &e.paths)
                .any(|p| is_document_change(p, &targets, &ignore)),
            // The watcher lost track (an overflowing event queue, a watched folder removed):
            // a sync finds whatever happened.
            Ok(Err(errors)) => {
                for error in errors {
                    tracing::warn!("watching: {error}");
                }
                true
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the file watcher stopped"),
        };
        if changed && sync().is_break() {
            break;
        }
    }
    Ok(())
}

/// A path named to watch, canonical.
enum Target {
    /// A folder, with everything in it.
    Folder(PathBuf),
    /// One file.
    File(PathBuf),
}

/// Whether a change to `path` may change what an ingest of `targets` finds.
fn is_document_change(path: &Path, targets: &[Target], ignore: &[PathBuf]) -> bool {
    if ignore.iter().any(|i| path.starts_with(i)) {
        return false;
    }
    targets.iter().any(|target| match target {
        Target::Folder(folder) => path.strip_prefix(folder).is_ok_and(|rel| !is_hidden(rel)),
        Target::File(file) => path == file,
    })
}

/// Whether a relative path passes through a hidden file or folder.
fn is_hidden(rel: &Path) -> bool {
    rel.components().any(|c| match c {
        Component::Normal(name) => name.to_string_lossy().starts_with('.'),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use docent_core::VectorStore;
    use docent_core::testing::{MemoryStore, WordEmbedder};

    use super::*;
    use crate::pipeline::{IngestOptions, ingest};
    use crate::progress::ProgressMode;

    fn quiet() -> IngestOptions {
        IngestOptions {
            progress: ProgressMode::Quiet,
            ..Default::default()
        }
    }

    /// (path, content hash) of every document: what two stores must agree on.
    fn holdings(store: &MemoryStore) -> Vec<(String, String, bool)> {
        store
            .documents()
            .unwrap()
            .into_iter()
            .map(|d| (d.path, d.content_hash, d.complete))
            .collect()
    }

    /// Real edits under a watched folder — a new file, an edit, a rename, a deletion, a hidden
    /// file — each leave the store as a fresh ingest of the folder would.
    #[test]
    fn a_watched_folder_stays_as_a_fresh_ingest_would_leave_it() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("docs");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(
            folder.join("tea.md"),
            "# Tea\n\nGreen tea is brewed at 80 degrees.\n",
        )
        .unwrap();
        let store = Arc::new(MemoryStore::default());
        let embedder = Arc::new(WordEmbedder::default());
        let syncs = Arc::new(Mutex::new(0usize));
        let cancel = Arc::new(AtomicBool::new(false));
        let options = WatchOptions {
            debounce: Duration::from_millis(100),
            ignore: Vec::new(),
        };
        let watcher = {
            let (store, embedder, syncs, cancel) = (
                store.clone(),
                embedder.clone(),
                syncs.clone(),
                cancel.clone(),
            );
            let paths = vec![folder.clone()];
            std::thread::spawn(move || {
                watch(&paths, &options, Some(&cancel), || {
                    ingest(&paths, embedder.as_ref(), store.as_ref(), &quiet()).unwrap();
                    *syncs.lock().unwrap() += 1;
                    ControlFlow::Continue(())
                })
                .unwrap()
            })
        };
        // Each step: change the folder, wait for the store to agree with a fresh ingest.
        let agree = |what: &str| {
            let fresh = MemoryStore::default();
            ingest(
                std::slice::from_ref(&folder),
                embedder.as_ref(),
                &fresh,
                &quiet(),
            )
            .unwrap();
            let started = Instant::now();
            while holdings(&store) != holdings(&fresh) {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "{what}: the watched store {:?} never matched a fresh ingest {:?}",
                    holdings(&store),
                    holdings(&fresh)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            holdings(&fresh)
        };
        assert_eq!(agree("start").len(), 1);
        std::fs::write(
            folder.join("kettle.md"),
            "# Kettles\n\nA kettle boils water.\n",
        )
        .unwrap();
        assert_eq!(agree("a new file").len(), 2);
        std::fs::write(
            folder.join("tea.md"),
            "# Tea\n\nBlack tea wants boiling water.\n",
        )
        .unwrap();
        agree("an edit");
        std::fs::create_dir(folder.join("sub")).unwrap();
        std::fs::rename(folder.join("kettle.md"), folder.join("sub/kettle.md")).unwrap();
        let moved = agree("a rename into a new folder");
        assert!(
            moved.iter().any(|(p, _, _)| p == "sub/kettle.md"),
            "{moved:?}"
        );
        std::fs::remove_file(folder.join("tea.md")).unwrap();
        assert_eq!(agree("a deletion").len(), 1);

        // A hidden file is not a document: it wakes no sync. The store agreeing does not mean
        // the deletion's last events were synced (a loaded machine delivers them late): wait for
        // the syncs to settle first.
        let mut before = *syncs.lock().unwrap();
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = *syncs.lock().unwrap();
            if now == before {
                break;
            }
            before = now;
        }
        std::fs::write(folder.join(".notes.md"), "# Hidden\n").unwrap();
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(
            *syncs.lock().unwrap(),
            before,
            "a hidden file woke the watch"
        );

        cancel.store(true, Ordering::Relaxed);
        watcher.join().unwrap();
    }

    #[test]
    fn changes_outside_the_documents_are_not_theirs() {
        let root = PathBuf::from("/data/docs");
        let file = PathBuf::from("/data/notes/todo.md");
        let targets = [Target::Folder(root.clone()), Target::File(file.clone())];
        let store = [PathBuf::from("/data/docs/store")];
        assert!(is_document_change(&root.join("a/b.md"), &targets, &store));
        assert!(!is_document_change(
            &root.join(".git/index"),
            &targets,
            &store
        ));
        assert!(!is_document_change(
            &root.join("store/wal"),
            &targets,
            &store
        ));
        assert!(is_document_change(&file, &targets, &store));
        assert!(!is_document_change(
            Path::new("/data/notes/other.md"),
            &targets,
            &store
        ));
    }
}
