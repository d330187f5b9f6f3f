//! The data disk: the first virtio-blk device.
//!
//! Today it holds the boot counter at LBA 0 (see
//! `tdsigner_node::boot_counter`); the sealed store will take the LBAs after
//! it. Errors from the device are reported, never retried blindly.

use tdsigner_node::boot_counter::{self, SECTOR_SIZE};
use virtio_drivers::device::blk::VirtIOBlk;

use crate::virtio::hal::KernelHal;
use crate::virtio::transport::PlatformPciTransport;

/// The data disk.
pub struct Disk {
    blk: VirtIOBlk<KernelHal, PlatformPciTransport>,
}

/// Disk failures, with the step that failed.
#[derive(Debug)]
pub enum DiskError {
    Init(virtio_drivers::Error),
    ReadOnly,
    Read(virtio_drivers::Error),
    Write(virtio_drivers::Error),
    Flush(virtio_drivers::Error),
    BootCounter(boot_counter::BootCounterError),
}

impl core::fmt::Display for DiskError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DiskError::Init(e) => write!(f, "virtio-blk init: {e}"),
            DiskError::ReadOnly => write!(f, "the data disk is read-only"),
            DiskError::Read(e) => write!(f, "disk read: {e}"),
            DiskError::Write(e) => write!(f, "disk write: {e}"),
            DiskError::Flush(e) => write!(f, "disk flush: {e}"),
            DiskError::BootCounter(e) => write!(f, "{e}"),
        }
    }
}

impl Disk {
    pub fn new(transport: PlatformPciTransport) -> Result<Disk, DiskError> {
        let blk = VirtIOBlk::new(transport).map_err(DiskError::Init)?;
        if blk.readonly() {
            return Err(DiskError::ReadOnly);
        }
        Ok(Disk { blk })
    }

    /// Capacity in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.blk.capacity()
    }

    /// Reads the boot counter, increments it, writes it back and flushes.
    /// Returns this boot's number.
    pub fn count_boot(&mut self) -> Result<u64, DiskError> {
        let mut sector = [0u8; SECTOR_SIZE];
        self.blk.read_blocks(0, &mut sector).map_err(DiskError::Read)?;
        let (count, updated) = boot_counter::next_boot(&sector).map_err(DiskError::BootCounter)?;
        self.blk.write_blocks(0, &updated).map_err(DiskError::Write)?;
        self.blk.flush().map_err(DiskError::Flush)?;
        Ok(count)
    }
}
