//! Bounds on what one client can make the server do: the size of a request body, and how many
//! answers are generated at once. Generation is CPU- (or GPU-) bound, so running more answers at
//! once only makes each slower; requests wait in a short queue instead, and when the queue is
//! full they are turned away at once with `503` and `Retry-After` rather than left hanging.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Largest JSON request body accepted (a question is at most a few KB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Seconds a turned-away client is told to wait.
const RETRY_AFTER_SECONDS: u32 = 5;

#[derive(Clone)]
pub struct GenerationSlots {
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// A slot to generate in; held until the answer is done.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl GenerationSlots {
    /// `concurrent` answers at once (at least 1), `max_waiting` more queued.
    pub fn new(concurrent: usize, max_waiting: usize) -> Self {
        GenerationSlots { running: Arc::new(Semaphore::new(concurrent.max(1))), waiting: Arc::new(AtomicUsize::new(0)), max_waiting }
    }

    /// Waits for a slot, or fails at once with 503 and `Retry-After` when the queue is full.
    pub async fn acquire(&self) -> Result<Slot, ApiError> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let permit = self.running.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit.map(|permit| Slot { _permit: permit }).map_err(|_| busy())
    }
}

fn busy() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "docent is busy answering other questions and its queue is full; retry shortly")
        .retry_after(RETRY_AFTER_SECONDS)
}
