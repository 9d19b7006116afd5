//! EloqStore-rs: a Rust re-implementation of the EloqStore key-value engine,
//! reading and writing the C++ engine's on-disk format.
//!
//! Layers, each depending only on those before it in this list:
//! `format` (pure codecs) -> `mapping` (page mapping, manifest state) ->
//! `tree` (B+tree, index cache) -> `io` -> `shard` -> `store` -> `ffi`.
//! `options`, `error` and `types` are plain definitions every layer uses;
//! `inspect` is the read-only toolkit behind the `eloqstore` command.

// Every item of the public API is documented; the layers opened by the
// `internals` feature are exempt.
#![cfg_attr(not(feature = "internals"), warn(missing_docs))]

/// Declares an engine layer: private to the crate, public only with the
/// `internals` feature, which the project's own tests, fuzzers and benches
/// turn on to reach the layers directly. Not covered by semver.
macro_rules! layer {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {$(
        $(#[$attr])*
        #[cfg(feature = "internals")]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        pub(crate) mod $name;
    )*};
}

layer!(format, mapping, tree, io, shard, store, ffi, logging);
mod killpoint;

pub mod error;
pub mod inspect;
pub mod options;
pub mod request;
pub mod types;

pub use error::{Error, KvError, Result};
pub use options::KvOptions;
pub use request::*;
pub use store::EloqStore;
pub use types::{KvEntry, TableIdent, WriteDataEntry, WriteOp};
