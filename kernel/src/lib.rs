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
//! its modules), which only builds for `x86_64-unknown-uefi`. Each of these
//! files sits in the folder of the layer it serves (`drivers/dma.rs`,
//! `arch/page_pool.rs`, …), so a layer's folder holds all of its code; the
//! crate paths stay flat (`tdsigner_kernel::dma`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

#[path = "platform/acpi_pm.rs"]
pub mod acpi_pm;
#[path = "boot/ccel.rs"]
pub mod ccel;
#[path = "arch/dma.rs"]
pub mod dma;
#[path = "platform/fixed_text.rs"]
pub mod fixed_text;
#[path = "arch/page_pool.rs"]
pub mod page_pool;
#[path = "arch/table_budget.rs"]
pub mod table_budget;
#[path = "boot/utf16.rs"]
pub mod utf16;
#[path = "drivers/virtio_features.rs"]
pub mod virtio_features;
