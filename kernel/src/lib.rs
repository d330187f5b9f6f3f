//! The parts of the tdsigner kernel that are plain logic, kept apart from the
//! hardware code so they carry host unit tests.
//!
//! - [`acpi_pm`]: finding the ACPI PM timer in the firmware's tables (TSC
//!   calibration on platforms without CPUID 0x15).
//! - [`ccel`]: the firmware's CC event log through the ACPI `CCEL` table.
//! - [`dma`]: device, host and CPU addresses of the shared DMA pool.
//! - [`fixed_text`]: heap-free message formatting for the fatal path.
//! - [`page_pool`]: the page-granular allocator behind the DMA (shared-memory)
//!   pool that virtio bounce buffers and queues come from.
//! - [`table_budget`]: how many page-table pages the identity map can need.
//! - [`virtio_features`]: the feature bits the kernel accepts beyond `virtio-drivers`' own.
//! - [`utf16`]: decoding of the UEFI load options (the kernel command line).
//!
//! Everything that touches hardware lives in the binary (`src/main.rs` and
//! its modules), which only builds for `x86_64-unknown-uefi`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod acpi_pm;
pub mod ccel;
pub mod dma;
pub mod fixed_text;
pub mod page_pool;
pub mod table_budget;
pub mod utf16;
pub mod virtio_features;
