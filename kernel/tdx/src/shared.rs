//! Shared-memory math and conversion bookkeeping.
//!
//! This module owns everything about the private/shared split of the guest
//! physical address space: where the shared bit is, how to form the shared and
//! private alias of a GPA, what a valid page range is, and a fixed-capacity
//! table of which ranges are currently converted to shared. The procedures that
//! actually convert (`share_range` / `unshare_range`) tie the table to MapGPA
//! and TDG.MEM.PAGE.ACCEPT so the table never disagrees with what the VMM was
//! told.
//!
//! Spec references: TDX Module ABI spec, "GPA Space Partitioning" (shared bit is
//! GPA bit GPAW-1); GHCI spec, "`TDG.VP.VMCALL<MapGPA>`"; TDX Module ABI spec,
//! "TDG.MEM.PAGE.ACCEPT Leaf".

use core::fmt;

use crate::tdcall::{self, TdCallError};
use crate::tdvmcall::{self, MapGpaError};

/// Size of the pages the conversion procedures work in (4 KiB).
pub const PAGE_SIZE: u64 = 4096;

/// Why a GPA width, address or range was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// TDG.VP.INFO reported a GPA width other than 48 or 52 (the only two the
    /// TDX module defines).
    UnsupportedGpaWidth {
        /// The width that was reported.
        gpa_width: u8,
    },
    /// The address is not 4 KiB aligned.
    Unaligned {
        /// The offending address.
        gpa: u64,
    },
    /// The length is zero or not a multiple of 4 KiB.
    BadLength {
        /// The offending length in bytes.
        len: u64,
    },
    /// The range wraps around or reaches the shared bit, so it is not a range
    /// of private GPAs.
    OutOfRange {
        /// Start of the requested range.
        gpa: u64,
        /// Length of the requested range in bytes.
        len: u64,
    },
    /// The GPA carries the shared bit where a private GPA was expected, or
    /// lacks it where a shared one was expected.
    WrongAlias {
        /// The offending address.
        gpa: u64,
    },
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddressError::UnsupportedGpaWidth { gpa_width } => {
                write!(f, "unsupported GPA width {gpa_width} (expected 48 or 52)")
            }
            AddressError::Unaligned { gpa } => write!(f, "GPA {gpa:#x} is not 4 KiB aligned"),
            AddressError::BadLength { len } => {
                write!(f, "length {len:#x} is zero or not a multiple of 4 KiB")
            }
            AddressError::OutOfRange { gpa, len } => {
                write!(
                    f,
                    "range {gpa:#x}+{len:#x} is outside the private GPA space"
                )
            }
            AddressError::WrongAlias { gpa } => {
                write!(f, "GPA {gpa:#x} has the wrong shared-bit setting")
            }
        }
    }
}

/// The shared bit of this TD: `1 << (GPAW - 1)`.
///
/// A GPA with this bit clear is private (encrypted, integrity protected, only
/// the TD can read it); with the bit set it names the same page number in the
/// shared space the VMM can access. Build it from TDG.VP.INFO
/// ([`crate::TdInfo::shared_bit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedBit {
    mask: u64,
}

impl SharedBit {
    /// The shared bit for a GPA width reported by TDG.VP.INFO (RCX bits 5:0).
    /// Only 48 and 52 are defined by the TDX module ABI spec.
    pub const fn from_gpa_width(gpa_width: u8) -> Result<Self, AddressError> {
        match gpa_width {
            48 | 52 => Ok(SharedBit {
                mask: 1u64 << (gpa_width - 1),
            }),
            _ => Err(AddressError::UnsupportedGpaWidth { gpa_width }),
        }
    }

    /// The bit itself, as a mask.
    pub const fn mask(self) -> u64 {
        self.mask
    }

    /// Whether `gpa` names the shared space.
    pub const fn is_shared(self, gpa: u64) -> bool {
        gpa & self.mask != 0
    }

    /// The shared alias of `gpa` (shared bit set).
    pub const fn shared_alias(self, gpa: u64) -> u64 {
        gpa | self.mask
    }

    /// The private alias of `gpa` (shared bit cleared).
    pub const fn private_alias(self, gpa: u64) -> u64 {
        gpa & !self.mask
    }

    /// Whether `gpa` is a valid GPA for this TD at all: every bit at or above
    /// GPAW must be zero (only the shared bit may sit at GPAW-1).
    pub const fn is_valid_gpa(self, gpa: u64) -> bool {
        // Bits above the shared bit are beyond GPAW.
        gpa & !((self.mask << 1).wrapping_sub(1)) == 0
    }
}

/// Whether `value` is a multiple of 4 KiB.
pub const fn is_page_aligned(value: u64) -> bool {
    value & (PAGE_SIZE - 1) == 0
}

/// A non-empty, 4 KiB aligned range of private GPAs (shared bit clear), in whole
/// pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRange {
    start: u64,
    pages: u64,
}

impl PageRange {
    /// A range of `len` bytes starting at the private GPA `start`.
    ///
    /// Rejects unaligned starts, lengths that are zero or not whole pages,
    /// ranges that carry the shared bit, wrap, or run into the shared half.
    pub const fn new(shared: SharedBit, start: u64, len: u64) -> Result<Self, AddressError> {
        if !is_page_aligned(start) {
            return Err(AddressError::Unaligned { gpa: start });
        }
        if len == 0 || !is_page_aligned(len) {
            return Err(AddressError::BadLength { len });
        }
        if shared.is_shared(start) || !shared.is_valid_gpa(start) {
            return Err(AddressError::WrongAlias { gpa: start });
        }
        match start.checked_add(len) {
            // The end may equal the shared bit (range ends right below it) but
            // not exceed it.
            Some(end) if end <= shared.mask() => Ok(PageRange {
                start,
                pages: len / PAGE_SIZE,
            }),
            _ => Err(AddressError::OutOfRange { gpa: start, len }),
        }
    }

    /// First private GPA of the range.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// Number of 4 KiB pages.
    pub const fn pages(&self) -> u64 {
        self.pages
    }

    /// Length in bytes.
    pub const fn len_bytes(&self) -> u64 {
        self.pages * PAGE_SIZE
    }

    /// One past the last private GPA of the range.
    pub const fn end(&self) -> u64 {
        self.start + self.len_bytes()
    }

    /// Whether the two ranges share at least one page.
    pub const fn overlaps(&self, other: &PageRange) -> bool {
        self.start < other.end() && other.start < self.end()
    }

    /// Whether the private GPA `gpa` (shared bit ignored by the caller) lies in
    /// the range.
    pub const fn contains(&self, gpa: u64) -> bool {
        self.start <= gpa && gpa < self.end()
    }
}

/// Why the conversion table refused an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversionError {
    /// The requested range overlaps a range that is already shared (double
    /// conversion).
    AlreadyShared {
        /// The range already recorded as shared.
        existing: PageRange,
        /// The range that was asked for.
        requested: PageRange,
    },
    /// Unsharing a range that shares no page with any recorded range.
    NotShared {
        /// The range that was asked for.
        requested: PageRange,
    },
    /// Unsharing a range that overlaps a recorded range without being exactly
    /// it: conversions are undone exactly as they were made.
    RangeMismatch {
        /// The recorded range that overlaps.
        recorded: PageRange,
        /// The range that was asked for.
        requested: PageRange,
    },
    /// The table has no free slot.
    TableFull {
        /// How many ranges the table holds.
        capacity: usize,
    },
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConversionError::AlreadyShared {
                existing,
                requested,
            } => write!(
                f,
                "range {:#x}+{:#x} overlaps shared range {:#x}+{:#x}",
                requested.start(),
                requested.len_bytes(),
                existing.start(),
                existing.len_bytes()
            ),
            ConversionError::NotShared { requested } => write!(
                f,
                "range {:#x}+{:#x} is not shared",
                requested.start(),
                requested.len_bytes()
            ),
            ConversionError::RangeMismatch {
                recorded,
                requested,
            } => write!(
                f,
                "range {:#x}+{:#x} does not match shared range {:#x}+{:#x}",
                requested.start(),
                requested.len_bytes(),
                recorded.start(),
                recorded.len_bytes()
            ),
            ConversionError::TableFull { capacity } => {
                write!(f, "conversion table full ({capacity} ranges)")
            }
        }
    }
}

/// Which page ranges are currently converted to shared, in a fixed-capacity
/// array (no allocation).
///
/// Invariants: recorded ranges never overlap; a range is removed only by
/// naming exactly the range that was recorded.
#[derive(Clone, Debug)]
pub struct ConversionTable<const N: usize> {
    slots: [Option<PageRange>; N],
}

impl<const N: usize> Default for ConversionTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ConversionTable<N> {
    /// An empty table (everything private).
    pub const fn new() -> Self {
        ConversionTable { slots: [None; N] }
    }

    /// How many ranges the table can hold.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// How many ranges are recorded.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Whether nothing is shared.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The recorded shared ranges (in slot order).
    pub fn iter(&self) -> impl Iterator<Item = &PageRange> + '_ {
        self.slots.iter().flatten()
    }

    /// Total number of shared pages.
    pub fn shared_pages(&self) -> u64 {
        self.iter().map(|r| r.pages()).sum()
    }

    /// Whether the private GPA `gpa` lies in a shared range.
    pub fn is_shared(&self, gpa: u64) -> bool {
        self.iter().any(|r| r.contains(gpa))
    }

    /// Checks that `range` can be recorded as shared, without recording it.
    pub fn check_share(&self, range: PageRange) -> Result<(), ConversionError> {
        if let Some(existing) = self.iter().find(|r| r.overlaps(&range)) {
            return Err(ConversionError::AlreadyShared {
                existing: *existing,
                requested: range,
            });
        }
        if self.slots.iter().all(|s| s.is_some()) {
            return Err(ConversionError::TableFull { capacity: N });
        }
        Ok(())
    }

    /// Records `range` as shared.
    pub fn record_shared(&mut self, range: PageRange) -> Result<(), ConversionError> {
        self.check_share(range)?;
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(range);
                Ok(())
            }
            None => Err(ConversionError::TableFull { capacity: N }),
        }
    }

    /// Checks that `range` is exactly a recorded shared range, without
    /// removing it; returns its slot.
    fn find_exact(&self, range: PageRange) -> Result<usize, ConversionError> {
        for (index, slot) in self.slots.iter().enumerate() {
            if let Some(recorded) = slot {
                if *recorded == range {
                    return Ok(index);
                }
                if recorded.overlaps(&range) {
                    return Err(ConversionError::RangeMismatch {
                        recorded: *recorded,
                        requested: range,
                    });
                }
            }
        }
        Err(ConversionError::NotShared { requested: range })
    }

    /// Checks that `range` can be recorded as private again.
    pub fn check_unshare(&self, range: PageRange) -> Result<(), ConversionError> {
        self.find_exact(range).map(|_| ())
    }

    /// Records `range` (exactly as it was shared) as private again.
    pub fn record_private(&mut self, range: PageRange) -> Result<(), ConversionError> {
        let index = self.find_exact(range)?;
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = None;
        }
        Ok(())
    }
}

/// Why a conversion procedure failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertError {
    /// The bookkeeping refused; nothing was sent to the VMM.
    Table(ConversionError),
    /// MapGPA failed. The pages of the range may be in a mixed state (the VMM
    /// may have converted a prefix): do not use them; treat as fatal.
    MapGpa(MapGpaError),
    /// TDG.MEM.PAGE.ACCEPT failed on `gpa` after MapGPA(private) succeeded; the
    /// range is private but not (fully) accepted: do not use it.
    Accept {
        /// The page that failed.
        gpa: u64,
        /// The TDX module's status.
        error: TdCallError,
    },
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Table(e) => write!(f, "conversion refused: {e}"),
            ConvertError::MapGpa(e) => write!(f, "MapGPA failed: {e}"),
            ConvertError::Accept { gpa, error } => {
                write!(f, "accepting page {gpa:#x} failed: {error}")
            }
        }
    }
}

/// The two operations a conversion needs; the real implementation issues
/// TDVMCALL<MapGPA> and TDG.MEM.PAGE.ACCEPT, tests substitute a model.
pub(crate) trait ConversionOps {
    fn map_gpa(&mut self, gpa: u64, len: u64) -> Result<(), MapGpaError>;
    fn accept_4k(&mut self, gpa: u64) -> Result<(), TdCallError>;
}

struct TdxConversionOps;

impl ConversionOps for TdxConversionOps {
    fn map_gpa(&mut self, gpa: u64, len: u64) -> Result<(), MapGpaError> {
        // SAFETY: the callers below (`share_range`/`unshare_range`) carry the
        // memory contract of MapGPA in their own `# Safety` sections.
        unsafe { tdvmcall::map_gpa(gpa, len) }
    }

    fn accept_4k(&mut self, gpa: u64) -> Result<(), TdCallError> {
        // SAFETY: only called by `unshare_range` for pages of a range that was
        // just mapped private; its caller guarantees nothing uses them yet.
        unsafe { tdcall::mem_page_accept_4k(gpa) }
    }
}

pub(crate) fn share_range_with<const N: usize>(
    ops: &mut impl ConversionOps,
    table: &mut ConversionTable<N>,
    shared: SharedBit,
    range: PageRange,
) -> Result<(), ConvertError> {
    table.check_share(range).map_err(ConvertError::Table)?;
    ops.map_gpa(shared.shared_alias(range.start()), range.len_bytes())
        .map_err(ConvertError::MapGpa)?;
    table.record_shared(range).map_err(ConvertError::Table)
}

pub(crate) fn unshare_range_with<const N: usize>(
    ops: &mut impl ConversionOps,
    table: &mut ConversionTable<N>,
    range: PageRange,
) -> Result<(), ConvertError> {
    table.check_unshare(range).map_err(ConvertError::Table)?;
    ops.map_gpa(range.start(), range.len_bytes())
        .map_err(ConvertError::MapGpa)?;
    // GHCI "TDG.VP.VMCALL<MapGPA>": after a shared->private conversion the
    // pages are PENDING and must be accepted before use (accept zeroes them).
    let mut gpa = range.start();
    while gpa < range.end() {
        ops.accept_4k(gpa)
            .map_err(|error| ConvertError::Accept { gpa, error })?;
        gpa += PAGE_SIZE;
    }
    table.record_private(range).map_err(ConvertError::Table)
}

/// Converts `range` from private to shared and records it.
///
/// Order the kernel must keep (a private mapping of a shared page is fatal to
/// the TD, the reverse only raises #VE): first map the range through its
/// shared alias only (PTEs with the shared bit, TLB flushed, no private
/// mapping left in use), then call this. The old contents are lost; initialise
/// the pages through the shared mapping afterwards.
///
/// On [`ConvertError::MapGpa`] the range is in an unknown state and is not
/// recorded.
///
/// # Safety
/// Must run in a TD. Nothing may access the range through a private mapping
/// from now on, and no Rust reference to its contents may be live.
pub unsafe fn share_range<const N: usize>(
    table: &mut ConversionTable<N>,
    shared: SharedBit,
    range: PageRange,
) -> Result<(), ConvertError> {
    share_range_with(&mut TdxConversionOps, table, shared, range)
}

/// Converts `range` (exactly as it was shared) back to private: MapGPA to the
/// private alias, then TDG.MEM.PAGE.ACCEPT of every page, then removes it from
/// the table.
///
/// Order the kernel must keep: stop all use of the shared mapping, call this,
/// and only afterwards map the range private again. The pages read as zero.
///
/// # Safety
/// Must run in a TD. No device or Rust reference may use the range, and the
/// range must be mapped only through its shared alias (or not at all) while
/// this runs.
pub unsafe fn unshare_range<const N: usize>(
    table: &mut ConversionTable<N>,
    range: PageRange,
) -> Result<(), ConvertError> {
    unshare_range_with(&mut TdxConversionOps, table, range)
}

/// Copies `dst.len()` bytes from shared memory at `src` into private memory
/// with volatile reads, so the VMM's concurrent writes cannot change the data
/// while it is being parsed (parse the private copy, never the shared bytes).
///
/// # Safety
/// `src..src + dst.len()` must be mapped and readable.
pub unsafe fn copy_from_shared(dst: &mut [u8], src: *const u8) {
    for (offset, byte) in dst.iter_mut().enumerate() {
        // SAFETY: the caller guarantees the whole source range is readable;
        // `offset < dst.len()`.
        *byte = unsafe { core::ptr::read_volatile(src.add(offset)) };
    }
}

/// Copies `src` into shared memory at `dst` with volatile writes (the VMM
/// observes them; the compiler must not elide or merge them).
///
/// # Safety
/// `dst..dst + src.len()` must be mapped and writable.
pub unsafe fn copy_to_shared(dst: *mut u8, src: &[u8]) {
    for (offset, byte) in src.iter().enumerate() {
        // SAFETY: the caller guarantees the whole destination range is
        // writable; `offset < src.len()`.
        unsafe { core::ptr::write_volatile(dst.add(offset), *byte) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tdvmcall::VmCallError;

    const SB48: SharedBit = match SharedBit::from_gpa_width(48) {
        Ok(s) => s,
        Err(_) => panic!("48 is valid"),
    };

    fn range(start: u64, len: u64) -> PageRange {
        match PageRange::new(SB48, start, len) {
            Ok(r) => r,
            Err(e) => panic!("bad test range: {e}"),
        }
    }

    #[test]
    fn shared_bit_positions() {
        assert_eq!(SB48.mask(), 1 << 47);
        assert_eq!(SharedBit::from_gpa_width(52).map(|s| s.mask()), Ok(1 << 51));
        for w in [0u8, 1, 32, 47, 49, 51, 53, 63, 64] {
            assert_eq!(
                SharedBit::from_gpa_width(w),
                Err(AddressError::UnsupportedGpaWidth { gpa_width: w })
            );
        }
    }

    #[test]
    fn aliases_round_trip() {
        let gpa = 0x1234_5000;
        let s = SB48.shared_alias(gpa);
        assert_eq!(s, 0x0000_8000_1234_5000);
        assert!(SB48.is_shared(s));
        assert!(!SB48.is_shared(gpa));
        assert_eq!(SB48.private_alias(s), gpa);
        assert_eq!(SB48.private_alias(gpa), gpa);
        assert_eq!(SB48.shared_alias(s), s);
        assert!(SB48.is_valid_gpa(s));
        assert!(!SB48.is_valid_gpa(1 << 48));
        assert!(SB48.is_valid_gpa((1 << 48) - 1));
    }

    #[test]
    fn page_range_validation() {
        assert!(is_page_aligned(0) && is_page_aligned(8192) && !is_page_aligned(4097));
        assert_eq!(
            PageRange::new(SB48, 0x1001, 4096),
            Err(AddressError::Unaligned { gpa: 0x1001 })
        );
        assert_eq!(
            PageRange::new(SB48, 0x1000, 0),
            Err(AddressError::BadLength { len: 0 })
        );
        assert_eq!(
            PageRange::new(SB48, 0x1000, 100),
            Err(AddressError::BadLength { len: 100 })
        );
        assert_eq!(
            PageRange::new(SB48, SB48.shared_alias(0x1000), 4096),
            Err(AddressError::WrongAlias {
                gpa: SB48.shared_alias(0x1000)
            })
        );
        let top = (1 << 47) - 4096;
        assert_eq!(
            PageRange::new(SB48, top, 4096).map(|r| r.end()),
            Ok(1 << 47)
        );
        assert_eq!(
            PageRange::new(SB48, top, 8192),
            Err(AddressError::OutOfRange {
                gpa: top,
                len: 8192
            })
        );
        let r = range(0x10_0000, 3 * 4096);
        assert_eq!(
            (r.start(), r.pages(), r.len_bytes(), r.end()),
            (0x10_0000, 3, 12288, 0x10_3000)
        );
        assert!(r.contains(0x10_2fff) && !r.contains(0x10_3000) && !r.contains(0xf_ffff));
    }

    #[test]
    fn overlap_is_symmetric_and_exact_at_edges() {
        let a = range(0x1000, 0x2000); // 0x1000..0x3000
        let b = range(0x3000, 0x1000); // adjacent
        let c = range(0x2000, 0x2000); // overlaps a's last page
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        assert!(a.overlaps(&c) && c.overlaps(&a));
        assert!(a.overlaps(&a));
    }

    #[test]
    fn table_records_and_refuses_double_conversion() {
        let mut t = ConversionTable::<2>::new();
        assert!(t.is_empty());
        let a = range(0x1000, 0x2000);
        let b = range(0x3000, 0x1000);
        assert_eq!(t.record_shared(a), Ok(()));
        assert_eq!(
            t.record_shared(a),
            Err(ConversionError::AlreadyShared {
                existing: a,
                requested: a
            })
        );
        let partial = range(0x2000, 0x1000);
        assert_eq!(
            t.record_shared(partial),
            Err(ConversionError::AlreadyShared {
                existing: a,
                requested: partial
            })
        );
        assert_eq!(t.record_shared(b), Ok(()));
        assert_eq!(t.len(), 2);
        assert_eq!(t.shared_pages(), 3);
        assert!(t.is_shared(0x1000) && t.is_shared(0x3fff) && !t.is_shared(0x4000));
        let c = range(0x10_0000, 0x1000);
        assert_eq!(
            t.record_shared(c),
            Err(ConversionError::TableFull { capacity: 2 })
        );
    }

    #[test]
    fn table_unshare_must_match_exactly() {
        let mut t = ConversionTable::<4>::new();
        let a = range(0x1000, 0x3000);
        assert_eq!(t.record_shared(a), Ok(()));
        let part = range(0x1000, 0x1000);
        assert_eq!(
            t.record_private(part),
            Err(ConversionError::RangeMismatch {
                recorded: a,
                requested: part
            })
        );
        let other = range(0x8000, 0x1000);
        assert_eq!(
            t.record_private(other),
            Err(ConversionError::NotShared { requested: other })
        );
        assert_eq!(t.record_private(a), Ok(()));
        assert!(t.is_empty());
        assert_eq!(
            t.record_private(a),
            Err(ConversionError::NotShared { requested: a })
        );
        // The slot is reusable after unsharing.
        assert_eq!(t.record_shared(a), Ok(()));
        assert_eq!(t.iter().copied().next(), Some(a));
    }

    #[derive(Default)]
    struct ModelOps {
        maps: [(u64, u64); 4],
        map_count: usize,
        accepted: [u64; 8],
        accept_count: usize,
        fail_map: Option<MapGpaError>,
        fail_accept_at: Option<u64>,
    }

    impl ConversionOps for ModelOps {
        fn map_gpa(&mut self, gpa: u64, len: u64) -> Result<(), MapGpaError> {
            if let Some(e) = self.fail_map {
                return Err(e);
            }
            self.maps[self.map_count] = (gpa, len);
            self.map_count += 1;
            Ok(())
        }
        fn accept_4k(&mut self, gpa: u64) -> Result<(), TdCallError> {
            if self.fail_accept_at == Some(gpa) {
                return Err(TdCallError::new(
                    tdcall::TdCallLeaf::MemPageAccept,
                    0xC000_0100_0000_0000,
                ));
            }
            self.accepted[self.accept_count] = gpa;
            self.accept_count += 1;
            Ok(())
        }
    }

    #[test]
    fn share_then_unshare_issues_mapgpa_and_accepts() {
        let mut ops = ModelOps::default();
        let mut t = ConversionTable::<4>::new();
        let r = range(0x20_0000, 0x3000);
        assert_eq!(share_range_with(&mut ops, &mut t, SB48, r), Ok(()));
        assert_eq!(ops.maps[0], (SB48.shared_alias(0x20_0000), 0x3000));
        assert!(t.is_shared(0x20_1000));
        // Sharing again is refused before anything reaches the VMM.
        assert_eq!(
            share_range_with(&mut ops, &mut t, SB48, r),
            Err(ConvertError::Table(ConversionError::AlreadyShared {
                existing: r,
                requested: r
            }))
        );
        assert_eq!(ops.map_count, 1);
        assert_eq!(unshare_range_with(&mut ops, &mut t, r), Ok(()));
        assert_eq!(ops.maps[1], (0x20_0000, 0x3000));
        assert_eq!(
            &ops.accepted[..ops.accept_count],
            &[0x20_0000, 0x20_1000, 0x20_2000]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn failed_conversions_leave_table_unchanged() {
        let mut t = ConversionTable::<4>::new();
        let r = range(0x20_0000, 0x2000);
        let mut failing = ModelOps {
            fail_map: Some(MapGpaError::Vmm {
                error: VmCallError::InvalidOperand,
                at_gpa: 0,
            }),
            ..Default::default()
        };
        assert!(matches!(
            share_range_with(&mut failing, &mut t, SB48, r),
            Err(ConvertError::MapGpa(_))
        ));
        assert!(t.is_empty());

        let mut ok = ModelOps::default();
        assert_eq!(share_range_with(&mut ok, &mut t, SB48, r), Ok(()));
        let mut accept_fails = ModelOps {
            fail_accept_at: Some(0x20_1000),
            ..Default::default()
        };
        match unshare_range_with(&mut accept_fails, &mut t, r) {
            Err(ConvertError::Accept { gpa, .. }) => assert_eq!(gpa, 0x20_1000),
            other => panic!("expected accept failure, got {other:?}"),
        }
        // Still recorded as shared: the kernel must not reuse it as private.
        assert!(t.is_shared(0x20_0000));
    }

    #[test]
    fn shared_copies_roundtrip() {
        let mut shared = [0u8; 16];
        let src = *b"0123456789abcdef";
        // SAFETY: `shared` is a live local buffer of 16 bytes.
        unsafe { copy_to_shared(shared.as_mut_ptr(), &src) };
        let mut private = [0u8; 16];
        // SAFETY: as above.
        unsafe { copy_from_shared(&mut private, shared.as_ptr()) };
        assert_eq!(private, src);
    }
}
