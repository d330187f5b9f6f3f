//! The boot counter: one 512-byte sector at LBA 0 of the data disk.
//!
//! It exists to prove the block path end to end (read, increment, write,
//! flush) and to let tests see a restart. It is *not* a security counter: the
//! host owns the disk and can rewrite it. Rollback protection belongs to the
//! sealed store's generation, which is bound into attestation.
//!
//! Layout (little-endian):
//!
//! | bytes   | field                                   |
//! |---------|-----------------------------------------|
//! | 0..8    | magic `TDSBOOT\0`                       |
//! | 8..12   | format version, 1                       |
//! | 12..20  | boot count                              |
//! | 20..52  | SHA-256 of bytes 0..20                  |
//! | 52..512 | zero                                    |
//!
//! An all-zero sector is a fresh disk (count 0). Anything else that does not
//! match is refused rather than overwritten, so the image never clobbers a
//! disk that holds something else.

use sha2::{Digest, Sha256};

/// Sector size the layout assumes.
pub const SECTOR_SIZE: usize = 512;
const MAGIC: [u8; 8] = *b"TDSBOOT\0";
const FORMAT_VERSION: u32 = 1;

/// Why the sector was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootCounterError {
    /// The sector holds something that is not a boot counter.
    ForeignData,
    /// A boot counter of another format version.
    UnsupportedVersion(u32),
    /// Magic and version match but the checksum does not: corrupted.
    ChecksumMismatch,
    /// The count cannot be incremented.
    Overflow,
}

impl core::fmt::Display for BootCounterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootCounterError::ForeignData => {
                write!(f, "LBA 0 holds data that is not a tdsigner boot counter; refusing to overwrite it")
            }
            BootCounterError::UnsupportedVersion(v) => write!(f, "boot counter format version {v} is not supported"),
            BootCounterError::ChecksumMismatch => write!(f, "boot counter sector is corrupted (checksum mismatch)"),
            BootCounterError::Overflow => write!(f, "boot counter overflow"),
        }
    }
}

/// Reads the count stored in `sector` (0 for a fresh, all-zero sector).
pub fn decode(sector: &[u8; SECTOR_SIZE]) -> Result<u64, BootCounterError> {
    if sector.iter().all(|b| *b == 0) {
        return Ok(0);
    }
    if sector[0..8] != MAGIC {
        return Err(BootCounterError::ForeignData);
    }
    let version = u32::from_le_bytes([sector[8], sector[9], sector[10], sector[11]]);
    if version != FORMAT_VERSION {
        return Err(BootCounterError::UnsupportedVersion(version));
    }
    let digest = Sha256::digest(&sector[0..20]);
    if sector[20..52] != digest[..] || sector[52..].iter().any(|b| *b != 0) {
        return Err(BootCounterError::ChecksumMismatch);
    }
    let mut count = [0u8; 8];
    count.copy_from_slice(&sector[12..20]);
    Ok(u64::from_le_bytes(count))
}

/// The sector that stores `count`.
pub fn encode(count: u64) -> [u8; SECTOR_SIZE] {
    let mut sector = [0u8; SECTOR_SIZE];
    sector[0..8].copy_from_slice(&MAGIC);
    sector[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    sector[12..20].copy_from_slice(&count.to_le_bytes());
    let digest = Sha256::digest(&sector[0..20]);
    sector[20..52].copy_from_slice(&digest);
    sector
}

/// Given the sector read at boot, returns this boot's number and the sector to
/// write back.
pub fn next_boot(sector: &[u8; SECTOR_SIZE]) -> Result<(u64, [u8; SECTOR_SIZE]), BootCounterError> {
    let count = decode(sector)?.checked_add(1).ok_or(BootCounterError::Overflow)?;
    Ok((count, encode(count)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_disk_starts_at_one() {
        let (n, s) = next_boot(&[0u8; SECTOR_SIZE]).unwrap();
        assert_eq!(n, 1);
        let (n2, _) = next_boot(&s).unwrap();
        assert_eq!(n2, 2);
    }

    #[test]
    fn detects_every_single_bit_flip() {
        let good = encode(41);
        for byte in 0..SECTOR_SIZE {
            for bit in 0..8 {
                let mut s = good;
                s[byte] ^= 1 << bit;
                assert!(decode(&s).is_err(), "flip at {byte}.{bit} accepted");
            }
        }
    }

    #[test]
    fn refuses_foreign_data_and_other_versions() {
        let mut s = [0u8; SECTOR_SIZE];
        s[0] = 0xeb; // e.g. a boot sector
        assert_eq!(decode(&s), Err(BootCounterError::ForeignData));
        let mut v2 = encode(1);
        v2[8] = 2;
        assert_eq!(decode(&v2), Err(BootCounterError::UnsupportedVersion(2)));
        assert_eq!(next_boot(&encode(u64::MAX)), Err(BootCounterError::Overflow));
    }
}
