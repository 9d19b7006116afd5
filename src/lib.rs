//! EloqStore-rs: a Rust re-implementation of the EloqStore key-value engine,
//! reading and writing the C++ engine's on-disk format.
//!
//! Layers, each depending only on those before it in this list:
//! `format` (pure codecs) -> `mapping` (page mapping, manifest state) ->
//! `tree` (B+tree, index cache) -> `io` -> `shard` -> `store` -> `ffi`.
//! `options`, `error` and `types` are plain definitions every layer uses;
//! `inspect` is the read-only toolkit behind the `eloqstore` command.

pub mod error;
pub mod ffi;
pub mod format;
pub mod inspect;
pub mod io;
mod killpoint;
pub mod logging;
pub mod mapping;
pub mod options;
pub mod request;
pub mod shard;
pub mod store;
pub mod tree;
pub mod types;

pub use error::{Error, KvError, Result};
pub use options::KvOptions;
pub use request::*;
pub use store::EloqStore;
pub use types::{KvEntry, TableIdent, WriteDataEntry, WriteOp};
