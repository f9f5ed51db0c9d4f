//! The receive budget: bytes all peers together may hold in unfinished large messages.
//!
//! A reservation is taken whole or not at all, and whoever fits first gets it: a peer
//! waiting for a large share does not hold up a smaller message that fits now (a fair
//! semaphore would queue it behind the waiting peer).

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

pub(crate) struct ReceiveBudget {
    available: Mutex<usize>,
    released: Notify,
}

/// A share of the budget, returned when dropped.
pub(crate) struct Reservation {
    budget: Arc<ReceiveBudget>,
    bytes: usize,
}

impl ReceiveBudget {
    pub fn new(bytes: usize) -> Arc<Self> {
        Arc::new(ReceiveBudget {
            available: Mutex::new(bytes),
            released: Notify::new(),
        })
    }

    /// Waits until `bytes` fit, then takes them.
    pub async fn reserve(self: &Arc<Self>, bytes: usize) -> Reservation {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before the check, so a release in between is not missed.
            released.as_mut().enable();
            if let Some(reservation) = self.try_reserve(bytes) {
                return reservation;
            }
            released.await;
        }
    }

    /// Takes `bytes` if they fit now.
    pub fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let mut available = self.available.lock();
        if *available < bytes {
            return None;
        }
        *available -= bytes;
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    #[cfg(test)]
    pub fn available(&self) -> usize {
        *self.available.lock()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        *self.budget.available.lock() += self.bytes;
        self.budget.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_share_that_fits_is_not_held_behind_one_that_waits() {
        let budget = ReceiveBudget::new(100);
        let held = budget.reserve(60).await;
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(60).await.bytes }
        });
        tokio::task::yield_now().await;
        // 40 are free: a 30-byte share is granted although a 60-byte one waits.
        let small = budget.try_reserve(30).expect("fits");
        assert!(!waiting.is_finished());
        drop(held);
        assert_eq!(waiting.await.unwrap(), 60);
        drop(small);
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test]
    async fn a_waiting_share_is_granted_when_enough_is_released() {
        let budget = ReceiveBudget::new(10);
        let first = budget.reserve(6).await;
        let second = budget.reserve(4).await;
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(8).await.bytes }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "6 free, 8 wanted");
        drop(second);
        assert_eq!(waiter.await.unwrap(), 8);
    }
}
