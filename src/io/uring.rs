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
//!
//! File-system operations (openat, mkdirat, unlinkat, renameat, fallocate,
//! ftruncate, statx, fsync) are SQEs too when the kernel supports their
//! opcodes (probed at setup); the kernel runs the blocking ones on its own
//! workers. An opcode the kernel lacks, a directory listing (io_uring has
//! no getdents) and an operation the fault injector stalls go to the
//! runtime's blocking pool instead, whose completions arrive through the
//! same eventfd as remote wakes.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use io_uring::{IoUring, Probe, opcode, squeue, types};

use super::pool::{BlockingPool, Call, Job};
use super::runtime::{Op, RemoteInner, Wait};

/// `user_data` of the eventfd read (operation ids are slab indices).
const EFD_TOKEN: u64 = u64::MAX;
/// Marks a background operation's `user_data` (ids stay far below it).
const BACKGROUND_BIT: u64 = 1 << 62;
/// Background operations the kernel holds at most while foreground ones
/// are in flight: enough to keep writes moving, few enough that reads
/// find the disk free.
const BACKGROUND_SHARE: usize = 4;
#[cfg(test)]
pub(super) const BACKGROUND_SHARE_FOR_TESTS: usize = BACKGROUND_SHARE;

pub(super) struct UringDriver {
    ring: IoUring,
    backlog: VecDeque<squeue::Entry>,
    /// Background operations waiting (see [`BACKGROUND_SHARE`]).
    bg_backlog: VecDeque<squeue::Entry>,
    /// Background operations in the submission queue or the kernel.
    bg_in_kernel: usize,
    /// Operations in the submission queue or the kernel (eventfd excluded).
    in_kernel: usize,
    limit: usize,
    remote: Arc<RemoteInner>,
    /// Target of the eventfd read; its address must stay valid while the
    /// read is armed.
    efd_buf: Box<u64>,
    efd_armed: bool,
    shutdown: bool,
    /// Which opcodes the kernel supports, by opcode number.
    native: [bool; 256],
    pool: BlockingPool,
    /// Operations for the pool, handed over in the next submit.
    pool_jobs: Vec<Job>,
}

/// The file-system opcodes to probe for (page I/O and fsync are older than
/// the Linux 5.11 this driver requires).
const PROBED: [u8; 7] = [
    opcode::OpenAt::CODE,
    opcode::MkDirAt::CODE,
    opcode::UnlinkAt::CODE,
    opcode::RenameAt::CODE,
    opcode::Fallocate::CODE,
    opcode::Ftruncate::CODE,
    opcode::Statx::CODE,
];

/// The opcode that runs `call` natively, if any.
fn opcode_of(call: &Call) -> Option<u8> {
    Some(match call {
        Call::Read { .. } => opcode::Read::CODE,
        Call::Writev { .. } => opcode::Writev::CODE,
        Call::Fsync { .. } => opcode::Fsync::CODE,
        Call::Fallocate { .. } => opcode::Fallocate::CODE,
        Call::Ftruncate { .. } => opcode::Ftruncate::CODE,
        Call::Statx { .. } => opcode::Statx::CODE,
        Call::Open { .. } => opcode::OpenAt::CODE,
        Call::Mkdir { .. } => opcode::MkDirAt::CODE,
        Call::Unlink { .. } => opcode::UnlinkAt::CODE,
        Call::Rename { .. } => opcode::RenameAt::CODE,
        Call::ReadDir { .. } => return None,
    })
}

/// The SQE for `call` (not a listing).
fn entry(call: &Call) -> Option<squeue::Entry> {
    let cwd = types::Fd(libc::AT_FDCWD);
    Some(match *call {
        // `len` is capped at MAX_RW, which fits in u32.
        Call::Read {
            fd,
            buf,
            len,
            offset,
        } => opcode::Read::new(types::Fd(fd), buf, len as u32)
            .offset(offset)
            .build(),
        // `count` is capped at MAX_IOV.
        Call::Writev {
            fd,
            iov,
            count,
            offset,
        } => opcode::Writev::new(types::Fd(fd), iov, count as u32)
            .offset(offset)
            .build(),
        Call::Fsync { fd, datasync } => {
            let flags = if datasync {
                types::FsyncFlags::DATASYNC
            } else {
                types::FsyncFlags::empty()
            };
            opcode::Fsync::new(types::Fd(fd)).flags(flags).build()
        }
        Call::Fallocate {
            fd,
            mode,
            offset,
            len,
        } => opcode::Fallocate::new(types::Fd(fd), len)
            .offset(offset)
            .mode(mode)
            .build(),
        Call::Ftruncate { fd, len } => opcode::Ftruncate::new(types::Fd(fd), len).build(),
        Call::Statx {
            dirfd,
            path,
            flags,
            mask,
            buf,
        } => opcode::Statx::new(types::Fd(dirfd), path, buf.cast())
            .flags(flags)
            .mask(mask)
            .build(),
        Call::Open { path, flags, mode } => opcode::OpenAt::new(cwd, path)
            .flags(flags)
            .mode(mode)
            .build(),
        Call::Mkdir { path, mode } => opcode::MkDirAt::new(cwd, path).mode(mode).build(),
        Call::Unlink { path, flags } => opcode::UnlinkAt::new(cwd, path).flags(flags).build(),
        Call::Rename { from, to } => opcode::RenameAt::new(cwd, from, cwd, to).build(),
        Call::ReadDir { .. } => return None,
    })
}

impl UringDriver {
    /// A ring of `queue_depth` SQ entries (rounded to a power of two in
    /// 8..=32768). Fails if io_uring is unavailable or too old (no
    /// `IORING_FEAT_EXT_ARG`, Linux < 5.11), or if a no-op cannot complete.
    pub(super) fn new(
        queue_depth: u32,
        remote: Arc<RemoteInner>,
        pool: BlockingPool,
    ) -> io::Result<UringDriver> {
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
        let mut native = [false; 256];
        for code in [
            opcode::Read::CODE,
            opcode::Writev::CODE,
            opcode::Fsync::CODE,
        ] {
            native[usize::from(code)] = true;
        }
        let mut probe = Probe::new();
        match ring.submitter().register_probe(&mut probe) {
            Ok(()) => {
                for code in PROBED {
                    native[usize::from(code)] = probe.is_supported(code);
                }
                let missing: Vec<u8> = PROBED
                    .into_iter()
                    .filter(|&c| !native[usize::from(c)])
                    .collect();
                if !missing.is_empty() {
                    log::info!(
                        "io_uring lacks opcodes {missing:?}; those operations run on the blocking pool"
                    );
                }
            }
            Err(e) => log::info!(
                "cannot probe io_uring opcodes ({e}); file-system operations run on the blocking pool"
            ),
        }
        let cq = ring.params().cq_entries() as usize;
        Ok(UringDriver {
            native,
            pool,
            pool_jobs: Vec::new(),
            limit: cq.saturating_sub(1).max(1),
            ring,
            backlog: VecDeque::new(),
            bg_backlog: VecDeque::new(),
            bg_in_kernel: 0,
            in_kernel: 0,
            remote,
            efd_buf: Box::new(0),
            efd_armed: false,
            shutdown: false,
        })
    }

    /// Queues an operation; it reaches the kernel (or the blocking pool)
    /// in the next submit.
    pub(super) fn push(&mut self, id: usize, op: &mut Op) {
        let call = op.call();
        let native = opcode_of(&call).is_some_and(|c| self.native[usize::from(c)]);
        match entry(&call) {
            Some(e) if native && !op.stall => {
                if op.background {
                    self.bg_backlog
                        .push_back(e.user_data(id as u64 | BACKGROUND_BIT));
                } else {
                    self.backlog.push_back(e.user_data(id as u64));
                }
            }
            _ => self.pool_jobs.push(Job {
                id,
                call,
                stall: op.stall,
            }),
        }
    }

    /// Background operations in the kernel now.
    #[cfg(test)]
    pub(super) fn background_in_kernel(&self) -> usize {
        self.bg_in_kernel
    }

    #[cfg(test)]
    pub(super) fn pool_threads(&self) -> usize {
        self.pool.threads()
    }

    /// Sends every operation to the blocking pool (tests of the path taken
    /// for opcodes an older kernel lacks).
    #[cfg(test)]
    pub(super) fn disable_native_fs_ops(&mut self) {
        for code in PROBED {
            self.native[usize::from(code)] = false;
        }
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
                // Background work gets a small share of the kernel while
                // foreground operations are in flight, all of it otherwise.
                let fg_busy = self.in_kernel > self.bg_in_kernel || !self.backlog.is_empty();
                let bg_cap = if fg_busy {
                    BACKGROUND_SHARE
                } else {
                    self.limit
                };
                while !sq_full && self.in_kernel < self.limit && self.bg_in_kernel < bg_cap {
                    let Some(entry) = self.bg_backlog.front() else {
                        break;
                    };
                    // SAFETY: as for the foreground entries above.
                    if unsafe { sq.push(entry) }.is_err() {
                        sq_full = true;
                        break;
                    }
                    self.bg_backlog.pop_front();
                    self.in_kernel += 1;
                    self.bg_in_kernel += 1;
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
        if !self.pool_jobs.is_empty() {
            self.pool.submit(self.pool_jobs.drain(..));
        }
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

    /// Collects completions as `(operation id, result)`, the ring's then
    /// the pool's (after the eventfd read that announced them, if any).
    pub(super) fn reap(&mut self, out: &mut Vec<(usize, i32)>) {
        self.reap_ring(out);
        self.pool.reap(out);
    }

    fn reap_ring(&mut self, out: &mut Vec<(usize, i32)>) {
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
                let data = cqe.user_data();
                self.in_kernel = self.in_kernel.saturating_sub(1);
                if data & BACKGROUND_BIT != 0 {
                    self.bg_in_kernel = self.bg_in_kernel.saturating_sub(1);
                }
                out.push(((data & !BACKGROUND_BIT) as usize, cqe.result()));
            }
        }
    }

    /// Stops re-arming the eventfd read, drops the backlog (never seen by
    /// the kernel or the pool) and waits until the kernel and the pool are
    /// done with every operation; their completions go to `out`.
    pub(super) fn drain(&mut self, out: &mut Vec<(usize, i32)>) -> bool {
        self.pool_jobs.clear();
        let pool_ok = self.pool.drain(out);
        pool_ok && self.drain_ring(out)
    }

    fn drain_ring(&mut self, out: &mut Vec<(usize, i32)>) -> bool {
        self.shutdown = true;
        self.backlog.clear();
        self.bg_backlog.clear();
        if self.efd_armed {
            self.remote.signal();
        }
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
            self.reap_ring(out);
        }
        true
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        if (self.in_kernel > 0 || self.efd_armed) && !self.drain_ring(&mut Vec::new()) {
            // The kernel may still write the eventfd counter here.
            let buf = std::mem::replace(&mut self.efd_buf, Box::new(0));
            Box::leak(buf);
        }
    }
}
