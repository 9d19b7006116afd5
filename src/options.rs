//! Placeholder replaced by the options module.
