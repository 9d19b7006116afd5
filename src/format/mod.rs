//! The on-disk format: pure encoders and decoders, no I/O.

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
