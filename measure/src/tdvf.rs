//! TDVF (TDX virtual firmware) metadata, MRTD, and the firmware-derived RTMR0 inputs (TD HOB,
//! CFV).
//!
//! Locating the metadata (OVMF reset-vector GUIDed table, read backwards from the end of the
//! image): 32 bytes before the end sits the table footer GUID
//! `96b582de-1fb2-45f7-baea-a366c55a082d`, preceded by the u16 length of the whole table
//! (footer included). Each table entry is `data ‖ u16 entry length (data + 18) ‖ GUID`; the
//! entry with GUID `e47a6535-984a-4798-865e-4685a7bf8ec2` holds a u32 offset *from the end of the
//! image* to the TDVF descriptor: `"TDVF" ‖ length u32 ‖ version u32 (1) ‖ section count u32`,
//! followed by 32-byte sections `data offset u32 ‖ raw size u32 ‖ GPA u64 ‖ memory size u64 ‖
//! type u32 ‖ attributes u32`.
//!
//! MRTD is SHA-384 over 128-byte records: for each page of each section (in metadata order)
//! `"MEM.PAGE.ADD"` ‖ GPA (unless the section is PAGE_AUG), and for MR_EXTEND sections, per
//! 256-byte chunk, `"MR.EXTEND"` ‖ GPA followed by the chunk. Strings are zero-padded to 16
//! bytes, the GPA is u64 little-endian at bytes 16-23, the rest of the record is zero. QEMU ≥ 9
//! interleaves page-add and extend page by page ([`PageAddOrder::SinglePass`]); QEMU 8.x adds
//! all pages of a section before extending it ([`PageAddOrder::TwoPass`]).

use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest, Sha384};

use crate::rtmr::{sha384, Sha384Digest};

/// Largest firmware accepted.
pub const MAX_FIRMWARE_LEN: usize = 64 * 1024 * 1024;
/// Most sections accepted.
pub const MAX_SECTIONS: usize = 64;
/// Most pages (over all sections) hashed into MRTD (1 GiB).
pub const MAX_MEASURED_PAGES: u64 = 1 << 18;
const PAGE: u64 = 4096;
const EXTEND_CHUNK: usize = 256;

/// OVMF GUIDed-table footer GUID, in its on-disk (mixed-endian) byte order.
pub const TABLE_FOOTER_GUID: [u8; 16] = guid_bytes(0x96b582de, 0x1fb2, 0x45f7, [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d]);
/// TDX metadata offset GUID, on-disk byte order.
pub const TDX_METADATA_GUID: [u8; 16] = guid_bytes(0xe47a6535, 0x984a, 0x4798, [0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2]);

/// EFI GUID in its in-memory byte order (first three fields little-endian).
pub const fn guid_bytes(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]
}

/// TDVF section types (TDVF design guide, "TDVF Metadata").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SectionType {
    Bfv,
    Cfv,
    TdHob,
    TempMem,
    PermMem,
    Payload,
    PayloadParam,
    Other(u32),
}

impl SectionType {
    fn from_u32(v: u32) -> Self {
        match v {
            0 => SectionType::Bfv,
            1 => SectionType::Cfv,
            2 => SectionType::TdHob,
            3 => SectionType::TempMem,
            4 => SectionType::PermMem,
            5 => SectionType::Payload,
            6 => SectionType::PayloadParam,
            other => SectionType::Other(other),
        }
    }
}

/// Section attribute: the section's content is extended into MRTD.
pub const ATTRIBUTE_MR_EXTEND: u32 = 1;
/// Section attribute: pages are added after boot (TDH.MEM.PAGE.AUG), not measured.
pub const ATTRIBUTE_PAGE_AUG: u32 = 2;

/// One TDVF metadata section.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Section {
    pub data_offset: u32,
    pub raw_data_size: u32,
    pub memory_address: u64,
    pub memory_data_size: u64,
    pub section_type: SectionType,
    pub attributes: u32,
}

/// Order of page-add and extend records in MRTD.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PageAddOrder {
    /// Page-add then extend, page by page (QEMU ≥ 9, upstream TDX).
    SinglePass,
    /// All page-adds of a section, then all its extends (QEMU 8.x, e.g. Canonical's 8.2).
    TwoPass,
}

/// Why a firmware image was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdvfError {
    TooLarge(usize),
    /// No OVMF GUIDed-table footer 32 bytes before the end.
    NoTableFooter,
    /// A table length or entry length is inconsistent.
    MalformedTable,
    /// The table has no TDX metadata entry: not a TDVF.
    NoTdxMetadata,
    /// The metadata offset points outside the image.
    MetadataOutOfBounds,
    /// No "TDVF" signature at the metadata offset.
    BadSignature,
    UnsupportedVersion(u32),
    /// Descriptor length disagrees with the section count.
    BadDescriptorLength,
    TooManySections(u32),
    /// Section `index` failed a check; `what` says which.
    BadSection { index: usize, what: &'static str },
    /// More than [`MAX_MEASURED_PAGES`] pages to measure.
    TooManyPages,
    /// The firmware has no (or more than one) section of the type needed.
    SectionCount { section: &'static str, found: usize },
    /// The memory size cannot hold the firmware's accepted ranges.
    BadMemorySize,
}

impl fmt::Display for TdvfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TdvfError::TooLarge(n) => write!(f, "firmware of {n} bytes is larger than {MAX_FIRMWARE_LEN}"),
            TdvfError::NoTableFooter => write!(f, "no OVMF GUIDed table footer (not an OVMF/TDVF image)"),
            TdvfError::MalformedTable => write!(f, "malformed OVMF GUIDed table"),
            TdvfError::NoTdxMetadata => write!(f, "no TDX metadata GUID in the table (not a TDVF)"),
            TdvfError::MetadataOutOfBounds => write!(f, "TDVF metadata offset outside the image"),
            TdvfError::BadSignature => write!(f, "no TDVF signature at the metadata offset"),
            TdvfError::UnsupportedVersion(v) => write!(f, "TDVF metadata version {v} (only 1)"),
            TdvfError::BadDescriptorLength => write!(f, "TDVF descriptor length disagrees with its section count"),
            TdvfError::TooManySections(n) => write!(f, "{n} TDVF sections (at most {MAX_SECTIONS})"),
            TdvfError::BadSection { index, what } => write!(f, "TDVF section {index}: {what}"),
            TdvfError::TooManyPages => write!(f, "TDVF sections measure more than {MAX_MEASURED_PAGES} pages"),
            TdvfError::SectionCount { section, found } => {
                write!(f, "expected exactly one {section} section, found {found}")
            }
            TdvfError::BadMemorySize => write!(f, "memory size does not cover the firmware's accepted ranges"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TdvfError {}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// A parsed TDVF image.
#[derive(Clone, Debug)]
pub struct Tdvf<'a> {
    firmware: &'a [u8],
    sections: Vec<Section>,
}

/// Finds the data of the GUIDed-table entry `guid`.
pub fn find_guided_entry<'a>(firmware: &'a [u8], guid: &[u8; 16]) -> Result<&'a [u8], TdvfError> {
    let footer_end = firmware.len().checked_sub(32).ok_or(TdvfError::NoTableFooter)?;
    let footer_guid_start = footer_end.checked_sub(16).ok_or(TdvfError::NoTableFooter)?;
    if firmware.get(footer_guid_start..footer_end) != Some(&TABLE_FOOTER_GUID[..]) {
        return Err(TdvfError::NoTableFooter);
    }
    let len_at = footer_guid_start.checked_sub(2).ok_or(TdvfError::MalformedTable)?;
    let table_len = usize::from(le_u16(firmware, len_at).ok_or(TdvfError::MalformedTable)?);
    let table_start = footer_end.checked_sub(table_len).ok_or(TdvfError::MalformedTable)?;
    if table_len < 18 {
        return Err(TdvfError::MalformedTable);
    }
    // Walk entries backwards from just before the footer's own length field.
    let mut cursor = len_at;
    while cursor >= table_start.saturating_add(18) {
        let guid_start = cursor.checked_sub(16).ok_or(TdvfError::MalformedTable)?;
        let entry_len_at = guid_start.checked_sub(2).ok_or(TdvfError::MalformedTable)?;
        let entry_len = usize::from(le_u16(firmware, entry_len_at).ok_or(TdvfError::MalformedTable)?);
        if entry_len < 18 {
            return Err(TdvfError::MalformedTable);
        }
        let entry_start = cursor.checked_sub(entry_len).ok_or(TdvfError::MalformedTable)?;
        if entry_start < table_start {
            return Err(TdvfError::MalformedTable);
        }
        if firmware.get(guid_start..cursor) == Some(&guid[..]) {
            return firmware.get(entry_start..entry_len_at).ok_or(TdvfError::MalformedTable);
        }
        cursor = entry_start;
    }
    Err(TdvfError::NoTdxMetadata)
}

impl<'a> Tdvf<'a> {
    /// Parses and validates the TDVF metadata of `firmware`.
    pub fn parse(firmware: &'a [u8]) -> Result<Self, TdvfError> {
        if firmware.len() > MAX_FIRMWARE_LEN {
            return Err(TdvfError::TooLarge(firmware.len()));
        }
        let entry = find_guided_entry(firmware, &TDX_METADATA_GUID)?;
        let offset_from_end = entry
            .len()
            .checked_sub(4)
            .and_then(|at| le_u32(entry, at))
            .ok_or(TdvfError::MalformedTable)?;
        let descriptor_at = firmware
            .len()
            .checked_sub(usize::try_from(offset_from_end).map_err(|_| TdvfError::MetadataOutOfBounds)?)
            .ok_or(TdvfError::MetadataOutOfBounds)?;
        let descriptor = firmware.get(descriptor_at..).ok_or(TdvfError::MetadataOutOfBounds)?;
        if descriptor.get(..4) != Some(b"TDVF") {
            return Err(TdvfError::BadSignature);
        }
        let length = le_u32(descriptor, 4).ok_or(TdvfError::MetadataOutOfBounds)?;
        let version = le_u32(descriptor, 8).ok_or(TdvfError::MetadataOutOfBounds)?;
        if version != 1 {
            return Err(TdvfError::UnsupportedVersion(version));
        }
        let count = le_u32(descriptor, 12).ok_or(TdvfError::MetadataOutOfBounds)?;
        if usize::try_from(count).map_or(true, |c| c > MAX_SECTIONS) {
            return Err(TdvfError::TooManySections(count));
        }
        let count = usize::try_from(count).map_err(|_| TdvfError::TooManySections(count))?;
        if u64::from(length) != 16 + 32 * count as u64 {
            return Err(TdvfError::BadDescriptorLength);
        }
        let mut sections = Vec::with_capacity(count);
        let mut pages = 0u64;
        for index in 0..count {
            let base = 16 + 32 * index;
            let raw = descriptor.get(base..base + 32).ok_or(TdvfError::MetadataOutOfBounds)?;
            let bad = |what| TdvfError::BadSection { index, what };
            let section = Section {
                data_offset: le_u32(raw, 0).ok_or(bad("short"))?,
                raw_data_size: le_u32(raw, 4).ok_or(bad("short"))?,
                memory_address: le_u64(raw, 8).ok_or(bad("short"))?,
                memory_data_size: le_u64(raw, 16).ok_or(bad("short"))?,
                section_type: SectionType::from_u32(le_u32(raw, 24).ok_or(bad("short"))?),
                attributes: le_u32(raw, 28).ok_or(bad("short"))?,
            };
            if !section.memory_address.is_multiple_of(PAGE) {
                return Err(bad("memory address not page aligned"));
            }
            if !section.memory_data_size.is_multiple_of(PAGE) {
                return Err(bad("memory size not page aligned"));
            }
            if u64::from(section.raw_data_size) > section.memory_data_size {
                return Err(bad("raw data larger than memory size"));
            }
            if section.memory_address.checked_add(section.memory_data_size).is_none() {
                return Err(bad("memory range overflows"));
            }
            let data_end = u64::from(section.data_offset) + u64::from(section.raw_data_size);
            if data_end > firmware.len() as u64 {
                return Err(bad("raw data outside the image"));
            }
            if section.attributes & ATTRIBUTE_MR_EXTEND != 0
                && u64::from(section.raw_data_size) != section.memory_data_size
            {
                return Err(bad("MR_EXTEND section whose raw size differs from its memory size"));
            }
            if section.attributes & ATTRIBUTE_PAGE_AUG == 0 {
                pages = pages.saturating_add(section.memory_data_size / PAGE);
                if pages > MAX_MEASURED_PAGES {
                    return Err(TdvfError::TooManyPages);
                }
            }
            sections.push(section);
        }
        Ok(Self { firmware, sections })
    }

    /// The sections in metadata order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// MRTD of a TD launched with this firmware (nothing else is added to MRTD by QEMU's TDX
    /// support: the kernel and everything else come later, through RTMRs).
    pub fn mrtd(&self, order: PageAddOrder) -> Sha384Digest {
        let mut hasher = Sha384::new();
        for section in &self.sections {
            let pages = section.memory_data_size / PAGE;
            match order {
                PageAddOrder::SinglePass => {
                    for page in 0..pages {
                        self.page_add(&mut hasher, section, page);
                        self.extend(&mut hasher, section, page);
                    }
                }
                PageAddOrder::TwoPass => {
                    for page in 0..pages {
                        self.page_add(&mut hasher, section, page);
                    }
                    for page in 0..pages {
                        self.extend(&mut hasher, section, page);
                    }
                }
            }
        }
        hasher.finalize().into()
    }

    fn page_add(&self, hasher: &mut Sha384, section: &Section, page: u64) {
        if section.attributes & ATTRIBUTE_PAGE_AUG != 0 {
            return;
        }
        let mut record = [0u8; 128];
        record[..12].copy_from_slice(b"MEM.PAGE.ADD");
        let gpa = section.memory_address.wrapping_add(page * PAGE);
        record[16..24].copy_from_slice(&gpa.to_le_bytes());
        hasher.update(record);
    }

    fn extend(&self, hasher: &mut Sha384, section: &Section, page: u64) {
        if section.attributes & ATTRIBUTE_MR_EXTEND == 0 {
            return;
        }
        for chunk in 0..(PAGE as usize / EXTEND_CHUNK) {
            let mut record = [0u8; 128];
            record[..9].copy_from_slice(b"MR.EXTEND");
            let in_section = page * PAGE + (chunk * EXTEND_CHUNK) as u64;
            let gpa = section.memory_address.wrapping_add(in_section);
            record[16..24].copy_from_slice(&gpa.to_le_bytes());
            hasher.update(record);
            // parse() checked data_offset + raw_data_size (== memory size) is inside the image.
            let start = u64::from(section.data_offset) + in_section;
            let data = usize::try_from(start)
                .ok()
                .and_then(|s| self.firmware.get(s..s.checked_add(EXTEND_CHUNK)?))
                .unwrap_or(&[0u8; EXTEND_CHUNK]);
            hasher.update(data);
        }
    }

    fn single(&self, wanted: SectionType, name: &'static str) -> Result<&Section, TdvfError> {
        let mut found = self.sections.iter().filter(|s| s.section_type == wanted);
        match (found.next(), found.next()) {
            (Some(s), None) => Ok(s),
            (None, _) => Err(TdvfError::SectionCount { section: name, found: 0 }),
            (Some(_), Some(_)) => Err(TdvfError::SectionCount {
                section: name,
                found: self.sections.iter().filter(|s| s.section_type == wanted).count(),
            }),
        }
    }

    /// The configuration firmware volume section.
    pub fn cfv(&self) -> Result<&Section, TdvfError> {
        self.single(SectionType::Cfv, "CFV")
    }

    /// RTMR0 digest of the CFV: SHA-384 of its raw bytes (TDVF hashes the CFV region at its
    /// GPA, which holds the section's raw data; its length is the build's PcdCfvRawDataSize, the
    /// same as the section's raw size).
    pub fn cfv_digest(&self) -> Result<Sha384Digest, TdvfError> {
        let cfv = self.cfv()?;
        let start = usize::try_from(cfv.data_offset).map_err(|_| TdvfError::BadSection { index: 0, what: "CFV offset" })?;
        let len = usize::try_from(cfv.raw_data_size).map_err(|_| TdvfError::BadSection { index: 0, what: "CFV size" })?;
        let bytes = self
            .firmware
            .get(start..start.saturating_add(len))
            .ok_or(TdvfError::BadSection { index: 0, what: "CFV outside the image" })?;
        Ok(sha384(bytes))
    }

    /// The TD HOB QEMU builds for a TD with `memory_size` bytes of RAM (see [`td_hob`]).
    pub fn td_hob(&self, memory_size: u64) -> Result<Vec<u8>, TdvfError> {
        td_hob(&self.sections, memory_size)
    }
}

/// The TD HOB list QEMU hands TDVF (hw/i386/tdvf-hob.c), up to but not including the
/// end-of-list HOB — the bytes TDVF hashes into RTMR0 (EV_EFI_HANDOFF_TABLES2):
///
/// * a PHIT HOB (type 1, length 56, version 9, all memory fields 0 except EfiEndOfHobList =
///   HOB base + length of this list + 8);
/// * one resource-descriptor HOB (type 3, length 48, owner GUID zero, attributes 7 =
///   present|initialized|tested) per RAM range in address order: ranges covered by the TD_HOB and
///   TEMP_MEM sections (accepted at launch) have resource type 0 (system memory), the gaps
///   between them type 7 (unaccepted). The last range is the rest of RAM; with
///   `memory_size >= 0xB000_0000` QEMU's q35 puts 2 GiB below 4 GiB and the rest from 4 GiB up,
///   so it is split at 0x8000_0000 and continues at 0x1_0000_0000.
///
/// Pinned against a real TDX event log (64 GiB dstack VM) in this crate's tests.
pub fn td_hob(sections: &[Section], memory_size: u64) -> Result<Vec<u8>, TdvfError> {
    // (accepted, start, end) ranges covering [0, memory_size).
    let mut ranges: Vec<(bool, u64, u64)> = alloc::vec![(false, 0, memory_size)];
    let mut hob_base = None;
    for section in sections {
        match section.section_type {
            SectionType::TdHob | SectionType::TempMem => {}
            _ => continue,
        }
        if section.section_type == SectionType::TdHob {
            if hob_base.is_some() {
                return Err(TdvfError::SectionCount { section: "TD_HOB", found: 2 });
            }
            hob_base = Some(section.memory_address);
        }
        let start = section.memory_address;
        let end = start.saturating_add(section.memory_data_size);
        if start >= end {
            continue;
        }
        if end > memory_size {
            return Err(TdvfError::BadMemorySize);
        }
        let mut next = Vec::with_capacity(ranges.len() + 2);
        for &(accepted, s, e) in &ranges {
            if accepted || e <= start || s >= end {
                next.push((accepted, s, e));
            } else {
                if s < start {
                    next.push((false, s, start));
                }
                if e > end {
                    next.push((false, end, e));
                }
            }
        }
        next.push((true, start, end));
        next.sort_by_key(|&(_, s, _)| s);
        ranges = next;
    }
    let hob_base = hob_base.ok_or(TdvfError::SectionCount { section: "TD_HOB", found: 0 })?;
    let (last_accepted, last_start, last_end) = ranges.pop().ok_or(TdvfError::BadMemorySize)?;
    if last_accepted {
        // RAM must extend beyond the firmware's accepted ranges.
        return Err(TdvfError::BadMemorySize);
    }

    let mut hob = Vec::with_capacity(56 + 48 * (ranges.len() + 2));
    hob.extend_from_slice(&1u16.to_le_bytes()); // EFI_HOB_TYPE_HANDOFF
    hob.extend_from_slice(&56u16.to_le_bytes());
    hob.extend_from_slice(&[0; 4]);
    hob.extend_from_slice(&9u32.to_le_bytes()); // EFI_HOB_HANDOFF_TABLE_VERSION
    hob.extend_from_slice(&[0; 4]); // BootMode
    hob.extend_from_slice(&[0; 32]); // EfiMemoryTop/Bottom, EfiFreeMemoryTop/Bottom
    hob.extend_from_slice(&[0; 8]); // EfiEndOfHobList, patched below
    let mut resource = |kind: u8, start: u64, length: u64| {
        hob.extend_from_slice(&3u16.to_le_bytes()); // EFI_HOB_TYPE_RESOURCE_DESCRIPTOR
        hob.extend_from_slice(&48u16.to_le_bytes());
        hob.extend_from_slice(&[0; 4]);
        hob.extend_from_slice(&[0; 16]); // Owner
        hob.extend_from_slice(&u32::from(kind).to_le_bytes()); // ResourceType
        hob.extend_from_slice(&7u32.to_le_bytes()); // present | initialized | tested
        hob.extend_from_slice(&start.to_le_bytes());
        hob.extend_from_slice(&length.to_le_bytes());
    };
    for &(accepted, start, end) in &ranges {
        resource(if accepted { 0 } else { 7 }, start, end - start);
    }
    const LOW_RAM_TOP: u64 = 0x8000_0000;
    const HIGH_RAM_START: u64 = 0x1_0000_0000;
    if memory_size >= 0xB000_0000 {
        if last_start < LOW_RAM_TOP {
            resource(7, last_start, LOW_RAM_TOP - last_start);
        }
        if last_end > LOW_RAM_TOP {
            resource(7, HIGH_RAM_START, last_end - LOW_RAM_TOP);
        }
    } else {
        resource(7, last_start, last_end - last_start);
    }
    let end_of_list = hob_base.saturating_add(hob.len() as u64).saturating_add(8);
    if let Some(field) = hob.get_mut(48..56) {
        field.copy_from_slice(&end_of_list.to_le_bytes());
    }
    Ok(hob)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    /// A synthetic TDVF: a BFV (MR_EXTEND) and CFV, TD_HOB and TEMP_MEM, with the metadata
    /// located through a GUIDed table like OVMF's reset vector lays it out.
    pub(crate) fn synthetic_firmware() -> Vec<u8> {
        let len = 0x8000usize;
        let mut fw = vec![0u8; len];
        for (i, b) in fw.iter_mut().enumerate() {
            *b = (i * 7 % 256) as u8;
        }
        // Descriptor at 0x1000 with 4 sections.
        let desc = 0x1000;
        fw[desc..desc + 4].copy_from_slice(b"TDVF");
        fw[desc + 4..desc + 8].copy_from_slice(&(16u32 + 32 * 4).to_le_bytes());
        fw[desc + 8..desc + 12].copy_from_slice(&1u32.to_le_bytes());
        fw[desc + 12..desc + 16].copy_from_slice(&4u32.to_le_bytes());
        let sections: [(u32, u32, u64, u64, u32, u32); 4] = [
            (0x0, 0x1000, 0xffc0_0000, 0x1000, 1, 0),          // CFV
            (0x2000, 0x2000, 0xffc0_2000, 0x2000, 0, 1),       // BFV, MR_EXTEND
            (0, 0, 0x80_9000, 0x2000, 2, 0),                   // TD_HOB
            (0, 0, 0x80_0000, 0x6000, 3, 0),                   // TEMP_MEM
        ];
        for (i, s) in sections.iter().enumerate() {
            let b = desc + 16 + 32 * i;
            fw[b..b + 4].copy_from_slice(&s.0.to_le_bytes());
            fw[b + 4..b + 8].copy_from_slice(&s.1.to_le_bytes());
            fw[b + 8..b + 16].copy_from_slice(&s.2.to_le_bytes());
            fw[b + 16..b + 24].copy_from_slice(&s.3.to_le_bytes());
            fw[b + 24..b + 28].copy_from_slice(&s.4.to_le_bytes());
            fw[b + 28..b + 32].copy_from_slice(&s.5.to_le_bytes());
        }
        // GUIDed table ending 32 bytes before the end: [metadata entry][footer].
        let footer_end = len - 32;
        let footer_guid = footer_end - 16;
        fw[footer_guid..footer_end].copy_from_slice(&TABLE_FOOTER_GUID);
        let table_len: u16 = 22 + 18;
        fw[footer_guid - 2..footer_guid].copy_from_slice(&table_len.to_le_bytes());
        let entry_end = footer_guid - 2;
        fw[entry_end - 16..entry_end].copy_from_slice(&TDX_METADATA_GUID);
        fw[entry_end - 18..entry_end - 16].copy_from_slice(&22u16.to_le_bytes());
        fw[entry_end - 22..entry_end - 18].copy_from_slice(&((len - desc) as u32).to_le_bytes());
        fw
    }

    #[test]
    fn parses_synthetic_and_computes_mrtd_by_hand() {
        let fw = synthetic_firmware();
        let tdvf = Tdvf::parse(&fw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tdvf.sections().len(), 4);
        // Hand-computed single-pass MRTD.
        let mut h = Sha384::new();
        let rec = |tag: &[u8], gpa: u64| {
            let mut r = [0u8; 128];
            r[..tag.len()].copy_from_slice(tag);
            r[16..24].copy_from_slice(&gpa.to_le_bytes());
            r
        };
        h.update(rec(b"MEM.PAGE.ADD", 0xffc0_0000));
        for page in 0..2u64 {
            let gpa = 0xffc0_2000 + page * 4096;
            h.update(rec(b"MEM.PAGE.ADD", gpa));
            for c in 0..16u64 {
                h.update(rec(b"MR.EXTEND", gpa + c * 256));
                let off = (0x2000 + page * 4096 + c * 256) as usize;
                h.update(&fw[off..off + 256]);
            }
        }
        h.update(rec(b"MEM.PAGE.ADD", 0x80_9000));
        h.update(rec(b"MEM.PAGE.ADD", 0x80_a000));
        for p in 0..6u64 {
            h.update(rec(b"MEM.PAGE.ADD", 0x80_0000 + p * 4096));
        }
        let expected: Sha384Digest = h.finalize().into();
        assert_eq!(tdvf.mrtd(PageAddOrder::SinglePass), expected);
        assert_ne!(tdvf.mrtd(PageAddOrder::TwoPass), expected);
        assert_eq!(tdvf.cfv_digest(), Ok(sha384(&fw[..0x1000])));
    }

    #[test]
    fn rejects_damaged_images_without_panicking() {
        let fw = synthetic_firmware();
        for cut in [0, 10, 0x1000, fw.len() - 1] {
            assert!(Tdvf::parse(&fw[..cut]).is_err());
        }
        let mut bad = fw.clone();
        bad[0x1000] = b'X';
        assert_eq!(Tdvf::parse(&bad).map(|_| ()), Err(TdvfError::BadSignature));
        let mut bad = fw.clone();
        bad[0x1010 + 32 + 8] = 1; // BFV GPA misaligned
        assert!(matches!(Tdvf::parse(&bad), Err(TdvfError::BadSection { index: 1, .. })));
        let mut bad = fw;
        bad[0x1010 + 32 + 16..0x1010 + 32 + 24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Tdvf::parse(&bad).is_err());
    }
}
