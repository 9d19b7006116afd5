//! The synchronous fallback driver of [`super::runtime::Runtime`], for
//! kernels and containers without io_uring.
//!
//! Every operation runs as a plain system call (`pread`, `pwritev`,
//! `fdatasync`, `openat`, `renameat`, ...) on the runtime's blocking pool,
//! never on the shard thread: operations queued during a turn go to the
//! pool in its submit phase, and their completions are delivered in a later
//! turn, as with io_uring. When the turn may block, it waits in `ppoll` on
//! the runtime's eventfd, which both remote wakes and pool completions
//! signal, until the turn's deadline.

use std::sync::Arc;
use std::time::Instant;

use super::pool::{BlockingPool, Job};
use super::runtime::{Op, RemoteInner, Wait};

pub(super) struct SyncDriver {
    queued: Vec<Job>,
    pool: BlockingPool,
    remote: Arc<RemoteInner>,
}

impl SyncDriver {
    pub(super) fn new(remote: Arc<RemoteInner>, pool: BlockingPool) -> SyncDriver {
        SyncDriver {
            queued: Vec::new(),
            pool,
            remote,
        }
    }

    pub(super) fn push(&mut self, id: usize, op: &mut Op) {
        self.queued.push(Job {
            id,
            call: op.call(),
            stall: op.stall,
        });
    }

    /// Hands the queued operations to the pool; then, as `wait` allows,
    /// blocks until a remote wake, a pool completion or the deadline.
    pub(super) fn submit(&mut self, wait: Wait) {
        if !self.queued.is_empty() {
            self.pool.submit(self.queued.drain(..));
        }
        let ts = match wait {
            Wait::No => return,
            Wait::Forever => None,
            Wait::Until(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                Some(libc::timespec {
                    tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
                    tv_nsec: left.subsec_nanos().into(),
                })
            }
        };
        let mut pfd = libc::pollfd {
            fd: self.remote.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
        // SAFETY: `pfd` and `ts` are live locals for the duration of the
        // call; the count is 1 and the signal mask pointer is null.
        let r = unsafe { libc::ppoll(&mut pfd, 1, ts_ptr, std::ptr::null()) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                log::error!("ppoll on the runtime's eventfd failed: {e}");
            }
        } else if r > 0 && pfd.revents & libc::POLLIN != 0 {
            self.remote.read_counter();
        }
    }

    /// Collects finished operations (call after `submit`, which consumed
    /// the eventfd signal that announced them).
    pub(super) fn reap(&mut self, out: &mut Vec<(usize, i32)>) {
        self.pool.reap(out);
    }

    pub(super) fn drain(&mut self, out: &mut Vec<(usize, i32)>) -> bool {
        self.queued.clear();
        self.pool.drain(out)
    }

    #[cfg(test)]
    pub(super) fn pool_threads(&self) -> usize {
        self.pool.threads()
    }
}
