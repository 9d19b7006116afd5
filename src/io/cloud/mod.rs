//! The cloud tier's I/O: an S3-compatible object store reached through
//! `object_store` on a runtime of `cloud_request_threads` threads that the
//! store owns (see [`client`]), the configuration derived from `KvOptions`
//! ([`config`]) and the classification of failures into `KvError` codes
//! ([`error`]).

pub mod client;
pub mod config;
pub mod error;

pub use client::{CloudClient, CloudHandle, CloudService, CondPut, PART_SIZE, SINGLE_PUT_MAX};
pub use config::CloudConfig;
#[cfg(feature = "internals")]
pub use config::RetrySchedule;
