//! The send queue of a session: bounded, many producers, one consumer at a time; and
//! [`Signal`], the driver's wake-up.
//!
//! A `VecDeque` under a lock, the consumer's waker, and a lock that says which transport
//! consumes (a long-poll `GET`, or the WebSocket once upgraded). An empty queue holds no
//! allocation: an idle connection pays about a hundred bytes for its queue, where a tokio
//! channel costs close to 2 KB (its first block of slots is allocated up front).
//!
//! One task waits at a time (the holder of [`SendQueue::consumer`]; the session's driver for
//! its [`Signal`]), so a single [`AtomicWaker`] does what a `Notify` would, without a list of
//! waiters under a lock to join and leave each time the driver waits: a broadcast wakes
//! every recipient's driver, so that cost was paid once per delivery.

use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};

/// Capacity kept when the queue empties; a larger buffer is released.
const KEEP: usize = 64;

/// A bounded queue with one consumer at a time.
#[derive(Debug)]
pub(crate) struct SendQueue<T> {
    items: Mutex<VecDeque<T>>,
    cap: usize,
    /// The consumer waiting in [`SendQueue::recv`].
    ready: AtomicWaker,
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
            ready: AtomicWaker::new(),
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
        self.ready.wake();
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
        poll_fn(|cx| {
            if let Some(item) = self.try_recv() {
                return Poll::Ready(item);
            }
            self.ready.register(cx.waker());
            // An item sent before the waker was in place.
            match self.try_recv() {
                Some(item) => Poll::Ready(item),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// The consumer's lock: a transport holds it while it takes items.
    pub(crate) fn consumer(&self) -> &tokio::sync::Mutex<()> {
        &self.consumer
    }
}

/// A wake-up for the one task that waits on it, kept until that task looks (like
/// `Notify::notify_one`'s permit).
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Wakes the waiter, or the next one to wait.
    pub(crate) fn notify(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.set.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.set.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Waits for a [`Signal::notify`] (one made since the last wait returns at once).
    /// Cancel-safe. One task at a time.
    pub(crate) async fn wait(&self) {
        poll_fn(|cx| self.poll_take(cx)).await
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
    async fn a_signal_is_kept_until_waited_for() {
        let s = Arc::new(Signal::default());
        s.notify();
        s.notify();
        // Both notifications make one wake-up.
        s.wait().await;
        let r = tokio::time::timeout(std::time::Duration::from_millis(5), s.wait()).await;
        assert!(r.is_err());
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.wait().await });
        tokio::task::yield_now().await;
        s.notify();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the waiter was woken")
            .unwrap();
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
