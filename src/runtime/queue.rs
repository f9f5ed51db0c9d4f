//! The queue from the network threads to the dispatcher thread, bounded twice: by
//! events (its capacity) and by the bytes they hold, so a few large blocks or many
//! large requests cannot pile up in memory while the node is busy. A sender that finds
//! either bound reached waits (back-pressure on the peer whose input produced the
//! event) or, where it must not wait, hands the event to a task that does.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::node::NodeEvent;

/// Bytes that events waiting for the dispatcher may hold.
pub(crate) const EVENT_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// An event and the share of the byte budget it holds until the dispatcher is done.
pub(crate) struct Queued {
    event: NodeEvent,
    _bytes: Option<OwnedSemaphorePermit>,
}

impl Queued {
    pub fn into_parts(self) -> (NodeEvent, Option<OwnedSemaphorePermit>) {
        (self.event, self._bytes)
    }
}

#[derive(Clone)]
pub(crate) struct EventSender {
    tx: mpsc::Sender<Queued>,
    bytes: Arc<Semaphore>,
    budget: usize,
}

impl EventSender {
    pub fn channel(capacity: usize, budget: usize) -> (EventSender, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let sender = EventSender {
            tx,
            bytes: Arc::new(Semaphore::new(budget)),
            budget,
        };
        (sender, rx)
    }

    /// The event's share of the budget; one larger than the whole budget takes all of it.
    fn share(&self, event: &NodeEvent) -> u32 {
        u32::try_from(event.weight().min(self.budget)).unwrap_or(u32::MAX)
    }

    /// Queues an event, waiting for room in both bounds. It is tried at once, when
    /// called; only a wait is boxed and kept in the future. Waits are rare, and their
    /// state (over a kilobyte) would otherwise sit in every connection task's future,
    /// idle or not.
    pub fn send(&self, event: NodeEvent) -> impl Future<Output = ()> + Send + '_ {
        let wait = self
            .try_send(event)
            .map(|event| Box::pin(self.send_waiting(event)));
        async move {
            if let Some(wait) = wait {
                wait.await;
            }
        }
    }

    async fn send_waiting(&self, event: NodeEvent) {
        let share = self.share(&event);
        let Ok(permit) = self.bytes.clone().acquire_many_owned(share).await else {
            return;
        };
        let _ = self
            .tx
            .send(Queued {
                event,
                _bytes: Some(permit),
            })
            .await;
    }

    /// Queues an event if both bounds have room now; otherwise gives it back, unless
    /// the dispatcher is gone.
    pub fn try_send(&self, event: NodeEvent) -> Option<NodeEvent> {
        let share = self.share(&event);
        let Ok(permit) = self.bytes.clone().try_acquire_many_owned(share) else {
            return Some(event);
        };
        match self.tx.try_send(Queued {
            event,
            _bytes: Some(permit),
        }) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(q)) => Some(q.event),
            Err(mpsc::error::TrySendError::Closed(_)) => None,
        }
    }
}
