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

// The engine's layers: private to the crate (see `internals`).
mod ffi;
mod format;
mod io;
mod killpoint;
mod logging;
mod mapping;
mod shard;
mod store;
mod tree;

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

/// The engine's layers, for this project's own integration tests, fuzzers
/// and benches, which reach below the public API: compiled only with the
/// `internals` cargo feature. Not a supported interface and not covered by
/// semver; users never need it.
#[cfg(feature = "internals")]
pub mod internals {
    #![allow(missing_docs)]
    pub mod ffi {
        pub use crate::ffi::*;
    }
    pub mod format {
        pub use crate::format::*;
    }
    pub mod io {
        pub use crate::io::*;
    }
    pub mod logging {
        pub use crate::logging::*;
    }
    pub mod mapping {
        pub use crate::mapping::*;
    }
    pub mod shard {
        pub use crate::shard::*;
    }
    pub mod store {
        pub use crate::store::*;
    }
    pub mod tree {
        pub use crate::tree::*;
    }
}
