//! PDF text, extracted in a child process with a memory and a CPU-time limit.
//!
//! A PDF's streams are compressed, and the parser inflates them without a cap: a 1 MB file can
//! ask for gigabytes (a "decompression bomb"), and a malformed one can spin. A child process is the
//! one bound that holds for every stream filter and every parser bug: the kernel stops it at
//! [`MEMORY_LIMIT`] bytes of address space or [`CPU_LIMIT`] of CPU time, and only that file fails.
//!
//! The child is this same executable: [`run_worker_if_asked`], called first thing in `main`, turns a
//! process started with [`WORKER_ENV`] into the worker (PDF bytes on stdin, text on stdout), and
//! otherwise records the executable as the one to start. A program that never calls it (a test of
//! this crate) extracts in its own process, where only panics are contained.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::load::LoadError;

/// Set in the environment of a worker child.
pub const WORKER_ENV: &str = "DOCENT_PDF_WORKER";

/// Address space a worker may map: generous for a book, far below what a bomb asks for.
pub const MEMORY_LIMIT: u64 = 2 << 30;

/// CPU seconds a worker may use on one file.
pub const CPU_LIMIT: u64 = 60;

/// Most text taken from one PDF (far more than any real document's text layer).
const MAX_TEXT_BYTES: u64 = 64 << 20;

/// The executable that extracts PDFs, once `main` has offered itself.
static WORKER: OnceLock<PathBuf> = OnceLock::new();

/// In a worker child (started with [`WORKER_ENV`]): extracts the PDF on stdin and exits. In any
/// other process: records this executable as the worker for later PDFs and returns.
pub fn run_worker_if_asked() {
    if std::env::var_os(WORKER_ENV).is_none() {
        if let Ok(exe) = std::env::current_exe() {
            let _ = WORKER.set(exe);
        }
        return;
    }
    // A parser panic is reported as this file's error, not printed.
    std::panic::set_hook(Box::new(|_| {}));
    let mut bytes = Vec::new();
    let code = match std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())
        .and_then(|_| extract_here(&bytes))
    {
        Ok(text) => match std::io::stdout().write_all(text.as_bytes()) {
            Ok(()) => 0,
            Err(_) => 3,
        },
        Err(message) => {
            eprint!("{message}");
            2
        }
    };
    std::process::exit(code);
}

/// The text layer of a PDF: in a worker child when `main` offered one, else in this process.
pub(crate) fn text(bytes: &[u8]) -> Result<String, LoadError> {
    match WORKER.get() {
        Some(exe) => in_child(exe, bytes),
        None => extract_here(bytes).map_err(LoadError::Parse),
    }
}

fn extract_here(bytes: &[u8]) -> Result<String, String> {
    // The PDF parser panics on some malformed files; one bad PDF must not end the ingest.
    match std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes)) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(format!("PDF: {e}")),
        Err(_) => Err("PDF: the parser crashed on this file".into()),
    }
}

fn in_child(exe: &PathBuf, bytes: &[u8]) -> Result<String, LoadError> {
    let failed = |what: &str| LoadError::Parse(format!("PDF: {what}"));
    let mut command = Command::new(exe);
    command
        .env(WORKER_ENV, "1")
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
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (text, message) = std::thread::scope(|scope| {
        // Written from a thread: the child may fill its stdout pipe before reading all of stdin.
        scope.spawn(move || {
            let _ = stdin.write_all(bytes);
        });
        let message = scope.spawn(move || {
            let mut message = String::new();
            let _ = (&mut stderr).take(4096).read_to_string(&mut message);
            message
        });
        let mut text = Vec::new();
        let _ = (&mut stdout).take(MAX_TEXT_BYTES).read_to_end(&mut text);
        drop(stdout);
        (text, message.join().unwrap_or_default())
    });
    let status = child
        .wait()
        .map_err(|e| failed(&format!("the extraction worker was lost: {e}")))?;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(String::from_utf8_lossy(&text).into_owned()),
        (Some(2), _) => Err(LoadError::Parse(message)),
        (Some(3), _) => Err(failed(&format!(
            "its text runs past {} MiB",
            MAX_TEXT_BYTES >> 20
        ))),
        (_, Some(libc::SIGXCPU | libc::SIGKILL)) => Err(failed(&format!(
            "extracting its text took more than {CPU_LIMIT} s of CPU (a malformed file?)"
        ))),
        // Rust aborts when an allocation fails, which is how the memory limit shows.
        (_, Some(libc::SIGABRT)) => Err(failed(&format!(
            "extracting its text needs more than {} GiB of memory (a compressed stream that inflates without end?)",
            MEMORY_LIMIT >> 30
        ))),
        _ => Err(failed(&format!("the extraction worker failed ({status})"))),
    }
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
