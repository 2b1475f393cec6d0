//! The send queue of a session: bounded, many producers, one consumer at a time.
//!
//! A `VecDeque` under a lock, a [`Notify`] for the consumer, and a lock that says which
//! transport consumes (a long-poll `GET`, or the WebSocket once upgraded). An empty queue
//! holds no allocation: an idle connection pays about a hundred bytes for its queue, where a
//! tokio channel costs close to 2 KB (its first block of slots is allocated up front).

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// Capacity kept when the queue empties; a larger buffer is released.
const KEEP: usize = 64;

/// A bounded queue with one consumer at a time.
#[derive(Debug)]
pub(crate) struct SendQueue<T> {
    items: Mutex<VecDeque<T>>,
    cap: usize,
    ready: Notify,
    /// Held by the transport that consumes (see [`SendQueue::consumer`]).
    consumer: tokio::sync::Mutex<()>,
}

/// The queue is full.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full<T>(pub(crate) T);

impl<T> SendQueue<T> {
    pub(crate) fn new(cap: usize) -> Self {
        SendQueue {
            items: Mutex::new(VecDeque::new()),
            cap: cap.max(1),
            ready: Notify::new(),
            consumer: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `item`, or gives it back when the queue holds `cap` items.
    pub(crate) fn try_send(&self, item: T) -> Result<(), Full<T>> {
        {
            let mut q = self.lock();
            if q.len() >= self.cap {
                return Err(Full(item));
            }
            q.push_back(item);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// How many more items fit.
    pub(crate) fn capacity(&self) -> usize {
        self.cap.saturating_sub(self.lock().len())
    }

    /// The oldest item, if any.
    pub(crate) fn try_recv(&self) -> Option<T> {
        let mut q = self.lock();
        let item = q.pop_front();
        if q.is_empty() && q.capacity() > KEEP {
            *q = VecDeque::new();
        }
        item
    }

    /// Waits for the oldest item. Cancel-safe. Only the holder of [`SendQueue::consumer`]
    /// may wait.
    pub(crate) async fn recv(&self) -> T {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(item) = self.try_recv() {
                return item;
            }
            notified.await;
        }
    }

    /// The consumer's lock: a transport holds it while it takes items.
    pub(crate) fn consumer(&self) -> &tokio::sync::Mutex<()> {
        &self.consumer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn bounded_fifo() {
        let q = SendQueue::new(2);
        assert_eq!(q.try_send(1), Ok(()));
        assert_eq!(q.try_send(2), Ok(()));
        assert_eq!(q.try_send(3), Err(Full(3)));
        assert_eq!(q.capacity(), 0);
        assert_eq!(q.try_recv(), Some(1));
        assert_eq!(q.capacity(), 1);
        assert_eq!(q.try_recv(), Some(2));
        assert_eq!(q.try_recv(), None);
    }

    #[test]
    fn an_emptied_queue_lets_go_of_a_large_buffer() {
        let q = SendQueue::new(1000);
        for i in 0..500 {
            q.try_send(i).unwrap();
        }
        while q.try_recv().is_some() {}
        assert_eq!(q.lock().capacity(), 0);
    }

    #[tokio::test]
    async fn recv_waits_for_a_send_from_another_task() {
        let q = Arc::new(SendQueue::new(4));
        let q2 = q.clone();
        let consumer = tokio::spawn(async move {
            let _c = q2.consumer().lock().await;
            (q2.recv().await, q2.recv().await)
        });
        tokio::task::yield_now().await;
        q.try_send("a").unwrap();
        q.try_send("b").unwrap();
        assert_eq!(consumer.await.unwrap(), ("a", "b"));
    }

    #[tokio::test]
    async fn a_cancelled_recv_loses_nothing() {
        let q = SendQueue::new(4);
        let r = tokio::time::timeout(std::time::Duration::from_millis(5), q.recv()).await;
        assert!(r.is_err());
        q.try_send(7).unwrap();
        assert_eq!(q.recv().await, 7);
    }
}
