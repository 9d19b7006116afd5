//! [`FaultRules`], the injector the tests use. Compiled only for tests
//! (the `internals` feature): the engine itself only sees the
//! [`FaultInjector`] trait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{Fault, FaultInjector, IoOpInfo, IoOpKind};
use crate::io::file::FileKind;

/// A ready-made injector for tests: a list of rules, each matching an
/// operation kind (and optionally a file kind and a part of the path),
/// firing after `skip` matching operations and then `times` times
/// (`usize::MAX` = forever). Stalled operations wait until
/// [`release_stalled`](FaultRules::release_stalled).
#[derive(Default)]
pub struct FaultRules {
    rules: Mutex<Vec<FaultRule>>,
    fired: AtomicUsize,
    gate: Mutex<Gate>,
    gate_cv: Condvar,
}

#[derive(Default)]
struct Gate {
    open: bool,
    stalled: usize,
}

/// How long a stalled operation waits at most for
/// [`FaultRules::release_stalled`] (a bound for tests that fail).
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// One rule of [`FaultRules`].
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub op: IoOpKind,
    pub file_kind: Option<FileKind>,
    /// Only operations whose path (or a rename's new name) contains this.
    pub path_contains: Option<String>,
    pub fault: Fault,
    pub skip: usize,
    pub times: usize,
}

impl FaultRule {
    /// A rule firing on every operation of kind `op`.
    pub fn always(op: IoOpKind, fault: Fault) -> FaultRule {
        FaultRule {
            op,
            file_kind: None,
            path_contains: None,
            fault,
            skip: 0,
            times: usize::MAX,
        }
    }

    /// A rule firing once, on the first operation of kind `op`.
    pub fn once(op: IoOpKind, fault: Fault) -> FaultRule {
        FaultRule {
            times: 1,
            ..FaultRule::always(op, fault)
        }
    }

    fn matches(&self, op: &IoOpInfo<'_>) -> bool {
        if self.op != op.kind || self.file_kind.is_some_and(|k| k != op.file_kind) {
            return false;
        }
        match &self.path_contains {
            None => true,
            Some(part) => [Some(op.file), op.to]
                .into_iter()
                .flatten()
                .any(|p| p.to_string_lossy().contains(part.as_str())),
        }
    }
}

impl FaultRules {
    pub fn new(rules: Vec<FaultRule>) -> FaultRules {
        FaultRules {
            rules: Mutex::new(rules),
            ..FaultRules::default()
        }
    }

    /// Adds a rule.
    pub fn push(&self, rule: FaultRule) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(rule);
        }
    }

    /// Removes every rule.
    pub fn clear(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// How many faults have been injected so far.
    pub fn fired(&self) -> usize {
        self.fired.load(Ordering::Relaxed)
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many stalled operations have reached their pool thread.
    pub fn stalled(&self) -> usize {
        self.gate().stalled
    }

    /// Blocks until `n` stalled operations have reached their pool thread,
    /// or `limit` passes; returns whether they did.
    pub fn wait_stalled(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut g = self.gate();
        while g.stalled < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self
                .gate_cv
                .wait_timeout(g, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Lets every stalled operation (and every later one) run.
    pub fn release_stalled(&self) {
        self.gate().open = true;
        self.gate_cv.notify_all();
    }
}

impl FaultInjector for FaultRules {
    fn check(&self, op: &IoOpInfo<'_>) -> Option<Fault> {
        let mut rules = self.rules.lock().ok()?;
        for rule in rules.iter_mut() {
            if !rule.matches(op) {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            if rule.times == 0 {
                continue;
            }
            if rule.times != usize::MAX {
                rule.times -= 1;
            }
            self.fired.fetch_add(1, Ordering::Relaxed);
            return Some(rule.fault);
        }
        None
    }

    fn stall(&self) {
        let deadline = Instant::now() + STALL_LIMIT;
        let mut g = self.gate();
        g.stalled += 1;
        self.gate_cv.notify_all();
        while !g.open {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::error!("a stalled I/O operation was never released; running it");
                return;
            }
            g = self
                .gate_cv
                .wait_timeout(g, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
