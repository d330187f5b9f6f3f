//! How many page-table pages the kernel reserves before ExitBootServices.
//!
//! The identity map covers every range of the UEFI memory map with 2 MiB
//! pages, so it needs one page directory per GiB region a range touches and
//! one PDPT per 512 GiB region. Counting per range (not by total conventional
//! RAM) covers unaccepted memory, which a TD's map lists as its own type: a
//! 64 GiB TD whose firmware accepted only the first gigabytes still needs
//! tables for all 64 GiB.

/// Pages for everything besides the memory map: PML4, PML5 (LA57), the low
/// 4 GiB, the DMA alias (PDPT + PD), the stack guard split, MMIO mapped later.
pub const FIXED_PAGES: u64 = 64;
/// The identity map stops here (4-level paging).
const IDENTITY_LIMIT: u64 = 1 << 47;
const GIB: u64 = 1 << 30;
const PDPT_SPAN: u64 = 512 * GIB;

/// Regions of `span` bytes that `[start, end)` touches.
fn regions(start: u64, end: u64, span: u64) -> u64 {
    if end <= start {
        return 0;
    }
    (end - 1) / span - start / span + 1
}

/// Table pages that identity mapping `ranges` (clipped at 2^47) can need, plus
/// [`FIXED_PAGES`]. An upper bound: overlapping ranges are counted twice.
pub fn table_pages(ranges: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    ranges.into_iter().fold(FIXED_PAGES, |pages, (start, end)| {
        let end = end.min(IDENTITY_LIMIT);
        pages.saturating_add(regions(start, end, GIB)).saturating_add(regions(start, end, PDPT_SPAN))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_64_gib_td_with_unaccepted_memory_fits() {
        // What TDVF reports for a 64 GiB TD: accepted low memory, the
        // 32-bit hole, and ~62 GiB above 4 GiB mostly unaccepted (type 15).
        let map = [(0, 0xa0000), (0x10_0000, 0x8000_0000), (0x1_0000_0000, 0x1_4000_0000), (0x1_4000_0000, 0x10_8000_0000)];
        let pages = table_pages(map);
        // One PD per GiB of the 66 GiB span, plus PDPTs, plus the fixed part.
        let needed_pds = 0x10_8000_0000u64 / GIB;
        assert!(pages >= FIXED_PAGES + needed_pds, "{pages} pages for {needed_pds} PDs");
        assert!(pages < FIXED_PAGES + needed_pds + 16, "{pages} is far more than needed");
    }

    #[test]
    fn sparse_and_hostile_maps_stay_bounded() {
        // A range far up and a range past the identity limit cost what they touch only.
        assert_eq!(table_pages([(1 << 45, (1 << 45) + 4096)]), FIXED_PAGES + 2);
        assert_eq!(table_pages([(1 << 50, 1 << 51)]), FIXED_PAGES);
        assert_eq!(table_pages([(5, 5), (9, 3)]), FIXED_PAGES);
        // Straddling a GiB boundary touches two PDs.
        assert_eq!(table_pages([(GIB - 4096, GIB + 4096)]), FIXED_PAGES + 3);
        assert_eq!(table_pages([(0, u64::MAX)]), FIXED_PAGES + (1 << 17) + 256);
    }
}
