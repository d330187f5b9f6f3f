//! The kernel's own page tables (4-level, or 5-level when the firmware left
//! CR4.LA57 set), identity mapped.
//!
//! UEFI's tables live in boot-services memory; once the kernel owns the
//! machine it installs tables built from pages it reserved itself:
//! - RAM and firmware regions are identity mapped with 2 MiB pages (below
//!   2^47, the most a 4-level identity map reaches; ranges above are left
//!   unmapped and named in the boot log, never fatal);
//! - the DMA pool is mapped only at its CPU alias in the upper half
//!   ([`tdsigner_kernel::dma`]), pointing at its host GPA (GPA | shared bit);
//!   its identity range is left unmapped, so a device address used by the CPU
//!   faults on every platform;
//! - the page below the kernel stack is left unmapped as a guard;
//! - device MMIO above 4 GiB is mapped on demand by [`map_mmio`] (emulated
//!   platform only: under TDX, MMIO is a TDVMCALL and needs no mapping).
//!
//! Caching of MMIO below 4 GiB follows the firmware's MTRRs (UC for the PCI
//! hole); mappings created by [`map_mmio`] are marked uncacheable explicitly.

use spin::Mutex;
use tdsigner_kernel::dma::DmaWindow;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const SIZE_2M: u64 = 2 * 1024 * 1024;
const SIZE_4K: u64 = 4096;
/// The first address a 4-level identity map cannot reach.
pub const IDENTITY_LIMIT: u64 = 1 << 47;
const CR4_LA57: u64 = 1 << 12;

/// Page-table construction errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingError {
    /// The reserved table pool is used up.
    OutOfTables,
    /// An address that is not canonical/identity-mappable.
    BadAddress(u64),
}

type Table = [u64; 512];

struct PageTables {
    pml4: *mut Table,
    pool_next: u64,
    pool_end: u64,
}

// SAFETY: the raw pointers refer to the kernel's reserved table pages; access
// is serialised by the TABLES mutex and the kernel runs on one vCPU.
unsafe impl Send for PageTables {}

static TABLES: Mutex<Option<PageTables>> = Mutex::new(None);

impl PageTables {
    fn alloc_table(&mut self) -> Result<*mut Table, PagingError> {
        if self.pool_next + SIZE_4K > self.pool_end {
            return Err(PagingError::OutOfTables);
        }
        let table = self.pool_next as *mut Table;
        self.pool_next += SIZE_4K;
        // SAFETY: the page is inside the reserved pool, identity mapped by
        // the firmware's tables while building and by ours afterwards.
        unsafe { table.write_bytes(0, 1) };
        Ok(table)
    }

    /// The table an entry points at, creating it if the entry is empty.
    fn next_level(&mut self, parent: *mut Table, index: usize) -> Result<*mut Table, PagingError> {
        // SAFETY: `parent` is a table page from our pool.
        let entry = unsafe { (*parent)[index] };
        if entry & PRESENT != 0 {
            if entry & HUGE != 0 {
                return Err(PagingError::BadAddress(entry & ADDR_MASK));
            }
            return Ok((entry & ADDR_MASK) as *mut Table);
        }
        let child = self.alloc_table()?;
        // SAFETY: as above.
        unsafe { (*parent)[index] = child as u64 | PRESENT | WRITABLE };
        Ok(child)
    }

    fn page_directory(&mut self, va: u64) -> Result<*mut Table, PagingError> {
        // Lower half (identity) or the upper half's first 2^47 (the DMA alias).
        if (IDENTITY_LIMIT..tdsigner_kernel::dma::CPU_ALIAS_BASE).contains(&va) {
            return Err(PagingError::BadAddress(va));
        }
        let pdpt = self.next_level(self.pml4, ((va >> 39) & 511) as usize)?;
        self.next_level(pdpt, ((va >> 30) & 511) as usize)
    }

    /// Maps the 2 MiB page at `va` (aligned) to `pa`, replacing what was there.
    fn map_2m(&mut self, va: u64, pa: u64, flags: u64) -> Result<(), PagingError> {
        let pd = self.page_directory(va)?;
        // SAFETY: `pd` is a table page from our pool.
        unsafe { (*pd)[((va >> 21) & 511) as usize] = (pa & ADDR_MASK) | flags | PRESENT | HUGE };
        Ok(())
    }

    /// Removes the 2 MiB page at `va` (aligned), if mapped.
    fn unmap_2m(&mut self, va: u64) -> Result<(), PagingError> {
        let pd = self.page_directory(va)?;
        // SAFETY: `pd` is a table page from our pool.
        unsafe { (*pd)[((va >> 21) & 511) as usize] = 0 };
        Ok(())
    }

    /// Identity maps `[start, end)` rounded out to 2 MiB, skipping 2 MiB pages
    /// already mapped (so later, more specific mappings are not overwritten).
    fn identity_map(&mut self, start: u64, end: u64, flags: u64) -> Result<(), PagingError> {
        let mut va = start & !(SIZE_2M - 1);
        while va < end.min(IDENTITY_LIMIT) {
            let pd = self.page_directory(va)?;
            let index = ((va >> 21) & 511) as usize;
            // SAFETY: `pd` is a table page from our pool.
            if unsafe { (*pd)[index] } & PRESENT == 0 {
                self.map_2m(va, va, flags)?;
            }
            va += SIZE_2M;
        }
        Ok(())
    }

    /// Splits the 2 MiB page holding `va` into 4 KiB pages and unmaps `va`'s.
    fn unmap_4k(&mut self, va: u64) -> Result<(), PagingError> {
        let pd = self.page_directory(va)?;
        let index = ((va >> 21) & 511) as usize;
        // SAFETY: `pd` is a table page from our pool.
        let entry = unsafe { (*pd)[index] };
        let pt = if entry & PRESENT != 0 && entry & HUGE != 0 {
            let pt = self.alloc_table()?;
            let base = entry & ADDR_MASK & !(SIZE_2M - 1);
            let flags = entry & (WRITABLE | WRITE_THROUGH | CACHE_DISABLE);
            for i in 0..512u64 {
                // SAFETY: `pt` is a fresh table page from our pool.
                unsafe { (*pt)[i as usize] = (base + i * SIZE_4K) | flags | PRESENT };
            }
            // SAFETY: as above.
            unsafe { (*pd)[index] = pt as u64 | PRESENT | WRITABLE };
            pt
        } else {
            self.next_level(pd, index)?
        };
        // SAFETY: `pt` is a table page from our pool.
        unsafe { (*pt)[((va >> 12) & 511) as usize] = 0 };
        Ok(())
    }
}

/// What [`install`] maps.
pub struct Layout<'a> {
    /// Reserved, zero-initialised pages for the tables: `[start, end)`.
    pub table_pool: (u64, u64),
    /// Physical ranges to identity map (RAM, firmware, MMIO from the memory map).
    pub identity: &'a [(u64, u64)],
    /// The DMA pool (2 MiB aligned, multiple of 2 MiB) and its shared bit.
    pub dma: DmaWindow,
    /// A page to leave unmapped (stack guard).
    pub guard_page: u64,
}

/// What [`install`] did that the boot log reports.
pub struct Installed {
    /// Whether the tables are 5-level (the firmware left CR4.LA57 set).
    pub five_level: bool,
    /// Bytes of memory-map ranges at or above [`IDENTITY_LIMIT`], left unmapped.
    pub unmapped_high: u64,
}

/// Builds the tables and loads CR3.
pub fn install(layout: &Layout) -> Result<Installed, PagingError> {
    let dma = layout.dma;
    let dma_gpa = dma.device_addr(0);
    if dma_gpa % SIZE_2M != 0 || dma.len() % SIZE_2M != 0 {
        return Err(PagingError::BadAddress(dma_gpa));
    }
    // The pool becomes shared next: write back and drop its cache lines while
    // the firmware's tables still map it private (as Linux does before
    // converting), so no dirty private line is written over shared data later.
    flush_cache_range(dma_gpa, dma.len());
    let mut pt = PageTables { pml4: core::ptr::null_mut(), pool_next: layout.table_pool.0, pool_end: layout.table_pool.1 };
    pt.pml4 = pt.alloc_table()?;
    let mut offset = 0;
    while offset < dma.len() {
        pt.map_2m(dma.cpu_addr(offset), dma.host_gpa(offset), WRITABLE)?;
        offset += SIZE_2M;
    }
    // The low 4 GiB always: firmware, APIC, IOAPIC and the 32-bit PCI hole live there.
    pt.identity_map(0, 4 << 30, WRITABLE)?;
    let mut unmapped_high = 0;
    for &(start, end) in layout.identity {
        unmapped_high += end.saturating_sub(start.max(IDENTITY_LIMIT));
        pt.identity_map(start, end, WRITABLE)?;
    }
    let mut offset = 0;
    while offset < dma.len() {
        pt.unmap_2m(dma_gpa + offset)?;
        offset += SIZE_2M;
    }
    pt.unmap_4k(layout.guard_page)?;
    let five_level = x86_64::registers::control::Cr4::read_raw() & CR4_LA57 != 0;
    let root = if five_level {
        // CR4.LA57 cannot be cleared in long mode: put one PML5 above the same
        // PML4, at slot 0 (identity) and at the alias's slot.
        let pml5 = pt.alloc_table()?;
        let entry = pt.pml4 as u64 | PRESENT | WRITABLE;
        // SAFETY: `pml5` is a fresh table page from our pool.
        unsafe {
            (*pml5)[0] = entry;
            (*pml5)[tdsigner_kernel::dma::pml5_slot(tdsigner_kernel::dma::CPU_ALIAS_BASE)] = entry;
        }
        pml5 as u64
    } else {
        pt.pml4 as u64
    };
    *TABLES.lock() = Some(pt);
    // SAFETY: the new tables identity map everything the kernel touches
    // (its image, stack, heap, firmware runtime regions) and the DMA pool's
    // alias, so execution continues at the same addresses.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack));
    }
    Ok(Installed { five_level, unmapped_high })
}

/// Writes back and invalidates the cache lines of `[start, start + len)`
/// (mapped by the current tables).
fn flush_cache_range(start: u64, len: u64) {
    const LINE: u64 = 64;
    let mut at = start & !(LINE - 1);
    while at < start + len {
        // SAFETY: CLFLUSH only writes back and invalidates the line holding
        // `at`, which the caller's current tables map; it changes no data.
        unsafe { core::arch::asm!("clflush [{}]", in(reg) at, options(nostack, preserves_flags)) };
        at += LINE;
    }
    // SAFETY: a fence orders the flushes before what follows (the conversion).
    unsafe { core::arch::asm!("mfence", options(nostack, preserves_flags)) };
}

/// Identity maps a device MMIO range (uncacheable) that the boot layout did
/// not cover, e.g. a 64-bit PCI BAR above 4 GiB.
pub fn map_mmio(start: u64, len: u64) -> Result<(), PagingError> {
    let end = start.checked_add(len).ok_or(PagingError::BadAddress(start))?;
    if end > IDENTITY_LIMIT {
        return Err(PagingError::BadAddress(start));
    }
    let mut guard = TABLES.lock();
    let pt = guard.as_mut().ok_or(PagingError::OutOfTables)?;
    pt.identity_map(start, end, WRITABLE | CACHE_DISABLE | WRITE_THROUGH)?;
    // SAFETY: reloading CR3 with the same tables flushes stale TLB entries.
    unsafe {
        core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack));
    }
    Ok(())
}
