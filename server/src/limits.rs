//! Bounds on what one client can make the server do: the size of a request body, how many
//! answers are generated (and searches run) at once, and for how long. Generation is CPU- (or GPU-) bound, so running
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

/// How many requests of one kind run at once, how many may wait, and for how long.
#[derive(Clone)]
pub struct Slots {
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    max_wait: Duration,
    /// What a turned-away client is told.
    busy: &'static str,
}

/// A slot to work in; held until the work is done.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    /// `concurrent` at once (at least 1); `max_waiting` more queued, each for at most
    /// `max_wait`; a client turned away is told `busy`.
    pub fn new(
        concurrent: usize,
        max_waiting: usize,
        max_wait: Duration,
        busy: &'static str,
    ) -> Self {
        Slots {
            running: Arc::new(Semaphore::new(concurrent.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            max_wait,
            busy,
        }
    }

    /// Slots for searches: a search is short and CPU-bound (embedding the query), so a few run
    /// at once, and a burst waits briefly rather than piling work (and compiled path globs) onto
    /// the blocking pool.
    pub fn searches(concurrent: usize) -> Self {
        Slots::new(
            concurrent,
            SEARCH_QUEUE,
            SEARCH_WAIT,
            "docent is busy with other searches and its queue is full; retry shortly",
        )
    }

    /// Waits for a slot; fails with 503 and `Retry-After` at once when the queue is full, or
    /// when no slot frees up within the longest wait.
    pub async fn acquire(&self) -> Result<Slot, ApiError> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(self.turned_away());
        }
        let permit =
            tokio::time::timeout(self.max_wait, self.running.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match permit {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit }),
            _ => Err(self.turned_away()),
        }
    }

    fn turned_away(&self) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, self.busy).retry_after(RETRY_AFTER_SECONDS)
    }
}

/// Searches that may wait for a slot: more than a server's worth of clients.
const SEARCH_QUEUE: usize = 64;

/// How long a search may wait for a slot.
const SEARCH_WAIT: Duration = Duration::from_secs(10);

/// How many answers are generated at once, how many may wait, and for how long.
#[derive(Clone)]
pub struct GenerationSlots {
    /// The slots answers wait for.
    pub slots: Slots,
    /// How long one answer may take, from the moment it has a slot.
    pub answer_timeout: Duration,
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
            slots: Slots::new(
                concurrent,
                max_waiting,
                max_wait,
                "docent is busy answering other questions and its queue is full; retry shortly",
            ),
            answer_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One slot and a queue of one: the second request waits its turn, the third is turned
    /// away at once with 503 and Retry-After, and a waiter gives up after the longest wait.
    #[tokio::test]
    async fn slots_bound_what_runs_and_what_waits() {
        let slots = Slots::searches(1);
        let slots = Slots {
            max_waiting: 1,
            max_wait: Duration::from_millis(300),
            ..slots
        };
        let first = slots.acquire().await.unwrap();
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire().await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Err(turned_away) = slots.acquire().await else {
            panic!("a third request got a slot");
        };
        assert_eq!(turned_away.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(turned_away.retry_after, Some(RETRY_AFTER_SECONDS));
        assert!(turned_away.message.contains("other searches"));
        drop(first);
        assert!(waiter.await.unwrap(), "the waiter got the freed slot");

        let held = slots.acquire().await.unwrap();
        let Err(late) = slots.acquire().await else {
            panic!("a request got a held slot");
        };
        assert_eq!(
            late.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "waited past max_wait"
        );
        drop(held);
    }
}
