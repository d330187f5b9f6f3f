//! Authenticode digest of a PE/COFF image exactly as TDVF measures a loaded UEFI image into
//! RTMR1 (edk2 `MeasurePeImageAndExtend`, OvmfPkg/IntelTdx/TdTcg2Dxe/MeasureBootPeCoff.c):
//!
//! 1. hash the headers from offset 0 up to the optional header's CheckSum field;
//! 2. skip CheckSum (4 bytes); if the optional header has a security data directory
//!    (NumberOfRvaAndSizes > 4), hash up to that directory entry, skip its 8 bytes, and hash
//!    the rest up to SizeOfHeaders; otherwise hash from CheckSum's end to SizeOfHeaders;
//! 3. hash every section with SizeOfRawData > 0 in ascending PointerToRawData order (stable
//!    for equal offsets), `SizeOfRawData` bytes from `PointerToRawData`;
//! 4. with `sum = SizeOfHeaders + Σ SizeOfRawData`: if the file is longer than `sum`, hash the
//!    `file_len - cert_size - sum` bytes at offset `sum` (cert_size = the security directory's
//!    Size, or 0 without one); a file shorter than `sum + cert_size` is rejected, as edk2 does.
//!
//! No padding is added (edk2 adds none, unlike some signing tools' hashing of unsigned files).
//! The input is hostile: every offset is bounds-checked and errors say which field failed.

use alloc::vec::Vec;
use core::fmt;

use sha2::digest::{Digest, Output};
use sha2::Sha384;

use crate::rtmr::Sha384Digest;

/// Largest image accepted (the image and firmware are a few MiB).
pub const MAX_IMAGE_LEN: usize = 256 * 1024 * 1024;

const PE32_MAGIC: u16 = 0x10b;
const PE32_PLUS_MAGIC: u16 = 0x20b;
const SECURITY_DIRECTORY: u32 = 4;

/// Why an image was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeError {
    /// Larger than [`MAX_IMAGE_LEN`].
    TooLarge(usize),
    /// A field or range lies outside the file; names the field.
    OutOfBounds(&'static str),
    /// No "PE\0\0" signature where the DOS header points.
    BadSignature,
    /// Optional header magic is neither PE32 nor PE32+.
    BadOptionalHeaderMagic(u16),
    /// SizeOfHeaders ends before the fields the hash skips.
    HeadersTooSmall,
    /// File shorter than headers + sections + certificate table (edk2 refuses to measure it).
    ShorterThanDeclared,
}

impl fmt::Display for PeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeError::TooLarge(n) => write!(f, "image of {n} bytes is larger than {MAX_IMAGE_LEN}"),
            PeError::OutOfBounds(what) => write!(f, "PE field or range out of bounds: {what}"),
            PeError::BadSignature => write!(f, "no PE signature"),
            PeError::BadOptionalHeaderMagic(m) => write!(f, "optional header magic {m:#x} is not PE32/PE32+"),
            PeError::HeadersTooSmall => write!(f, "SizeOfHeaders ends inside the optional header"),
            PeError::ShorterThanDeclared => {
                write!(f, "file shorter than headers + sections + certificate table")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PeError {}

fn read_u16(data: &[u8], at: usize, what: &'static str) -> Result<u16, PeError> {
    let end = at.checked_add(2).ok_or(PeError::OutOfBounds(what))?;
    let b = data.get(at..end).ok_or(PeError::OutOfBounds(what))?;
    Ok(u16::from_le_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)]))
}

fn read_u32(data: &[u8], at: usize, what: &'static str) -> Result<u32, PeError> {
    let end = at.checked_add(4).ok_or(PeError::OutOfBounds(what))?;
    let b: [u8; 4] = data
        .get(at..end)
        .and_then(|s| s.try_into().ok())
        .ok_or(PeError::OutOfBounds(what))?;
    Ok(u32::from_le_bytes(b))
}

fn range<'a>(data: &'a [u8], start: usize, len: usize, what: &'static str) -> Result<&'a [u8], PeError> {
    let end = start.checked_add(len).ok_or(PeError::OutOfBounds(what))?;
    data.get(start..end).ok_or(PeError::OutOfBounds(what))
}

fn usize_of(v: u32) -> usize {
    // usize is at least 32 bits on every target this crate builds for.
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Facts about a PE image the measurement calculator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeInfo {
    /// true for PE32+.
    pub pe32_plus: bool,
    /// Optional-header Subsystem (10 = EFI application).
    pub subsystem: u16,
    /// Number of sections.
    pub sections: u16,
}

/// The edk2/TDVF Authenticode digest with hash `D`.
pub fn authenticode_digest<D: Digest>(image: &[u8]) -> Result<(Output<D>, PeInfo), PeError> {
    if image.len() > MAX_IMAGE_LEN {
        return Err(PeError::TooLarge(image.len()));
    }
    let pe_offset = if image.get(..2) == Some(b"MZ") {
        usize_of(read_u32(image, 0x3c, "e_lfanew")?)
    } else {
        0
    };
    if range(image, pe_offset, 4, "PE signature")? != b"PE\0\0" {
        return Err(PeError::BadSignature);
    }
    let coff = pe_offset.checked_add(4).ok_or(PeError::OutOfBounds("COFF header"))?;
    let sections = read_u16(image, coff.saturating_add(2), "NumberOfSections")?;
    let optional_size = usize::from(read_u16(image, coff.saturating_add(16), "SizeOfOptionalHeader")?);
    let opt = coff.checked_add(20).ok_or(PeError::OutOfBounds("optional header"))?;
    let magic = read_u16(image, opt, "optional header magic")?;
    let (rva_count_at, dir_at) = match magic {
        PE32_MAGIC => (opt + 92, opt + 96),
        PE32_PLUS_MAGIC => (opt + 108, opt + 112),
        other => return Err(PeError::BadOptionalHeaderMagic(other)),
    };
    let subsystem = read_u16(image, opt + 68, "Subsystem")?;
    let checksum_at = opt + 64;
    let size_of_headers = usize_of(read_u32(image, opt + 60, "SizeOfHeaders")?);
    let rva_count = read_u32(image, rva_count_at, "NumberOfRvaAndSizes")?;
    if size_of_headers > image.len() {
        return Err(PeError::OutOfBounds("SizeOfHeaders"));
    }

    let mut hasher = D::new();
    hasher.update(range(image, 0, checksum_at, "headers before CheckSum")?);
    let after_checksum = checksum_at + 4;
    let cert_size = if rva_count <= SECURITY_DIRECTORY {
        let len = size_of_headers.checked_sub(after_checksum).ok_or(PeError::HeadersTooSmall)?;
        hasher.update(range(image, after_checksum, len, "headers after CheckSum")?);
        0
    } else {
        let security_at = dir_at + 8 * 4;
        let len = security_at.checked_sub(after_checksum).ok_or(PeError::HeadersTooSmall)?;
        hasher.update(range(image, after_checksum, len, "headers before security directory")?);
        let after_security = security_at + 8;
        let len = size_of_headers.checked_sub(after_security).ok_or(PeError::HeadersTooSmall)?;
        hasher.update(range(image, after_security, len, "headers after security directory")?);
        usize_of(read_u32(image, security_at + 4, "security directory size")?)
    };

    let table = opt.checked_add(optional_size).ok_or(PeError::OutOfBounds("section table"))?;
    let mut section_ranges: Vec<(usize, usize)> = Vec::with_capacity(usize::from(sections));
    for i in 0..usize::from(sections) {
        let header = table.checked_add(i * 40).ok_or(PeError::OutOfBounds("section header"))?;
        range(image, header, 40, "section header")?;
        let size = usize_of(read_u32(image, header + 16, "SizeOfRawData")?);
        let pointer = usize_of(read_u32(image, header + 20, "PointerToRawData")?);
        if size > 0 {
            section_ranges.push((pointer, size));
        }
    }
    // Stable sort: equal offsets keep table order, as edk2's insertion sort does.
    section_ranges.sort_by_key(|&(pointer, _)| pointer);
    let mut sum = size_of_headers;
    for &(pointer, size) in &section_ranges {
        hasher.update(range(image, pointer, size, "section raw data")?);
        sum = sum.checked_add(size).ok_or(PeError::OutOfBounds("section sizes"))?;
    }
    if image.len() > sum {
        let declared = sum.checked_add(cert_size).ok_or(PeError::OutOfBounds("certificate size"))?;
        if image.len() > declared {
            hasher.update(range(image, sum, image.len() - declared, "trailing data")?);
        } else if image.len() < declared {
            return Err(PeError::ShorterThanDeclared);
        }
    }
    Ok((hasher.finalize(), PeInfo { pe32_plus: magic == PE32_PLUS_MAGIC, subsystem, sections }))
}

/// The SHA-384 Authenticode digest TDVF extends into RTMR1 for a loaded image.
pub fn authenticode_sha384(image: &[u8]) -> Result<(Sha384Digest, PeInfo), PeError> {
    let (digest, info) = authenticode_digest::<Sha384>(image)?;
    Ok((digest.into(), info))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    /// A minimal PE32+ with two sections (second one first on disk) and `trailing` extra bytes.
    pub(crate) fn tiny_pe(trailing: usize, with_security_dir: bool) -> Vec<u8> {
        let mut f = vec![0u8; 0x400];
        f[0] = b'M';
        f[1] = b'Z';
        f[0x3c] = 0x80;
        f[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        f[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
        f[coff + 2..coff + 4].copy_from_slice(&2u16.to_le_bytes());
        f[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        let opt = coff + 20;
        f[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        f[opt + 60..opt + 64].copy_from_slice(&0x200u32.to_le_bytes());
        f[opt + 64..opt + 68].copy_from_slice(&0xdeadbeefu32.to_le_bytes());
        f[opt + 68..opt + 70].copy_from_slice(&10u16.to_le_bytes());
        let rva = if with_security_dir { 16u32 } else { 4 };
        f[opt + 108..opt + 112].copy_from_slice(&rva.to_le_bytes());
        let table = opt + 240;
        // section 0 at 0x300 (0x100 bytes), section 1 at 0x200 (0x100 bytes)
        f[table + 16..table + 20].copy_from_slice(&0x100u32.to_le_bytes());
        f[table + 20..table + 24].copy_from_slice(&0x300u32.to_le_bytes());
        f[table + 40 + 16..table + 40 + 20].copy_from_slice(&0x100u32.to_le_bytes());
        f[table + 40 + 20..table + 40 + 24].copy_from_slice(&0x200u32.to_le_bytes());
        for (i, b) in f[0x200..0x400].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        f.extend((0..trailing).map(|i| (i % 7) as u8));
        f
    }

    #[test]
    fn checksum_and_security_entry_are_excluded() {
        let a = tiny_pe(0, true);
        let mut b = a.clone();
        let opt = 0x84 + 20;
        b[opt + 64] ^= 0xff; // CheckSum
        b[opt + 112 + 32] ^= 0xff; // security directory RVA
        assert_eq!(authenticode_sha384(&a).map(|d| d.0), authenticode_sha384(&b).map(|d| d.0));
        let mut c = a.clone();
        c[0x40] ^= 1; // DOS stub byte: covered
        assert_ne!(authenticode_sha384(&a).map(|d| d.0), authenticode_sha384(&c).map(|d| d.0));
    }

    #[test]
    fn manual_hash_matches() {
        let f = tiny_pe(5, false);
        let opt = 0x84 + 20;
        let mut h = Sha384::new();
        h.update(&f[..opt + 64]);
        h.update(&f[opt + 68..0x200]);
        h.update(&f[0x200..0x300]);
        h.update(&f[0x300..0x400]);
        h.update(&f[0x400..]);
        let expected: Sha384Digest = h.finalize().into();
        assert_eq!(authenticode_sha384(&f).map(|d| d.0), Ok(expected));
    }

    #[test]
    fn rejects_truncations_without_panicking() {
        let f = tiny_pe(0, true);
        for cut in 0..f.len() {
            let _ = authenticode_sha384(&f[..cut]);
        }
        assert!(authenticode_sha384(&f[..0x3ff]).is_err());
    }
}
