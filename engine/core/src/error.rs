//! The engine's errors, by who can fix them: the caller, or docent and its backends.

/// What went wrong in a search or an answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong (an empty question, k out of range); the message says what
    /// is allowed. Over HTTP, a 400.
    #[error("{0}")]
    InvalidInput(String),
    /// A backend (the embedder, the store, the generator) failed. Over HTTP, a 500.
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

/// A result of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
