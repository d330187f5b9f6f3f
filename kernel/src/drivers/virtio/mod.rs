//! virtio over PCI, driven by the `virtio-drivers` crate with our own
//! transport ([`transport`]) and DMA layer ([`hal`]), both built for TDX:
//! register access goes through the platform (explicit TDVMCALL MMIO under
//! TDX), and every buffer the device sees lives in the shared DMA pool.

pub mod hal;
pub mod transport;
