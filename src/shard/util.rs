//! Small async helpers for shard tasks.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::io::runtime::Notify;

/// Runs futures concurrently on the current task; results in input order.
pub async fn join_all<T, F: Future<Output = T>>(futs: Vec<F>) -> Vec<T> {
    struct JoinAll<T, F> {
        // Boxed futures and optional values only: the struct is Unpin.
        futs: Vec<Option<Pin<Box<F>>>>,
        out: Vec<Option<T>>,
        left: usize,
    }
    impl<T, F> Unpin for JoinAll<T, F> {}
    impl<T, F: Future<Output = T>> Future for JoinAll<T, F> {
        type Output = Vec<T>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
            let this = Pin::into_inner(self);
            for (i, slot) in this.futs.iter_mut().enumerate() {
                if let Some(f) = slot
                    && let Poll::Ready(v) = f.as_mut().poll(cx)
                {
                    this.out[i] = Some(v);
                    *slot = None;
                    this.left -= 1;
                }
            }
            if this.left == 0 {
                Poll::Ready(
                    this.out
                        .iter_mut()
                        .map(|o| o.take().expect("every result set"))
                        .collect(),
                )
            } else {
                Poll::Pending
            }
        }
    }
    let n = futs.len();
    JoinAll {
        futs: futs.into_iter().map(|f| Some(Box::pin(f))).collect(),
        out: (0..n).map(|_| None).collect(),
        left: n,
    }
    .await
}

/// First error of a list of results, or the values.
pub fn all_ok<T, E>(results: Vec<Result<T, E>>) -> Result<Vec<T>, E> {
    results.into_iter().collect()
}

/// Strict arrival-order (FIFO) queue for one partition's writes: a ticket
/// is taken when the request arrives, and tickets are served in order.
#[derive(Default)]
pub struct WriteQueue {
    next: Cell<u64>,
    serving: Cell<u64>,
    abandoned: RefCell<BTreeSet<u64>>,
    notify: Notify,
}

impl WriteQueue {
    pub fn ticket(self: &Rc<Self>) -> Ticket {
        let n = self.next.get();
        self.next.set(n + 1);
        Ticket {
            queue: self.clone(),
            number: n,
            acquired: false,
        }
    }

    /// Whether a write holds or awaits the queue.
    pub fn busy(&self) -> bool {
        self.serving.get() != self.next.get()
    }

    fn advance(&self) {
        let mut s = self.serving.get() + 1;
        let mut ab = self.abandoned.borrow_mut();
        while ab.remove(&s) {
            s += 1;
        }
        self.serving.set(s);
        drop(ab);
        self.notify.notify_all();
    }
}

/// A place in a partition's write queue; the write runs between
/// `acquire().await` and the ticket's drop.
pub struct Ticket {
    queue: Rc<WriteQueue>,
    number: u64,
    acquired: bool,
}

impl Ticket {
    pub async fn acquire(&mut self) {
        while self.queue.serving.get() != self.number {
            self.queue.notify.notified().await;
        }
        self.acquired = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.acquired || self.queue.serving.get() == self.number {
            self.queue.advance();
        } else {
            self.queue.abandoned.borrow_mut().insert(self.number);
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub use crate::io::sema::{Permit, Semaphore};
