//! Block devices: the sector-granular storage the sealed store is written on.
//!
//! The store only ever needs four operations — capacity, read whole sectors, write whole
//! sectors, flush — so that is the whole [`BlockDevice`] trait. The kernel implements it over
//! virtio-blk; this crate ships [`MemDevice`] (tests, with crash and corruption injection) and,
//! with the `std` feature, [`FileDevice`] (a file on the host).
//!
//! Contract the store relies on (the kernel's implementation must keep it):
//! - `write_sectors` may be held in a volatile cache; only after `flush` returns `Ok` are all
//!   writes issued before it durable.
//! - A crash may persist any subset of the writes issued since the last flush, and the sector
//!   being written at the crash may be torn (partly old, partly new). The store is designed for
//!   exactly this model (see `docs/DESIGN.md`).

mod mem;
pub use mem::{CrashMode, MemDevice};

#[cfg(feature = "std")]
mod file;
#[cfg(feature = "std")]
pub use file::FileDevice;

/// Size of one sector in bytes. virtio-blk always addresses 512-byte sectors.
pub const SECTOR_SIZE: usize = 512;

/// Which device operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceOp {
    Read,
    Write,
    Flush,
}

/// Errors a [`BlockDevice`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The buffer is not a whole number of sectors.
    #[error("buffer of {len} bytes is not a whole number of {SECTOR_SIZE}-byte sectors")]
    Unaligned { len: usize },
    /// The request reaches past the end of the device.
    #[error("sectors {start}..{start}+{sectors} are beyond the device's {capacity} sectors")]
    OutOfRange {
        start: u64,
        sectors: u64,
        capacity: u64,
    },
    /// The device (or its transport) reported a failure; `code` is device-specific
    /// (for virtio-blk: the request status byte).
    #[error("device {op:?} failed with code {code}")]
    Io { op: DeviceOp, code: u32 },
    /// Test devices only: power was cut, nothing more is accepted until the crash is applied.
    #[error("device lost power")]
    PoweredOff,
}

/// A block device addressed in [`SECTOR_SIZE`]-byte sectors.
pub trait BlockDevice {
    /// Number of sectors on the device.
    fn capacity_sectors(&self) -> u64;
    /// Reads `buf.len() / SECTOR_SIZE` sectors starting at sector `start`.
    fn read_sectors(&mut self, start: u64, buf: &mut [u8]) -> Result<(), DeviceError>;
    /// Writes `data.len() / SECTOR_SIZE` sectors starting at sector `start` (not durable until `flush`).
    fn write_sectors(&mut self, start: u64, data: &[u8]) -> Result<(), DeviceError>;
    /// Makes every write issued so far durable.
    fn flush(&mut self) -> Result<(), DeviceError>;
}

impl<D: BlockDevice + ?Sized> BlockDevice for &mut D {
    fn capacity_sectors(&self) -> u64 {
        (**self).capacity_sectors()
    }
    fn read_sectors(&mut self, start: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        (**self).read_sectors(start, buf)
    }
    fn write_sectors(&mut self, start: u64, data: &[u8]) -> Result<(), DeviceError> {
        (**self).write_sectors(start, data)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        (**self).flush()
    }
}

/// Checks that a `len`-byte transfer at sector `start` is whole sectors and within `capacity`;
/// returns the number of sectors. Device implementations share this so they agree on errors.
pub fn check_transfer(start: u64, len: usize, capacity: u64) -> Result<u64, DeviceError> {
    if !len.is_multiple_of(SECTOR_SIZE) {
        return Err(DeviceError::Unaligned { len });
    }
    let sectors = (len / SECTOR_SIZE) as u64;
    match start.checked_add(sectors) {
        Some(end) if end <= capacity => Ok(sectors),
        _ => Err(DeviceError::OutOfRange {
            start,
            sectors,
            capacity,
        }),
    }
}
