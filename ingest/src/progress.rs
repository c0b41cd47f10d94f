//! Progress of a long ingest: a bar on a terminal, plain periodic lines otherwise (logs, CI).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How an ingest shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else lines.
    Auto,
    /// A line per step (for logs).
    Lines,
    /// Nothing.
    Quiet,
}

pub(crate) enum Progress {
    Bar(ProgressBar),
    Lines {
        total: usize,
        done: usize,
        last: Instant,
    },
    Quiet,
}

const LINE_EVERY: Duration = Duration::from_secs(2);

impl Progress {
    pub(crate) fn new(mode: ProgressMode, total: usize) -> Self {
        match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => {
                let bar = ProgressBar::new(total as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} files ({eta}) {msg}",
                    )
                    .expect("the progress template is valid"),
                );
                Progress::Bar(bar)
            }
            ProgressMode::Auto | ProgressMode::Lines => Progress::Lines {
                total,
                done: 0,
                last: Instant::now(),
            },
            ProgressMode::Quiet => Progress::Quiet,
        }
    }

    /// `files` more files are done; `chunks` written so far.
    pub(crate) fn advance(&mut self, files: usize, chunks: usize) {
        match self {
            Progress::Bar(bar) => {
                bar.inc(files as u64);
                bar.set_message(format!("{chunks} chunks"));
            }
            Progress::Lines { total, done, last } => {
                *done += files;
                if last.elapsed() >= LINE_EVERY || *done == *total {
                    eprintln!("ingest: {done}/{total} files, {chunks} chunks written");
                    *last = Instant::now();
                }
            }
            Progress::Quiet => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
