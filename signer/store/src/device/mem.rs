//! An in-memory block device with a volatile write cache and fault injection, for tests and
//! benchmarks: power cuts at a chosen write, crashes that lose or tear unflushed writes, bit flips,
//! and whole-image snapshots (to put an old copy of the disk back).

use alloc::vec;
use alloc::vec::Vec;

use super::{check_transfer, BlockDevice, DeviceError, SECTOR_SIZE};

/// What survives of the unflushed writes when [`MemDevice::crash`] is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every write since the last flush is lost.
    LoseUnflushed,
    /// Every write since the last flush happens to reach the medium.
    KeepUnflushed,
    /// Each unflushed sector write independently survives or not, and one of them may be torn
    /// (a prefix of the new bytes over the old sector). Deterministic for a given seed.
    Random { seed: u64 },
}

/// Sector write held in the volatile cache.
#[derive(Clone)]
struct PendingWrite {
    sector: u64,
    data: Vec<u8>,
}

/// In-memory [`BlockDevice`]. Reads see cached writes; `flush` makes them durable;
/// [`MemDevice::crash`] decides what of the cache survives.
#[derive(Clone)]
pub struct MemDevice {
    durable: Vec<u8>,
    pending: Vec<PendingWrite>,
    /// Sector writes still accepted before the power is cut (`None` = unlimited).
    writes_before_power_cut: Option<u64>,
    powered_off: bool,
    /// Counters, for benchmarks and tests.
    pub sectors_written: u64,
    pub sectors_read: u64,
    pub flushes: u64,
}

impl core::fmt::Debug for MemDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemDevice")
            .field("sectors", &self.capacity_sectors())
            .field("pending_writes", &self.pending.len())
            .field("powered_off", &self.powered_off)
            .finish()
    }
}

impl MemDevice {
    /// A zero-filled device of `sectors` sectors.
    pub fn new(sectors: u64) -> Self {
        Self::from_image(vec![0u8; sectors as usize * SECTOR_SIZE])
    }

    /// A device whose durable contents are `image` (its length is rounded down to whole sectors).
    pub fn from_image(mut image: Vec<u8>) -> Self {
        image.truncate(image.len() / SECTOR_SIZE * SECTOR_SIZE);
        Self {
            durable: image,
            pending: Vec::new(),
            writes_before_power_cut: None,
            powered_off: false,
            sectors_written: 0,
            sectors_read: 0,
            flushes: 0,
        }
    }

    /// The durable contents (what a crash with [`CrashMode::LoseUnflushed`] would leave).
    pub fn durable_image(&self) -> &[u8] {
        &self.durable
    }

    /// Mutable access to the durable contents, to corrupt them (an attacker or a bad disk).
    pub fn durable_image_mut(&mut self) -> &mut [u8] {
        &mut self.durable
    }

    /// Flips one bit of the durable contents.
    pub fn flip_bit(&mut self, byte: usize, bit: u8) {
        if let Some(b) = self.durable.get_mut(byte) {
            *b ^= 1 << (bit % 8);
        }
    }

    /// Shrinks the device to `sectors` sectors (a truncated disk image).
    pub fn truncate(&mut self, sectors: u64) {
        self.durable.truncate(sectors as usize * SECTOR_SIZE);
        self.pending.retain(|w| w.sector < sectors);
    }

    /// Cuts the power after `writes` more sector writes: later writes and flushes fail with
    /// [`DeviceError::PoweredOff`] until [`MemDevice::crash`] is applied.
    pub fn cut_power_after(&mut self, writes: u64) {
        self.writes_before_power_cut = Some(writes);
    }

    /// Number of sector writes not yet flushed.
    pub fn unflushed_writes(&self) -> usize {
        self.pending.len()
    }

    /// Applies a crash: resolves the volatile cache according to `mode` and powers the device back on.
    pub fn crash(&mut self, mode: CrashMode) {
        let pending = core::mem::take(&mut self.pending);
        match mode {
            CrashMode::LoseUnflushed => {}
            CrashMode::KeepUnflushed => {
                for w in &pending {
                    self.store_durable(w.sector, &w.data);
                }
            }
            CrashMode::Random { seed } => {
                let mut rng = SplitMix64(seed);
                let torn = if pending.is_empty() {
                    None
                } else {
                    Some(rng.next() % pending.len() as u64)
                };
                for (i, w) in pending.iter().enumerate() {
                    if Some(i as u64) == torn && rng.next().is_multiple_of(2) {
                        // Torn sector: a prefix of the new contents over the old ones.
                        let cut = (rng.next() % SECTOR_SIZE as u64) as usize;
                        let start = w.sector as usize * SECTOR_SIZE;
                        if let Some(dst) = self.durable.get_mut(start..start + cut) {
                            dst.copy_from_slice(&w.data[..cut]);
                        }
                    } else if rng.next().is_multiple_of(2) {
                        self.store_durable(w.sector, &w.data);
                    }
                }
            }
        }
        self.powered_off = false;
        self.writes_before_power_cut = None;
    }

    fn store_durable(&mut self, sector: u64, data: &[u8]) {
        let start = sector as usize * SECTOR_SIZE;
        if let Some(dst) = self.durable.get_mut(start..start + SECTOR_SIZE) {
            dst.copy_from_slice(data);
        }
    }
}

impl BlockDevice for MemDevice {
    fn capacity_sectors(&self) -> u64 {
        (self.durable.len() / SECTOR_SIZE) as u64
    }

    fn read_sectors(&mut self, start: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        check_transfer(start, buf.len(), self.capacity_sectors())?;
        let offset = start as usize * SECTOR_SIZE;
        buf.copy_from_slice(&self.durable[offset..offset + buf.len()]);
        // Later cached writes win over earlier ones and over the durable contents.
        for w in &self.pending {
            if w.sector >= start {
                let rel = (w.sector - start) as usize * SECTOR_SIZE;
                if let Some(dst) = buf.get_mut(rel..rel + SECTOR_SIZE) {
                    dst.copy_from_slice(&w.data);
                }
            }
        }
        self.sectors_read += (buf.len() / SECTOR_SIZE) as u64;
        Ok(())
    }

    fn write_sectors(&mut self, start: u64, data: &[u8]) -> Result<(), DeviceError> {
        if self.powered_off {
            return Err(DeviceError::PoweredOff);
        }
        check_transfer(start, data.len(), self.capacity_sectors())?;
        for (i, chunk) in data.chunks_exact(SECTOR_SIZE).enumerate() {
            if let Some(left) = self.writes_before_power_cut.as_mut() {
                if *left == 0 {
                    self.powered_off = true;
                    return Err(DeviceError::PoweredOff);
                }
                *left -= 1;
            }
            self.pending.push(PendingWrite {
                sector: start + i as u64,
                data: chunk.to_vec(),
            });
            self.sectors_written += 1;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        if self.powered_off {
            return Err(DeviceError::PoweredOff);
        }
        let pending = core::mem::take(&mut self.pending);
        for w in &pending {
            self.store_durable(w.sector, &w.data);
        }
        self.flushes += 1;
        Ok(())
    }
}

/// Small deterministic generator for crash outcomes (not for keys).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflushed_writes_are_visible_then_lost_on_crash() {
        let mut dev = MemDevice::new(4);
        dev.write_sectors(1, &[7u8; SECTOR_SIZE]).unwrap();
        let mut buf = [0u8; SECTOR_SIZE];
        dev.read_sectors(1, &mut buf).unwrap();
        assert_eq!(buf, [7u8; SECTOR_SIZE]);
        dev.crash(CrashMode::LoseUnflushed);
        dev.read_sectors(1, &mut buf).unwrap();
        assert_eq!(buf, [0u8; SECTOR_SIZE]);
    }

    #[test]
    fn power_cut_stops_writes_mid_request() {
        let mut dev = MemDevice::new(8);
        dev.cut_power_after(2);
        assert_eq!(
            dev.write_sectors(0, &[1u8; 3 * SECTOR_SIZE]),
            Err(DeviceError::PoweredOff)
        );
        assert_eq!(dev.unflushed_writes(), 2);
        assert_eq!(dev.flush(), Err(DeviceError::PoweredOff));
        dev.crash(CrashMode::KeepUnflushed);
        let mut buf = [0u8; 3 * SECTOR_SIZE];
        dev.read_sectors(0, &mut buf).unwrap();
        assert!(buf[..2 * SECTOR_SIZE].iter().all(|&b| b == 1));
        assert!(buf[2 * SECTOR_SIZE..].iter().all(|&b| b == 0));
    }

    #[test]
    fn out_of_range_and_unaligned_are_rejected() {
        let mut dev = MemDevice::new(2);
        assert!(matches!(
            dev.write_sectors(2, &[0u8; SECTOR_SIZE]),
            Err(DeviceError::OutOfRange { .. })
        ));
        assert!(matches!(
            dev.write_sectors(0, &[0u8; 10]),
            Err(DeviceError::Unaligned { len: 10 })
        ));
        assert!(matches!(
            dev.read_sectors(u64::MAX, &mut [0u8; SECTOR_SIZE]),
            Err(DeviceError::OutOfRange { .. })
        ));
    }
}
