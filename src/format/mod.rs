//! The on-disk format: pure encoders and decoders, no I/O.
//!
//! Decoders read untrusted bytes and must answer `Corrupted` (or `None`),
//! never panic, so indexing that can go out of bounds is denied here; the
//! few encoder functions that index buffers they sized themselves allow it
//! one by one, saying why.
#![deny(clippy::indexing_slicing)]

pub mod checksum;
pub mod coding;
pub mod comparator;
pub mod compression;
pub mod data_page;
pub mod index_page;
pub mod key_range;
pub mod manifest;
pub mod names;
pub mod overflow;
pub mod page;
pub mod restarts;
pub mod table_ident;
pub mod ttl;
