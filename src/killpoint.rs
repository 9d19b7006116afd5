//! Kill points for crash tests: `ELOQSTORE_KILL_AT=<name>[:<n>]` makes the
//! process abort (as abruptly as SIGKILL: no unwinding, no flushing) the
//! n-th time (default first) execution reaches `hit(<name>)`. Unset, a hit
//! costs one relaxed atomic load.
//!
//! Only builds with the `kill-points` cargo feature have them (the test
//! targets enable it); everywhere else `hit` is an empty inline function and
//! the variable is never read, so a shipped library cannot be made to abort.

#[cfg(feature = "kill-points")]
mod enabled {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Target {
        name: String,
        nth: u64,
        seen: AtomicU64,
    }

    fn target() -> Option<&'static Target> {
        static TARGET: OnceLock<Option<Target>> = OnceLock::new();
        TARGET
            .get_or_init(|| {
                let v = std::env::var("ELOQSTORE_KILL_AT").ok()?;
                let (name, nth) = match v.split_once(':') {
                    Some((n, k)) => (n.to_string(), k.parse().ok()?),
                    None => (v, 1),
                };
                Some(Target {
                    name,
                    nth,
                    seen: AtomicU64::new(0),
                })
            })
            .as_ref()
    }

    /// Aborts the process if this is the configured kill point and hit.
    pub(crate) fn hit(name: &str) {
        if let Some(t) = target()
            && t.name == name
            && t.seen.fetch_add(1, Ordering::Relaxed) + 1 == t.nth
        {
            eprintln!("eloqstore: kill point {name} reached, aborting");
            std::process::abort();
        }
    }
}

#[cfg(feature = "kill-points")]
pub(crate) use enabled::hit;

/// Kill points are compiled out: nothing to do.
#[cfg(not(feature = "kill-points"))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}
