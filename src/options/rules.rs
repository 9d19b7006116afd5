//! The per-field validation rules a row of [`super::table`] names. Each
//! takes the field's name and value and the phase it runs in, and fails with
//! `InvalidArgs` and a message naming the field and the value.

use crate::error::{Error, Result};
use crate::format::page::PAGE_ALIGN;

/// When a rule runs within [`super::KvOptions::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Upstream's checks, in every mode.
    Upstream,
    /// Upstream's checks that apply in cloud mode only.
    Cloud,
    /// Our extensions (upstream accepts these values, then misbehaves).
    Ours,
}

fn mode(phase: Phase) -> &'static str {
    if phase == Phase::Cloud {
        " in cloud mode"
    } else {
        ""
    }
}

/// The value must not be 0.
pub(crate) fn nonzero(name: &str, v: u64, phase: Phase) -> Result<()> {
    if v == 0 {
        return Err(Error::invalid_args(format!(
            "{name} {v} must be greater than 0{}",
            mode(phase)
        )));
    }
    Ok(())
}

/// The value must be a multiple of the OS page size (upstream asks
/// `sysconf(_SC_PAGESIZE)`; we use the 4 KiB [`PAGE_ALIGN`] of every
/// supported platform).
pub(crate) fn page_multiple(name: &str, v: u64, phase: Phase) -> Result<()> {
    if !v.is_multiple_of(PAGE_ALIGN as u64) {
        return Err(Error::invalid_args(format!(
            "{name} {v} is not a multiple of the OS page size {PAGE_ALIGN}{}",
            mode(phase)
        )));
    }
    Ok(())
}

/// The value must lie in `lo..=hi`.
pub(crate) fn range(name: &str, v: u64, phase: Phase, lo: u64, hi: u64) -> Result<()> {
    if v < lo || v > hi {
        return Err(Error::invalid_args(format!(
            "{name} {v} is outside {lo}..={hi}{}",
            mode(phase)
        )));
    }
    Ok(())
}
