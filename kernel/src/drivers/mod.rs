//! **Layer: drivers** (devices, above `boot`, `arch` and `platform`).
//!
//! - [`pci`]: configuration space through the platform's port I/O, bus-0 scan;
//! - [`virtio`]: our virtio transport and DMA layer for `virtio-drivers`;
//! - [`disk`]: the data disk (boot counter, sealed-store window).
//!
//! The pure part `tdsigner_kernel::virtio_features` lives
//! in this folder too but belongs to the library crate, for host tests. Drivers
//! report device failures through `platform::fatal`; they never call the
//! program above them.

pub mod disk;
pub mod pci;
pub mod virtio;
