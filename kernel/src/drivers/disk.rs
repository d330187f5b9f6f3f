//! The data disk: the first virtio-blk device.
//!
//! Layout: LBA 0 holds the boot counter (see `tdsigner_node::boot_counter`),
//! LBAs 1..[`STORE_FIRST_LBA`] are reserved, and the sealed store owns every
//! LBA from [`STORE_FIRST_LBA`] on, through [`StoreWindow`]. Errors from the
//! device are reported, never retried blindly.
//!
//! Reads and writes use `virtio-drivers`' non-blocking calls and wait under the
//! kernel's deadline ([`wait_for_device`]): its blocking calls spin without
//! one, and skip the notification when the device's used ring says so (a
//! host can set that flag in shared memory), which the transport's own wait
//! would not see. Flush is the one blocking call left (0.13 has no
//! non-blocking flush): it runs under the arch layer's timer watchdog
//! ([`crate::arch::with_watchdog`]), which ends the guest with one line naming
//! it if the device never answers.

use tdsigner_node::boot_counter::{self, SECTOR_SIZE};
use tdsigner_store::device::DeviceOp;
use tdsigner_store::{BlockDevice, DeviceError};
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk};

use crate::drivers::virtio::hal::KernelHal;
use crate::drivers::virtio::transport::{wait_for_device, PlatformPciTransport, DEVICE_DEADLINE_MS};

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

    /// Reads whole sectors from `lba`, waiting for the device under the deadline.
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), virtio_drivers::Error> {
        let lba = usize::try_from(lba).map_err(|_| virtio_drivers::Error::InvalidParam)?;
        let (mut req, mut resp) = (BlkReq::default(), BlkResp::default());
        // SAFETY: `req`, `buf` and `resp` stay in place and untouched until
        // `complete_read_blocks`, which always runs: the wait sees a completion or halts.
        let token = unsafe { self.blk.read_blocks_nb(lba, &mut req, buf, &mut resp) }?;
        wait_for_device("virtio-blk", "read", || self.blk.peek_used().is_some());
        // SAFETY: the buffers given to `read_blocks_nb` for this token.
        unsafe { self.blk.complete_read_blocks(token, &req, buf, &mut resp) }
    }

    /// Writes whole sectors at `lba`, waiting for the device under the deadline.
    fn write(&mut self, lba: u64, data: &[u8]) -> Result<(), virtio_drivers::Error> {
        let lba = usize::try_from(lba).map_err(|_| virtio_drivers::Error::InvalidParam)?;
        let (mut req, mut resp) = (BlkReq::default(), BlkResp::default());
        // SAFETY: as in `read`: the buffers stay put until `complete_write_blocks`.
        let token = unsafe { self.blk.write_blocks_nb(lba, &mut req, data, &mut resp) }?;
        wait_for_device("virtio-blk", "write", || self.blk.peek_used().is_some());
        // SAFETY: the buffers given to `write_blocks_nb` for this token.
        unsafe { self.blk.complete_write_blocks(token, &req, data, &mut resp) }
    }

    /// Flushes the device's write cache, under the watchdog (see the module doc).
    fn flush(&mut self) -> Result<(), virtio_drivers::Error> {
        crate::arch::with_watchdog("virtio-blk: flush", DEVICE_DEADLINE_MS, || self.blk.flush())
    }

    /// Reads the boot counter, increments it, writes it back and flushes.
    /// Returns this boot's number.
    pub fn count_boot(&mut self) -> Result<u64, DiskError> {
        let mut sector = [0u8; SECTOR_SIZE];
        self.read(0, &mut sector).map_err(DiskError::Read)?;
        let (count, updated) = boot_counter::next_boot(&sector).map_err(DiskError::BootCounter)?;
        self.write(0, &updated).map_err(DiskError::Write)?;
        self.flush().map_err(DiskError::Flush)?;
        Ok(count)
    }
}

/// First LBA of the sealed store's window.
pub const STORE_FIRST_LBA: u64 = 8;
/// Largest single transfer handed to the device: bounce buffers come from the
/// shared DMA pool, so transfers are split into pieces it can always serve.
const MAX_TRANSFER: usize = 64 * 1024;

/// The part of the disk the sealed store owns, seen as a device of its own
/// starting at sector 0.
pub struct StoreWindow {
    disk: &'static mut Disk,
}

impl StoreWindow {
    pub fn new(disk: &'static mut Disk) -> StoreWindow {
        StoreWindow { disk }
    }
}

/// virtio-blk status codes where the driver reports one (virtio 1.2
/// §5.2.6: 1 = IOERR, 2 = UNSUPP); anything else from the transport is 255.
fn device_error(op: DeviceOp) -> impl Fn(virtio_drivers::Error) -> DeviceError {
    move |e| DeviceError::Io {
        op,
        code: match e {
            virtio_drivers::Error::IoError => 1,
            virtio_drivers::Error::Unsupported => 2,
            _ => 255,
        },
    }
}

impl BlockDevice for StoreWindow {
    fn capacity_sectors(&self) -> u64 {
        self.disk.sectors().saturating_sub(STORE_FIRST_LBA)
    }

    fn read_sectors(&mut self, start: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        tdsigner_store::device::check_transfer(start, buf.len(), self.capacity_sectors())?;
        for (i, piece) in buf.chunks_mut(MAX_TRANSFER).enumerate() {
            let lba = STORE_FIRST_LBA + start + (i * MAX_TRANSFER / SECTOR_SIZE) as u64;
            self.disk.read(lba, piece).map_err(device_error(DeviceOp::Read))?;
        }
        Ok(())
    }

    fn write_sectors(&mut self, start: u64, data: &[u8]) -> Result<(), DeviceError> {
        tdsigner_store::device::check_transfer(start, data.len(), self.capacity_sectors())?;
        for (i, piece) in data.chunks(MAX_TRANSFER).enumerate() {
            let lba = STORE_FIRST_LBA + start + (i * MAX_TRANSFER / SECTOR_SIZE) as u64;
            self.disk.write(lba, piece).map_err(device_error(DeviceOp::Write))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.disk.flush().map_err(device_error(DeviceOp::Flush))
    }
}
