//! Shared helpers for the store's integration tests.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::SeedableRng;
use tdsigner_store::device::MemDevice;
use tdsigner_store::format::{BlockHeader, BLOCK_HEADER_LEN};
use tdsigner_store::{
    BlockDevice, DeviceError, FormatOptions, OpenOptions, OpenReport, RecordKind, SealingKey,
    Store, StoreError, SECTOR_SIZE,
};

pub const NODE: &[u8] = b"node-a.near";
pub const KIND: RecordKind = RecordKind(7);

pub fn key() -> SealingKey {
    SealingKey::from_bytes([0x42; 32])
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn fresh(sectors: u64) -> Store<MemDevice> {
    Store::format(
        MemDevice::new(sectors),
        &key(),
        NODE,
        FormatOptions::default(),
        &mut rng(1),
    )
    .expect("format")
}

pub fn reopen(dev: MemDevice) -> Result<(Store<MemDevice>, OpenReport), StoreError> {
    Store::open(dev, &key(), NODE, OpenOptions::default(), &mut rng(2))
}

/// Location of every committed block in the active region: (absolute sector, sectors).
pub fn blocks(image: &[u8], region_start: u64, log_end: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < log_end {
        let at = ((region_start + offset) as usize) * SECTOR_SIZE;
        let h = BlockHeader::parse(&image[at..at + BLOCK_HEADER_LEN]).expect("block header");
        out.push((region_start + offset, h.block_sectors()));
        offset += h.block_sectors();
    }
    out
}

/// Wraps a device and records the nonce of every block header written through it.
pub struct NonceRecorder<D> {
    pub inner: D,
    pub nonces: Vec<[u8; 12]>,
}

impl<D: BlockDevice> BlockDevice for NonceRecorder<D> {
    fn capacity_sectors(&self) -> u64 {
        self.inner.capacity_sectors()
    }
    fn read_sectors(&mut self, start: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.inner.read_sectors(start, buf)
    }
    fn write_sectors(&mut self, start: u64, data: &[u8]) -> Result<(), DeviceError> {
        if let Ok(h) = BlockHeader::parse(data) {
            self.nonces.push(h.nonce);
        }
        self.inner.write_sectors(start, data)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.inner.flush()
    }
}
