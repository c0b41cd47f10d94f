//! `docent serve --watch DIR`: the store follows folders while the server runs. The watch runs
//! on a thread of its own and takes the ingest turn for each sync, as an upload does, so it
//! never writes alongside `POST /v1/ingest` or an upload; it stops at shutdown.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use docent_ingest::{IngestOptions, ProgressMode, WatchOptions};

use crate::AppState;

/// Starts watching `paths` for `state`'s store (after a first sync of them); the thread ends
/// once the server is stopping.
pub(crate) fn spawn(
    state: &AppState,
    paths: Vec<PathBuf>,
    options: WatchOptions,
) -> std::thread::JoinHandle<()> {
    let state = state.clone();
    std::thread::spawn(move || {
        let stopping = state.stopping.clone();
        let ingest = IngestOptions {
            progress: ProgressMode::Quiet,
            cancel: Some(stopping.clone()),
            ..Default::default()
        };
        let watched = docent_ingest::watch(&paths, &options, Some(&stopping), || {
            let _turn = state.ingesting.blocking_lock();
            let engine = &state.engine;
            match docent_ingest::ingest(
                &paths,
                engine.embedder().as_ref(),
                engine.store().as_ref(),
                &ingest,
            ) {
                Ok(report) if report.changed_store() => eprintln!(
                    "docent: watch: {} added, {} updated, {} removed, {} failed ({} chunks in {:.1} s)",
                    report.added,
                    report.updated,
                    report.removed,
                    report.failed.len(),
                    report.chunks_written,
                    report.seconds
                ),
                Ok(_) => {}
                // A failed sync (a full disk, say) is retried at the next change.
                Err(err) => eprintln!("docent: watch: the sync failed: {err:#}"),
            }
            if stopping.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if let Err(err) = watched {
            eprintln!("docent: watch: stopped: {err:#}");
        }
    })
}
