//! A [`BlockDevice`] over a host file (the `std` feature): the same on-disk bytes the image
//! writes to its virtio-blk disk, so a host tool can create, inspect or back up a store.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{check_transfer, BlockDevice, DeviceError, DeviceOp, SECTOR_SIZE};

/// A file used as a block device; its size is a whole number of sectors.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    sectors: u64,
}

fn io_code(op: DeviceOp, e: &std::io::Error) -> DeviceError {
    DeviceError::Io {
        op,
        code: e.raw_os_error().map(|c| c as u32).unwrap_or(u32::MAX),
    }
}

impl FileDevice {
    /// Opens an existing file; its length is rounded down to whole sectors.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let sectors = file.metadata()?.len() / SECTOR_SIZE as u64;
        Ok(Self { file, sectors })
    }

    /// Creates (or truncates) a zero-filled file of `sectors` sectors.
    pub fn create(path: &Path, sectors: u64) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(sectors * SECTOR_SIZE as u64)?;
        file.sync_all()?;
        Ok(Self { file, sectors })
    }
}

impl BlockDevice for FileDevice {
    fn capacity_sectors(&self) -> u64 {
        self.sectors
    }

    fn read_sectors(&mut self, start: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        check_transfer(start, buf.len(), self.sectors)?;
        self.file
            .seek(SeekFrom::Start(start * SECTOR_SIZE as u64))
            .and_then(|_| self.file.read_exact(buf))
            .map_err(|e| io_code(DeviceOp::Read, &e))
    }

    fn write_sectors(&mut self, start: u64, data: &[u8]) -> Result<(), DeviceError> {
        check_transfer(start, data.len(), self.sectors)?;
        self.file
            .seek(SeekFrom::Start(start * SECTOR_SIZE as u64))
            .and_then(|_| self.file.write_all(data))
            .map_err(|e| io_code(DeviceOp::Write, &e))
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.file
            .sync_data()
            .map_err(|e| io_code(DeviceOp::Flush, &e))
    }
}
