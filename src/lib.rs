//! EloqStore-rs: a Rust re-implementation of the EloqStore key-value engine,
//! reading and writing the C++ engine's on-disk format.
//!
//! Layers, each depending only on those above it in this list:
//! `format` (pure codecs) -> `mapping` (page mapping, manifest state) ->
//! `tree` (B+tree, index cache) -> `io` -> `shard` -> `store` -> `ffi`.

pub mod error;
pub mod format;
pub mod options;

pub use error::{Error, KvError, Result};
