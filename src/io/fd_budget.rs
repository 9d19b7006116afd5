//! How many files a starting store may keep open.
//!
//! Upstream gives each store `fd_limit - descriptors open now - reserve`
//! and never looks at the process's `RLIMIT_NOFILE`: with the default
//! `fd_limit` (10000) under the common soft limit of 1024, the file caches
//! grow until `open` fails with EMFILE. Here a starting store raises the
//! soft limit toward the hard one as far as its `fd_limit` needs, then
//! clamps its budget to what the process really has left: the soft limit,
//! minus descriptors that are not store files, minus the budgets of other
//! stores running in this process (their caches may still grow to them),
//! minus a reserve for transient opens.

use std::sync::Mutex;

use crate::io::file::open_io_files;

/// The sum of the budgets of the running stores of this process. The lock
/// also serialises starts, so two stores never count the same headroom.
static GRANTED: Mutex<usize> = Mutex::new(0);

/// A running store's share of the process's descriptors; released (for
/// stores started later) when dropped.
#[derive(Debug)]
pub struct FdGrant {
    total: usize,
    per_shard: usize,
}

impl FdGrant {
    /// Files each shard's cache may keep open.
    pub fn per_shard(&self) -> usize {
        self.per_shard
    }
}

impl Drop for FdGrant {
    fn drop(&mut self) {
        let mut g = GRANTED.lock().unwrap_or_else(|e| e.into_inner());
        *g = g.saturating_sub(self.total);
    }
}

/// The budget of a store with `fd_limit` and `shards` shards, keeping
/// `reserve` descriptors out; each shard gets at least `min_per_shard`
/// (a shard cannot work with fewer, even if the process is short). Logs
/// the outcome once at info.
pub fn grant(fd_limit: u32, reserve: u32, shards: usize, min_per_shard: usize) -> FdGrant {
    let shards = shards.max(1);
    let mut granted = GRANTED.lock().unwrap_or_else(|e| e.into_inner());
    let used = open_descriptors();
    // Descriptors that no store's file cache accounts for (stdio, sockets,
    // io_uring rings, store directory locks, the caller's own files).
    let other = used.saturating_sub(open_io_files());
    let reserve = reserve as usize;
    // Upstream's share: fd_limit less what is open now and the reserve.
    let wanted = (fd_limit as usize).saturating_sub(used + reserve);
    let needed = other + *granted + reserve + wanted;
    let (before, soft, hard) = raise_soft_limit(needed);
    let available = soft.saturating_sub(other + *granted + reserve);
    let per_shard = (wanted.min(available) / shards).max(min_per_shard);
    let total = per_shard * shards;
    *granted += total;
    let raised = if soft > before {
        format!(" (raised from {before}, hard limit {hard})")
    } else {
        String::new()
    };
    log::info!(
        "open-file budget: {per_shard} per shard x {shards} shards; fd_limit {fd_limit}, \
         RLIMIT_NOFILE soft limit {soft}{raised}, {used} descriptors in use, \
         {} granted to other running stores, {reserve} reserved",
        *granted - total
    );
    if per_shard * shards > available {
        log::warn!(
            "the process has only {available} descriptors left for this store's files; \
             opens may fail with OpenFileLimit (raise `ulimit -n`)"
        );
    }
    FdGrant { total, per_shard }
}

/// Descriptors open in this process (0 when /proc is unavailable).
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Raises the soft RLIMIT_NOFILE to `needed` (at most the hard limit) if it
/// is lower. Returns the soft limit before and after, and the hard limit.
fn raise_soft_limit(needed: usize) -> (usize, usize, usize) {
    let wide = |v: libc::rlim_t| usize::try_from(v).unwrap_or(usize::MAX);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        log::warn!(
            "getrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        );
        return (usize::MAX, usize::MAX, usize::MAX);
    }
    let needed = libc::rlim_t::try_from(needed).unwrap_or(libc::rlim_t::MAX);
    let target = needed.min(lim.rlim_max);
    let (before, hard) = (wide(lim.rlim_cur), wide(lim.rlim_max));
    if lim.rlim_cur >= target {
        return (before, before, hard);
    }
    let new = libc::rlimit {
        rlim_cur: target,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads one `rlimit` from a struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        log::warn!(
            "cannot raise RLIMIT_NOFILE from {before} to {target}: {}",
            std::io::Error::last_os_error()
        );
        return (before, before, hard);
    }
    (before, wide(target), hard)
}
