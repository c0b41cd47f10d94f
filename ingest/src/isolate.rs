//! The parsers that can be made to explode (PDF, HTML, the zipped formats, mail), run in a child
//! process with a memory,
//! a CPU-time and a wall-clock limit, and a cap on the text they return.
//!
//! A PDF's streams are compressed, and the parser inflates them without a cap: a 1 MB file can
//! ask for gigabytes (a "decompression bomb"), and a malformed one can spin. HTML's renderer does
//! work per cell, per nesting level and per line that no check of the input foresees in full. A
//! child process is the one bound that holds for every stream filter and every parser bug: the
//! kernel stops it at [`MEMORY_LIMIT`] bytes of address space or [`CPU_LIMIT`] of CPU time, the
//! parent kills it after [`WALL_LIMIT`] or when the ingest is cancelled, and reads no more text
//! than the caller allows; only that file fails.
//!
//! The child is this same executable: [`run_worker_if_asked`], called first thing in `main`, turns a
//! process started with [`WORKER_ENV`] into the worker (the file's bytes on stdin, its text on
//! stdout), and otherwise records the executable as the one to start. The child gets an empty
//! environment but for the dynamic loader's search path (a cuda build finds its CUDA libraries
//! through `LD_LIBRARY_PATH`, and without it the worker cannot start): nothing of the server's
//! (its API keys) is readable in `/proc/<child>/environ`. A
//! program that never calls it (a test of this crate) extracts in its own process, where only
//! panics are contained.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::load::{Format, LoadError};

/// Set in the environment of a worker child, to the format it reads (`pdf`, `html`, `docx`, …).
pub const WORKER_ENV: &str = "DOCENT_EXTRACT_WORKER";

/// Address space a worker may map: generous for a book, far below what a bomb asks for.
pub const MEMORY_LIMIT: u64 = 2 << 30;

/// CPU seconds a worker may use on one file.
pub const CPU_LIMIT: u64 = 60;

/// Wall-clock time a worker may take on one file (a worker that blocks uses no CPU).
pub const WALL_LIMIT: Duration = Duration::from_secs(90);

/// The name a worker is started with for `format` (its extension), and the format a name
/// stands for.
fn worker_name(format: Format) -> &'static str {
    format.kind().into()
}

fn named(name: &str) -> Option<Format> {
    Format::of(&PathBuf::from("file").with_extension(name)).filter(|f| f.is_isolated())
}

/// What `format`'s parser makes of `bytes`.
fn parse(format: Format, bytes: &[u8]) -> Result<String, LoadError> {
    match format {
        Format::Pdf => crate::pdf::pdf_text(bytes),
        Format::Html => crate::load::html_text(bytes),
        Format::Docx => crate::office::docx_text(bytes),
        Format::Pptx => crate::office::pptx_text(bytes),
        Format::Xlsx => crate::office::xlsx_text(bytes),
        Format::Odt => crate::office::odt_text(bytes),
        Format::Epub => crate::ebook::epub_text(bytes),
        Format::Eml => crate::mail::eml_text(bytes),
        other => Err(LoadError::Parse(format!(
            "{} is not read in a worker",
            other.label()
        ))),
    }
}

/// The executable that extracts, once `main` has offered itself.
static WORKER: OnceLock<PathBuf> = OnceLock::new();

/// In a worker child (started with [`WORKER_ENV`]): extracts the file on stdin and exits. In any
/// other process: records this executable as the worker for later files and returns.
pub fn run_worker_if_asked() {
    let Some(parser) = std::env::var_os(WORKER_ENV) else {
        if let Ok(exe) = std::env::current_exe() {
            let _ = WORKER.set(exe);
        }
        return;
    };
    // A parser panic is reported as this file's error, not printed.
    std::panic::set_hook(Box::new(|_| {}));
    let parser = parser.to_str().and_then(named);
    let mut bytes = Vec::new();
    let code = match std::io::stdin().read_to_end(&mut bytes) {
        Ok(_) => match parser.map(|p| contained(p, &bytes)) {
            Some(Ok(text)) => match std::io::stdout().write_all(text.as_bytes()) {
                Ok(()) => 0,
                Err(_) => 3,
            },
            Some(Err(message)) => {
                eprint!("{message}");
                2
            }
            None => 4,
        },
        Err(_) => 4,
    };
    std::process::exit(code);
}

/// A file's text by `parser`: in a worker child when `main` offered one, else in this process;
/// `cancel` being set before it is done is an error. A worker is stopped once its text runs
/// past `max_text` bytes, and what it wrote up to there (just over the bound) is returned for
/// the caller to refuse, as it refuses any text past its bound.
pub(crate) fn extract(
    parser: Format,
    bytes: &[u8],
    max_text: usize,
    cancel: Option<&AtomicBool>,
) -> Result<String, LoadError> {
    match WORKER.get() {
        Some(exe) => in_child(exe, parser, bytes, max_text, cancel),
        None => contained(parser, bytes).map_err(LoadError::Parse),
    }
}

/// Runs the parser here, a panic turned into this file's error.
fn contained(parser: Format, bytes: &[u8]) -> Result<String, String> {
    match std::panic::catch_unwind(|| parse(parser, bytes)) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "{}: the parser crashed on this file",
            parser.label()
        )),
    }
}

/// The variable the dynamic loader searches for libraries, the one the worker inherits.
const LIBRARY_PATH: &str = "LD_LIBRARY_PATH";

/// The worker's command: this executable, told which parser to run, with nothing else of this
/// process's environment but `library_path` (as `LD_LIBRARY_PATH`), where one was set.
fn worker_command(exe: &PathBuf, parser: Format, library_path: Option<OsString>) -> Command {
    let mut command = Command::new(exe);
    command.env_clear().env(WORKER_ENV, worker_name(parser));
    if let Some(path) = library_path {
        command.env(LIBRARY_PATH, path);
    }
    command
}

fn in_child(
    exe: &PathBuf,
    parser: Format,
    bytes: &[u8],
    max_text: usize,
    cancel: Option<&AtomicBool>,
) -> Result<String, LoadError> {
    let failed = |what: &str| LoadError::Parse(format!("{}: {what}", parser.label()));
    let mut command = worker_command(exe, parser, std::env::var_os(LIBRARY_PATH));
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec the closure only calls setrlimit, which is async-signal-safe,
    // and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            limit(libc::RLIMIT_AS, MEMORY_LIMIT, MEMORY_LIMIT)?;
            // SIGXCPU at the soft limit; the hard limit kills a process that ignores it.
            limit(libc::RLIMIT_CPU, CPU_LIMIT, CPU_LIMIT + 5)
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| failed(&format!("cannot start the extraction worker: {e}")))?;
    let pid = child.id() as libc::pid_t;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let (text, message, stopped) = std::thread::scope(|scope| {
        // Written from a thread: the child may fill its stdout pipe before reading all of stdin.
        scope.spawn(move || {
            let _ = stdin.write_all(bytes);
        });
        let message = scope.spawn(move || {
            let mut message = String::new();
            let _ = (&mut stderr).take(4096).read_to_string(&mut message);
            message
        });
        // Kills the child past its time, or when the ingest is cancelled; it is not reaped
        // before this watch ends, so the pid is still the child's.
        let watch = scope.spawn(move || watch_child(pid, &done, WALL_LIMIT, cancel));
        let mut text = Vec::new();
        let _ = (&mut stdout)
            .take(max_text as u64 + 1)
            .read_to_end(&mut text);
        if text.len() > max_text {
            // SAFETY: a plain system call on our own, unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        drop(stdout);
        drop(finished);
        let stopped = watch.join().unwrap_or(None);
        (text, message.join().unwrap_or_default(), stopped)
    });
    let status = child
        .wait()
        .map_err(|e| failed(&format!("the extraction worker was lost: {e}")))?;
    if text.len() > max_text {
        // Killed, or it could not write the rest: too long either way.
        return Ok(String::from_utf8_lossy(&text).into_owned());
    }
    match (stopped, status.code(), status.signal()) {
        (Some(Stop::Cancelled), _, _) => Err(LoadError::Cancelled),
        (Some(Stop::TimedOut), _, _) => Err(failed(&format!(
            "extracting its text took more than {} s",
            WALL_LIMIT.as_secs()
        ))),
        (_, Some(0), _) => Ok(String::from_utf8_lossy(&text).into_owned()),
        (_, Some(2), _) => Err(LoadError::Parse(message)),
        (_, _, Some(libc::SIGXCPU | libc::SIGKILL)) => Err(failed(&format!(
            "extracting its text took more than {CPU_LIMIT} s of CPU (a malformed file?)"
        ))),
        // Rust aborts when an allocation fails, which is how the memory limit shows.
        (_, _, Some(libc::SIGABRT)) => Err(failed(&format!(
            "extracting its text needs more than {} GiB of memory (a compressed stream that inflates without end?)",
            MEMORY_LIMIT >> 30
        ))),
        _ => Err(failed(&format!("the extraction worker failed ({status})"))),
    }
}

/// Why the watch killed a worker.
enum Stop {
    TimedOut,
    Cancelled,
}

/// Waits until the reader is `done` with the child `pid`, killing the child first if
/// `limit` passes or `cancel` is set.
fn watch_child(
    pid: libc::pid_t,
    done: &std::sync::mpsc::Receiver<()>,
    limit: Duration,
    cancel: Option<&AtomicBool>,
) -> Option<Stop> {
    let started = Instant::now();
    while let Err(RecvTimeoutError::Timeout) = done.recv_timeout(Duration::from_millis(20)) {
        let stop = if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            Some(Stop::Cancelled)
        } else if started.elapsed() > limit {
            Some(Stop::TimedOut)
        } else {
            None
        };
        if stop.is_some() {
            // SAFETY: a plain system call on our own, unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return stop;
        }
    }
    None
}

fn limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a plain system call with a valid pointer to a local.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worker sees the parser's name and the loader's path, and nothing else of ours.
    #[test]
    fn the_worker_inherits_only_the_library_path() {
        let exe = PathBuf::from("/bin/docent");
        let envs = |command: &Command| -> Vec<(String, Option<String>)> {
            let mut envs: Vec<_> = command
                .get_envs()
                .map(|(k, v)| {
                    let v = v.map(|v| v.to_string_lossy().into_owned());
                    (k.to_string_lossy().into_owned(), v)
                })
                .collect();
            envs.sort();
            envs
        };
        let with = worker_command(&exe, Format::Pdf, Some("/opt/cuda/lib".into()));
        assert_eq!(
            envs(&with),
            [
                (
                    WORKER_ENV.to_string(),
                    Some(worker_name(Format::Pdf).to_string())
                ),
                (LIBRARY_PATH.to_string(), Some("/opt/cuda/lib".to_string())),
            ]
        );
        let without = worker_command(&exe, Format::Pdf, None);
        assert_eq!(envs(&without).len(), 1);
    }

    /// A child that blocks (no CPU used, so no CPU limit fires) is killed at the wall-clock
    /// limit; one at work is killed as soon as the ingest is cancelled; one that finishes is
    /// left alone.
    #[test]
    fn the_watch_kills_a_stuck_or_cancelled_worker() {
        let watch = |limit: Duration, cancel: Option<&AtomicBool>| {
            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            let (_done, waiting) = std::sync::mpsc::channel::<()>();
            let stop = watch_child(child.id() as libc::pid_t, &waiting, limit, cancel);
            let status = child.wait().unwrap();
            (stop, status.signal())
        };
        let (stop, signal) = watch(Duration::from_millis(200), None);
        assert!(matches!(stop, Some(Stop::TimedOut)) && signal == Some(libc::SIGKILL));
        let cancel = AtomicBool::new(true);
        let (stop, signal) = watch(Duration::from_secs(60), Some(&cancel));
        assert!(matches!(stop, Some(Stop::Cancelled)) && signal == Some(libc::SIGKILL));

        let mut child = Command::new("true").spawn().unwrap();
        let (done, waiting) = std::sync::mpsc::channel::<()>();
        drop(done);
        let stop = watch_child(
            child.id() as libc::pid_t,
            &waiting,
            Duration::from_secs(60),
            None,
        );
        assert!(stop.is_none());
        assert!(child.wait().unwrap().success());
    }
}
