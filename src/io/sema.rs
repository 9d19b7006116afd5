//! A counting semaphore for the tasks of one runtime (shard page reads,
//! cloud request slots, upload slots).

use std::cell::Cell;

use super::runtime::Notify;

/// Counting semaphore for the tasks of one thread.
pub struct Semaphore {
    avail: Cell<usize>,
    capacity: usize,
    notify: Notify,
}

impl Semaphore {
    pub fn new(capacity: usize) -> Semaphore {
        let capacity = capacity.max(1);
        Semaphore {
            avail: Cell::new(capacity),
            capacity,
            notify: Notify::new(),
        }
    }

    /// Waits for `n` units (at most the capacity), released on drop.
    pub async fn acquire(&self, n: usize) -> Permit<'_> {
        let n = n.clamp(1, self.capacity);
        while self.avail.get() < n {
            self.notify.notified().await;
        }
        self.avail.set(self.avail.get() - n);
        Permit { sem: self, n }
    }
}

pub struct Permit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.sem.avail.set(self.sem.avail.get() + self.n);
        self.sem.notify.notify_all();
    }
}
