//! tdsigner-store: the sealed key store of the tdsigner image, and where its key comes from.
//!
//! - [`device`]: the block-device trait the kernel implements over virtio-blk, a file device
//!   (host, `std` feature) and an in-memory device with crash and corruption injection.
//! - [`store`]: the store itself — AES-256-GCM sealed, append-only log of records on two regions,
//!   crash-safe commits and compaction, a monotonic generation for rollback detection.
//! - [`format`]: the on-disk layout and its parsers.
//! - [`keysource`]: sealing-key sources (`test`, `local-sgx`) as sans-IO state machines.
//! - [`events`]: the RTMR3 runtime events this crate defines (`tdsigner.key-source`,
//!   `tdsigner.store-generation`).
//!
//! Design, threat model and what TDX can and cannot guarantee about rollback: `docs/DESIGN.md`.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod device;
pub mod error;
pub mod events;
pub mod format;
mod keys;
pub mod keysource;
mod secret;
pub mod store;

pub use device::{BlockDevice, DeviceError, SECTOR_SIZE};
pub use error::StoreError;
pub use events::RuntimeEvent;
pub use keysource::{KeySourceKind, SealingKeySource};
pub use secret::{SealingKey, SecretBytes};
pub use store::{Change, FormatOptions, OpenOptions, OpenReport, RecordKind, Store};
