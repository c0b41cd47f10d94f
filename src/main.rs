//! The `docent` command: a thin layer that parses arguments, opens the store and models, and
//! hands off to `docent-ingest`, `docent-server` and the engine crates (`docent-core` and its
//! backends `docent-embed`, `docent-qdrant`, `docent-generate`; `docent-eval` for `eval`).

mod bench_embed;
mod bench_store;
mod cli;
mod config;
mod output;
mod setup;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A child started to extract one PDF under memory and CPU limits does only that.
    docent_ingest::isolate::run_worker_if_asked();
    let args = match config::parse() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("docent: error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOCENT_LOG")
                .unwrap_or_else(|_| "warn,qdrant_edge=error".into()),
        )
        .init();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("docent: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
