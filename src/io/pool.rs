//! The blocking pool of one runtime: a few threads that run, off the shard
//! thread, the disk operations the runtime cannot hand to the kernel
//! asynchronously: every operation of the sync driver, and with io_uring
//! directory listings (there is no getdents opcode), opcodes the running
//! kernel's io_uring lacks, and operations the fault injector stalls.
//!
//! Each runtime (so each shard) owns its pool. Its threads are spawned on
//! demand, at most [`POOL_THREADS`], and live until the runtime is dropped.
//! One pool per shard keeps shards independent (a shard whose disk hangs
//! occupies only its own threads), delivers completions straight to the
//! runtime that waits for them, and ties the pool's lifetime to the table
//! that owns the operations' memory.
//!
//! A [`Job`] describes one system call with raw pointers into an operation
//! that the runtime's table owns, untouched, until the job's completion has
//! been delivered (as with io_uring). Completions go to a list the runtime
//! reaps; the first one after each reap signals the runtime's eventfd, so a
//! runtime blocked in `ppoll` or an io_uring wait wakes up. A runtime being
//! dropped drops the queued jobs that no thread took yet and waits for the
//! running ones ([`BlockingPool::drain`]) before freeing the table.

use std::collections::VecDeque;
use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::fault::FaultInjector;
use super::runtime::RemoteInner;

/// The most threads one runtime's pool runs.
pub(super) const POOL_THREADS: usize = 4;

/// Stack of a pool thread: system calls and a directory listing need
/// little.
const POOL_STACK: usize = 256 * 1024;

/// One system call, its memory given by raw pointers (see the module docs).
#[derive(Debug)]
pub(super) enum Call {
    Read {
        fd: RawFd,
        buf: *mut u8,
        len: usize,
        offset: u64,
    },
    Writev {
        fd: RawFd,
        iov: *const libc::iovec,
        count: usize,
        offset: u64,
    },
    Fsync {
        fd: RawFd,
        datasync: bool,
    },
    Fallocate {
        fd: RawFd,
        mode: i32,
        offset: u64,
        len: u64,
    },
    Ftruncate {
        fd: RawFd,
        len: u64,
    },
    Statx {
        dirfd: RawFd,
        path: *const c_char,
        flags: i32,
        mask: u32,
        buf: *mut libc::statx,
    },
    Open {
        path: *const c_char,
        flags: i32,
        mode: u32,
    },
    Mkdir {
        path: *const c_char,
        mode: u32,
    },
    Unlink {
        path: *const c_char,
        flags: i32,
    },
    Rename {
        from: *const c_char,
        to: *const c_char,
    },
    /// Lists a directory's entries (without `.` and `..`) into `out`.
    ReadDir {
        path: *const c_char,
        out: *mut Vec<OsString>,
    },
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `r` as a completion result: the value, or `-errno` when negative.
fn result(r: isize) -> Option<i32> {
    if r >= 0 {
        // Transfers are capped at MAX_RW and descriptors are small: both
        // fit in i32.
        return Some(i32::try_from(r).unwrap_or(i32::MAX));
    }
    let e = errno();
    if e == libc::EINTR { None } else { Some(-e) }
}

fn off(v: u64) -> Option<libc::off_t> {
    libc::off_t::try_from(v).ok()
}

impl Call {
    /// Runs the call on the current thread; returns its result or `-errno`.
    ///
    /// # Safety
    ///
    /// Every pointer must be valid for the access the call makes (buffers
    /// for their length, paths NUL-terminated) and not otherwise accessed
    /// until this returns; every descriptor must stay open meanwhile.
    pub(super) unsafe fn execute(&self) -> i32 {
        loop {
            let r: isize = match *self {
                Call::Read {
                    fd,
                    buf,
                    len,
                    offset,
                } => {
                    let Some(offset) = off(offset) else {
                        return -libc::EINVAL;
                    };
                    // SAFETY: the caller guarantees `buf` is valid for
                    // `len` bytes and `fd` is open.
                    unsafe { libc::pread(fd, buf.cast(), len, offset) }
                }
                Call::Writev {
                    fd,
                    iov,
                    count,
                    offset,
                } => {
                    let Some(offset) = off(offset) else {
                        return -libc::EINVAL;
                    };
                    if count == 0 {
                        0
                    } else {
                        // SAFETY: the caller guarantees `count` (at most
                        // MAX_IOV) valid iovecs over valid buffers.
                        unsafe { libc::pwritev(fd, iov, count as libc::c_int, offset) }
                    }
                }
                // SAFETY: fsync/fdatasync take a descriptor and no memory.
                Call::Fsync { fd, datasync } => unsafe {
                    (if datasync {
                        libc::fdatasync(fd)
                    } else {
                        libc::fsync(fd)
                    }) as isize
                },
                Call::Fallocate {
                    fd,
                    mode,
                    offset,
                    len,
                } => {
                    let (Some(offset), Some(len)) = (off(offset), off(len)) else {
                        return -libc::EINVAL;
                    };
                    // SAFETY: fallocate takes a descriptor and integers.
                    unsafe { libc::fallocate(fd, mode, offset, len) as isize }
                }
                Call::Ftruncate { fd, len } => {
                    let Some(len) = off(len) else {
                        return -libc::EINVAL;
                    };
                    // SAFETY: ftruncate takes a descriptor and an integer.
                    unsafe { libc::ftruncate(fd, len) as isize }
                }
                Call::Statx {
                    dirfd,
                    path,
                    flags,
                    mask,
                    buf,
                } => {
                    // SAFETY: the caller guarantees a NUL-terminated path
                    // and a statx buffer valid for writing.
                    unsafe { libc::statx(dirfd, path, flags, mask, buf) as isize }
                }
                Call::Open { path, flags, mode } => {
                    // SAFETY: the caller guarantees a NUL-terminated path.
                    unsafe { libc::open(path, flags, mode as libc::c_uint) as isize }
                }
                Call::Mkdir { path, mode } => {
                    // SAFETY: as above.
                    unsafe { libc::mkdir(path, mode as libc::mode_t) as isize }
                }
                Call::Unlink { path, flags } => {
                    // SAFETY: as above.
                    unsafe { libc::unlinkat(libc::AT_FDCWD, path, flags) as isize }
                }
                Call::Rename { from, to } => {
                    // SAFETY: the caller guarantees two NUL-terminated paths.
                    unsafe { libc::rename(from, to) as isize }
                }
                Call::ReadDir { path, out } => {
                    if path.is_null() || out.is_null() {
                        return -libc::EFAULT;
                    }
                    // SAFETY: the caller guarantees a NUL-terminated path.
                    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
                    return match list_dir(Path::new(OsStr::from_bytes(bytes))) {
                        Ok(names) => {
                            let n = i32::try_from(names.len()).unwrap_or(i32::MAX);
                            // SAFETY: the caller guarantees `out` points to
                            // a live Vec nobody else touches meanwhile.
                            unsafe { *out = names };
                            n
                        }
                        Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
                    };
                }
            };
            if let Some(res) = result(r) {
                return res;
            }
        }
    }
}

fn list_dir(path: &Path) -> std::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for ent in std::fs::read_dir(path)? {
        names.push(ent?.file_name());
    }
    Ok(names)
}

/// One operation for the pool: `id` names it in the runtime's table.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) id: usize,
    pub(super) call: Call,
    /// Ask the fault injector to hold the call back first.
    pub(super) stall: bool,
}

// SAFETY: a job's raw pointers address heap memory and descriptors owned by
// an operation in its runtime's table, which neither moves nor frees nor
// otherwise accesses them until the job's completion has been delivered to
// that runtime, or until `BlockingPool::drain` has seen every running job
// finish; the runtime's `Drop` calls `drain` before freeing the table.
// Moving the job to a pool thread therefore gives that thread exclusive use
// of the memory for the duration of the call.
unsafe impl Send for Job {}

struct State {
    queue: VecDeque<Job>,
    /// Threads not running a job (waiting, or spawned and starting).
    idle: usize,
    running: usize,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when jobs are queued or at shutdown.
    work: Condvar,
    /// Signalled when `running` drops to 0.
    quiet: Condvar,
    done: Mutex<Vec<(usize, i32)>>,
    has_done: AtomicBool,
    remote: Arc<RemoteInner>,
    faults: Option<Arc<dyn FaultInjector>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn done(&self) -> MutexGuard<'_, Vec<(usize, i32)>> {
        self.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, job: Job) {
        if job.stall
            && let Some(f) = &self.faults
        {
            f.stall();
        }
        // SAFETY: see `Job`'s `Send` impl: the memory and descriptors the
        // call uses are reserved for it until its completion is delivered.
        let res = unsafe { job.call.execute() };
        self.done().push((job.id, res));
        self.has_done.store(true, Ordering::Release);
        self.remote.wake();
    }

    fn worker(&self) {
        let mut st = self.state();
        loop {
            if let Some(job) = st.queue.pop_front() {
                st.idle -= 1;
                st.running += 1;
                drop(st);
                self.run(job);
                st = self.state();
                st.running -= 1;
                st.idle += 1;
                if st.running == 0 {
                    self.quiet.notify_all();
                }
                continue;
            }
            if st.shutdown {
                st.idle -= 1;
                return;
            }
            st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

pub(super) struct BlockingPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    max: usize,
}

impl BlockingPool {
    pub(super) fn new(
        remote: Arc<RemoteInner>,
        faults: Option<Arc<dyn FaultInjector>>,
    ) -> BlockingPool {
        BlockingPool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    idle: 0,
                    running: 0,
                    shutdown: false,
                }),
                work: Condvar::new(),
                quiet: Condvar::new(),
                done: Mutex::new(Vec::new()),
                has_done: AtomicBool::new(false),
                remote,
                faults,
            }),
            threads: Vec::new(),
            max: POOL_THREADS,
        }
    }

    /// Threads started so far.
    #[cfg(test)]
    pub(super) fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Queues jobs, starting threads while there are more queued jobs than
    /// idle threads (up to the maximum).
    pub(super) fn submit(&mut self, jobs: impl IntoIterator<Item = Job>) {
        let mut st = self.shared.state();
        let before = st.queue.len();
        st.queue.extend(jobs);
        let added = st.queue.len() - before;
        if added == 0 {
            return;
        }
        while st.queue.len() > st.idle && self.threads.len() < self.max {
            let shared = self.shared.clone();
            let name = format!(
                "{}-io",
                std::thread::current().name().unwrap_or("eloqstore")
            );
            match std::thread::Builder::new()
                .name(name)
                .stack_size(POOL_STACK)
                .spawn(move || shared.worker())
            {
                Ok(h) => {
                    self.threads.push(h);
                    st.idle += 1;
                }
                Err(e) => {
                    log::error!("cannot start a blocking I/O thread: {e}");
                    break;
                }
            }
        }
        if self.threads.is_empty() {
            // Not one thread could start: run the jobs here rather than
            // never.
            let jobs: Vec<Job> = st.queue.drain(..).collect();
            drop(st);
            for job in jobs {
                self.shared.run(job);
            }
            return;
        }
        drop(st);
        if added == 1 {
            self.shared.work.notify_one();
        } else {
            self.shared.work.notify_all();
        }
    }

    /// Collects finished jobs as `(id, result)`.
    pub(super) fn reap(&self, out: &mut Vec<(usize, i32)>) {
        if self.shared.has_done.swap(false, Ordering::Acquire) {
            out.append(&mut self.shared.done());
        }
    }

    /// Drops the jobs no thread has taken and waits until none runs; their
    /// completions (and earlier ones not reaped) go to `out`.
    pub(super) fn drain(&mut self, out: &mut Vec<(usize, i32)>) -> bool {
        let mut st = self.shared.state();
        st.queue.clear();
        while st.running > 0 {
            st = self
                .shared
                .quiet
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
        drop(st);
        self.shared.has_done.store(false, Ordering::Relaxed);
        out.append(&mut self.shared.done());
        true
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        {
            let mut st = self.shared.state();
            st.queue.clear();
            st.shutdown = true;
        }
        self.shared.work.notify_all();
        for h in self.threads.drain(..) {
            if h.join().is_err() {
                log::error!("a blocking I/O thread panicked");
            }
        }
    }
}
