//! How many turns, or activity attempts, one worker runs at once (`max_turns`, `max_activities`), as
//! slots taken *before* work is claimed: a worker leases only the work it holds a slot for, so that
//! the rest of a backlog stays free for the other workers sharing the database.
//!
//! It counts; it never claims or runs anything itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The slots of one kind of work in one worker.
#[derive(Debug)]
pub(crate) struct Slots {
    semaphore: Arc<Semaphore>,
    size: usize,
    /// Set when a claim found no free slot: the next slot given back wakes the claim loop (through
    /// `wake`), which would otherwise wait for its poll interval while work is due.
    starved: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

/// Slots taken; they are given back when this is dropped.
#[derive(Debug)]
pub(crate) struct Taken {
    permit: Option<OwnedSemaphorePermit>,
    starved: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl Slots {
    /// `size` slots (at least one); giving one back after a claim found none notifies `wake`.
    pub(crate) fn new(size: usize, wake: Arc<Notify>) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            semaphore: Arc::new(Semaphore::new(size)),
            size,
            starved: Arc::default(),
            wake,
        }
    }

    fn taken(&self, permit: OwnedSemaphorePermit) -> Taken {
        Taken {
            permit: Some(permit),
            starved: self.starved.clone(),
            wake: self.wake.clone(),
        }
    }

    /// As many free slots as there are, up to `most`; `None` when `most` is 0, or when every slot is
    /// taken (the claim loop is then woken when one is given back).
    pub(crate) fn take_up_to(&self, most: usize) -> Option<Taken> {
        if most == 0 {
            return None;
        }
        let free = self.semaphore.available_permits().min(most);
        let free = u32::try_from(free).unwrap_or(u32::MAX);
        let permit = (free > 0)
            .then(|| self.semaphore.clone().try_acquire_many_owned(free).ok())
            .flatten();
        if permit.is_none() {
            self.starved.store(true, Ordering::SeqCst);
        }
        permit.map(|p| self.taken(p))
    }

    /// One slot if one is free.
    pub(crate) fn try_take_one(&self) -> Option<Taken> {
        match self.semaphore.clone().try_acquire_owned() {
            Ok(permit) => Some(self.taken(permit)),
            Err(_) => {
                self.starved.store(true, Ordering::SeqCst);
                None
            }
        }
    }

    /// One slot, waiting for it; `None` once the slots are closed.
    pub(crate) async fn take_one(&self) -> Option<Taken> {
        let permit = self.semaphore.clone().acquire_owned().await.ok()?;
        Some(self.taken(permit))
    }

    /// Waits until every slot is free again (nothing runs any more), then gives them back.
    pub(crate) async fn all_free(&self) {
        let size = u32::try_from(self.size).unwrap_or(u32::MAX);
        let _ = self.semaphore.acquire_many(size).await;
    }
}

impl Taken {
    /// How many slots this holds.
    pub(crate) fn count(&self) -> usize {
        self.permit
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// One of these slots, taken out, or `None` when none is left.
    pub(crate) fn one(&mut self) -> Option<Taken> {
        let permit = self.permit.as_mut()?.split(1)?;
        Some(Taken {
            permit: Some(permit),
            starved: self.starved.clone(),
            wake: self.wake.clone(),
        })
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if self.permit.take().is_some_and(|p| p.num_permits() > 0)
            && self.starved.swap(false, Ordering::SeqCst)
        {
            self.wake.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_before_the_work_and_given_back_one_by_one() {
        let wake = Arc::new(Notify::new());
        let slots = Slots::new(3, wake.clone());
        assert!(
            slots.take_up_to(0).is_none(),
            "nothing asked, nothing taken"
        );
        let two = slots.take_up_to(2).expect("two of three free slots");
        assert_eq!(two.count(), 2);
        drop(two);
        let mut all = slots.take_up_to(5).expect("three free slots");
        assert_eq!(all.count(), 3);
        assert!(
            slots.take_up_to(1).is_none(),
            "nothing is free while they are held"
        );
        assert!(slots.try_take_one().is_none());
        let one = all.one().expect("one of three");
        assert_eq!((one.count(), all.count()), (1, 2));
        // Giving slots back after a claim found none wakes the claim loop.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        drop(all);
        assert!(
            futures_ready(notified.as_mut()),
            "the claim loop was not woken"
        );
        assert_eq!(slots.take_up_to(3).map(|t| t.count()), Some(2));
    }

    fn futures_ready(f: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>) -> bool {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        std::future::Future::poll(f, &mut cx).is_ready()
    }
}
