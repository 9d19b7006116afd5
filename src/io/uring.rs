//! The io_uring disk driver of [`super::runtime::Runtime`].
//!
//! Operations become SQEs when queued (their memory is owned by the
//! runtime's operation table until the CQE arrives) and wait in a backlog
//! until the submit phase of a turn moves them into the submission queue.
//! At most `cq_entries - 1` operations are in the kernel at once, so the
//! completion queue (plus the one slot of the eventfd read) never
//! overflows; the rest stay in the backlog, in order, and are never lost.
//! When the submission queue fills mid-flush it is submitted and the flush
//! continues.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use io_uring::{IoUring, opcode, squeue, types};

use super::runtime::{Op, OpKind, RemoteInner, Wait};

/// `user_data` of the eventfd read (operation ids are slab indices).
const EFD_TOKEN: u64 = u64::MAX;

pub(super) struct UringDriver {
    ring: IoUring,
    backlog: VecDeque<squeue::Entry>,
    /// Operations in the submission queue or the kernel (eventfd excluded).
    in_kernel: usize,
    limit: usize,
    remote: Arc<RemoteInner>,
    /// Target of the eventfd read; its address must stay valid while the
    /// read is armed.
    efd_buf: Box<u64>,
    efd_armed: bool,
    shutdown: bool,
}

impl UringDriver {
    /// A ring of `queue_depth` SQ entries (rounded to a power of two in
    /// 8..=32768). Fails if io_uring is unavailable or too old (no
    /// `IORING_FEAT_EXT_ARG`, Linux < 5.11), or if a no-op cannot complete.
    pub(super) fn new(queue_depth: u32, remote: Arc<RemoteInner>) -> io::Result<UringDriver> {
        let entries = queue_depth.clamp(8, 32768).next_power_of_two();
        let mut ring = IoUring::new(entries)?;
        if !ring.params().is_feature_ext_arg() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the kernel's io_uring lacks IORING_FEAT_EXT_ARG (needs Linux 5.11)",
            ));
        }
        // Some sandboxes allow setting a ring up but not using it.
        let nop = opcode::Nop::new().build().user_data(0);
        // SAFETY: a no-op references no memory.
        unsafe { ring.submission().push(&nop) }
            .map_err(|_| io::Error::other("fresh io_uring submission queue is full"))?;
        loop {
            match ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
        let res = ring.completion().next().map(|c| c.result());
        if res != Some(0) {
            return Err(io::Error::other(format!(
                "io_uring no-op completed with {res:?}"
            )));
        }
        let cq = ring.params().cq_entries() as usize;
        Ok(UringDriver {
            limit: cq.saturating_sub(1).max(1),
            ring,
            backlog: VecDeque::new(),
            in_kernel: 0,
            remote,
            efd_buf: Box::new(0),
            efd_armed: false,
            shutdown: false,
        })
    }

    /// Queues an operation; it reaches the kernel in the next submit.
    pub(super) fn push(&mut self, id: usize, op: &mut Op) {
        let fd = types::Fd(op.file.as_raw_fd());
        let entry = match op.kind {
            OpKind::Read => {
                let (base, len) = op
                    .iov
                    .first()
                    .map(|v| (v.iov_base.cast::<u8>(), v.iov_len))
                    .unwrap_or((std::ptr::null_mut(), 0));
                // `len` is capped at MAX_RW, which fits in u32.
                opcode::Read::new(fd, base, len as u32)
                    .offset(op.offset)
                    .build()
            }
            OpKind::Write => opcode::Writev::new(fd, op.iov.as_ptr(), op.iov.len() as u32)
                .offset(op.offset)
                .build(),
            OpKind::Fsync => opcode::Fsync::new(fd).build(),
            OpKind::Fdatasync => opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
        };
        self.backlog.push_back(entry.user_data(id as u64));
    }

    /// Moves the backlog into the submission queue (submitting whenever it
    /// fills), leaving what exceeds the in-kernel limit for later.
    fn flush(&mut self) -> io::Result<()> {
        loop {
            let mut sq_full = false;
            {
                let mut sq = self.ring.submission();
                if !self.efd_armed && !self.shutdown {
                    if sq.is_full() {
                        sq_full = true;
                    } else {
                        let entry = opcode::Read::new(
                            types::Fd(self.remote.fd()),
                            std::ptr::from_mut::<u64>(&mut self.efd_buf).cast::<u8>(),
                            8,
                        )
                        .build()
                        .user_data(EFD_TOKEN);
                        // SAFETY: the read targets `efd_buf`, a heap
                        // allocation owned by this driver and freed only
                        // after the read completed (see `drain` and `Drop`);
                        // the eventfd is kept open by `remote`.
                        if unsafe { sq.push(&entry) }.is_ok() {
                            self.efd_armed = true;
                        }
                    }
                }
                while !sq_full && self.in_kernel < self.limit {
                    let Some(entry) = self.backlog.front() else {
                        break;
                    };
                    // SAFETY: every entry was built by `push` from an `Op`
                    // that the runtime keeps (with its buffers, iovecs and
                    // file) in its operation table until this entry's
                    // completion has been reaped, or until `drain` saw the
                    // kernel finish with it.
                    if unsafe { sq.push(entry) }.is_err() {
                        sq_full = true;
                        break;
                    }
                    self.backlog.pop_front();
                    self.in_kernel += 1;
                }
            }
            let more = !self.backlog.is_empty() && self.in_kernel < self.limit;
            if !(sq_full && (more || !self.efd_armed)) {
                return Ok(());
            }
            match self.ring.submit() {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Submits queued operations and, as `wait` allows, waits for at least
    /// one completion.
    pub(super) fn submit(&mut self, wait: Wait) {
        if let Err(e) = self.flush() {
            match e.raw_os_error() {
                Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                    log::debug!("io_uring submit deferred: {e}");
                    // Completions must be reaped first; do not block.
                    return;
                }
                _ => log::error!("io_uring submit failed: {e}"),
            }
        }
        let wait = match wait {
            Wait::Until(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Wait::No
                } else {
                    Wait::Until(at)
                }
            }
            w => w,
        };
        let res = match wait {
            Wait::No => {
                if self.ring.submission().is_empty() {
                    Ok(0)
                } else {
                    self.ring.submit()
                }
            }
            Wait::Forever => self.ring.submit_and_wait(1),
            Wait::Until(at) => {
                let ts = types::Timespec::from(at.saturating_duration_since(Instant::now()));
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        if let Err(e) = res {
            match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) => {}
                _ => log::error!("io_uring wait failed: {e}"),
            }
        }
    }

    /// Collects completions as `(operation id, result)`.
    pub(super) fn reap(&mut self, out: &mut Vec<(usize, i32)>) {
        for cqe in self.ring.completion() {
            if cqe.user_data() == EFD_TOKEN {
                self.efd_armed = false;
                let res = cqe.result();
                if res < 0 && res != -libc::ECANCELED && res != -libc::EINTR {
                    log::warn!(
                        "io_uring read of the wake eventfd failed: {}",
                        io::Error::from_raw_os_error(-res)
                    );
                }
                self.remote.consumed();
            } else {
                self.in_kernel = self.in_kernel.saturating_sub(1);
                out.push((cqe.user_data() as usize, cqe.result()));
            }
        }
    }

    /// Stops re-arming the eventfd read, drops the backlog (never seen by
    /// the kernel) and waits until the kernel is done with every operation.
    pub(super) fn drain(&mut self) -> bool {
        self.shutdown = true;
        self.backlog.clear();
        if self.efd_armed {
            self.remote.signal();
        }
        let mut sink = Vec::new();
        while self.in_kernel > 0 || self.efd_armed {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
                    ) => {}
                Err(e) => {
                    log::error!("io_uring wait during shutdown failed: {e}");
                    return false;
                }
            }
            self.reap(&mut sink);
            sink.clear();
        }
        true
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        if (self.in_kernel > 0 || self.efd_armed) && !self.drain() {
            // The kernel may still write the eventfd counter here.
            let buf = std::mem::replace(&mut self.efd_buf, Box::new(0));
            Box::leak(buf);
        }
    }
}
