//! Disk I/O: partition directories, data files and manifests.

pub mod blocking;

/// Restores the default `SIGPIPE` action, so a command-line tool whose
/// output pipe closes (`eloqstore scan | head`) ends quietly like other
/// Unix tools instead of failing every later write.
pub fn restore_default_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL installs no handler
    // code; it is done once at start-up before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

pub mod cloud;
pub mod fault;
pub mod fd_budget;
pub mod file;
mod pool;
pub mod runtime;
pub mod sema;
mod sync_driver;
mod uring;
