//! Bounds on what one client can make the server do: the size of a request body, how many
//! answers are generated at once, and for how long. Generation is CPU- (or GPU-) bound, so running
//! more answers at once only makes each slower; requests wait in a short queue instead, and when
//! the queue is full, or the wait too long, they are turned away with `503` and `Retry-After`
//! rather than left hanging. An answer that runs past its time is stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Largest JSON request body accepted (a question is at most a few KB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Seconds a turned-away client is told to wait.
const RETRY_AFTER_SECONDS: u32 = 5;

/// How many answers are generated at once, how many may wait, and for how long.
#[derive(Clone)]
pub struct GenerationSlots {
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    max_wait: Duration,
    /// How long one answer may take, from the moment it has a slot.
    pub answer_timeout: Duration,
}

/// A slot to generate in; held until the answer is done.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl GenerationSlots {
    /// `concurrent` answers at once (at least 1); `max_waiting` more queued, each for at most
    /// `max_wait`; each answer stopped after `answer_timeout`.
    pub fn new(
        concurrent: usize,
        max_waiting: usize,
        max_wait: Duration,
        answer_timeout: Duration,
    ) -> Self {
        GenerationSlots {
            running: Arc::new(Semaphore::new(concurrent.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            max_wait,
            answer_timeout,
        }
    }

    /// Waits for a slot; fails with 503 and `Retry-After` at once when the queue is full, or
    /// when no slot frees up within the longest wait.
    pub async fn acquire(&self) -> Result<Slot, ApiError> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let permit =
            tokio::time::timeout(self.max_wait, self.running.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match permit {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit }),
            _ => Err(busy()),
        }
    }
}

fn busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "docent is busy answering other questions and its queue is full; retry shortly",
    )
    .retry_after(RETRY_AFTER_SECONDS)
}
