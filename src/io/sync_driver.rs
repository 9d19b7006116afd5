//! The synchronous fallback driver of [`super::runtime::Runtime`], for
//! kernels and containers without io_uring.
//!
//! Queued operations run one by one with `pread`, `pwritev`, `fdatasync` or
//! `fsync` in the submit phase of a turn; their completions are delivered in
//! the same turn, so tasks resume in the next one, as with io_uring. When
//! nothing is queued and the turn may block, it waits in `ppoll` on the
//! runtime's eventfd (remote wakes) with the turn's deadline.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use super::runtime::{Op, OpKind, OpSlot, RemoteInner, Slab, Wait};

pub(super) struct SyncDriver {
    queue: VecDeque<usize>,
    done: Vec<(usize, i32)>,
    remote: Arc<RemoteInner>,
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Runs `op` now; returns bytes transferred or `-errno`.
fn execute(op: &mut Op) -> i32 {
    let fd = op.file.as_raw_fd();
    let Ok(offset) = libc::off_t::try_from(op.offset) else {
        return -libc::EINVAL;
    };
    loop {
        let r: isize = match op.kind {
            OpKind::Read => match op.iov.first() {
                // SAFETY: the iovec points into a buffer owned by `op` (its
                // `bufs` or `vec`), valid for `iov_len` bytes and not
                // otherwise accessed during the call; `fd` is kept open by
                // `op.file`.
                Some(v) => unsafe { libc::pread(fd, v.iov_base, v.iov_len, offset) },
                None => 0,
            },
            OpKind::Write => {
                if op.iov.is_empty() {
                    0
                } else {
                    // SAFETY: every iovec points into a buffer owned by
                    // `op.bufs`, valid for its `iov_len` bytes; there are at
                    // most MAX_IOV of them; `fd` is kept open by `op.file`.
                    unsafe {
                        libc::pwritev(fd, op.iov.as_ptr(), op.iov.len() as libc::c_int, offset)
                    }
                }
            }
            // SAFETY: fdatasync/fsync take a descriptor kept open by
            // `op.file` and touch no memory of ours.
            OpKind::Fdatasync => unsafe { libc::fdatasync(fd) as isize },
            // SAFETY: as above.
            OpKind::Fsync => unsafe { libc::fsync(fd) as isize },
        };
        if r >= 0 {
            // Transfers are capped at MAX_RW, which fits in i32.
            return i32::try_from(r).unwrap_or(i32::MAX);
        }
        let e = errno();
        if e != libc::EINTR {
            return -e;
        }
    }
}

impl SyncDriver {
    pub(super) fn new(remote: Arc<RemoteInner>) -> SyncDriver {
        SyncDriver {
            queue: VecDeque::new(),
            done: Vec::new(),
            remote,
        }
    }

    pub(super) fn push(&mut self, id: usize) {
        self.queue.push_back(id);
    }

    /// Runs every queued operation; if there was none and `wait` allows,
    /// blocks until a remote wake or the deadline.
    pub(super) fn submit(&mut self, ops: &mut Slab<OpSlot>, wait: Wait) {
        if !self.queue.is_empty() {
            while let Some(id) = self.queue.pop_front() {
                if let Some(slot) = ops.get_mut(id) {
                    let res = execute(&mut slot.op);
                    self.done.push((id, res));
                }
            }
            return;
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
            let e = errno();
            if e != libc::EINTR {
                log::error!(
                    "ppoll on the runtime's eventfd failed: {}",
                    std::io::Error::from_raw_os_error(e)
                );
            }
        } else if r > 0 && pfd.revents & libc::POLLIN != 0 {
            self.remote.read_counter();
        }
    }

    pub(super) fn reap(&mut self, out: &mut Vec<(usize, i32)>) {
        out.append(&mut self.done);
    }

    pub(super) fn drain(&mut self) -> bool {
        self.queue.clear();
        true
    }
}
