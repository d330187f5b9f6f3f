//! The kernel's own page tables (4-level, identity mapped).
//!
//! UEFI's tables live in boot-services memory; once the kernel owns the
//! machine it installs tables built from pages it reserved itself:
//! - RAM and firmware regions are identity mapped with 2 MiB pages;
//! - the DMA pool is mapped at its identity address but pointing at the
//!   *shared* alias (GPA | shared bit) so the host can see it under TDX;
//! - the page below the kernel stack is left unmapped as a guard;
//! - device MMIO above 4 GiB is mapped on demand by [`map_mmio`].
//!
//! Caching of MMIO below 4 GiB follows the firmware's MTRRs (UC for the PCI
//! hole); mappings created by [`map_mmio`] are marked uncacheable explicitly.

use spin::Mutex;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const SIZE_2M: u64 = 2 * 1024 * 1024;
const SIZE_4K: u64 = 4096;

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
        if va >= 1 << 47 {
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

    /// Identity maps `[start, end)` rounded out to 2 MiB, skipping 2 MiB pages
    /// already mapped (so later, more specific mappings are not overwritten).
    fn identity_map(&mut self, start: u64, end: u64, flags: u64) -> Result<(), PagingError> {
        let mut va = start & !(SIZE_2M - 1);
        while va < end {
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
    /// The DMA pool (2 MiB aligned, multiple of 2 MiB).
    pub dma_pool: (u64, u64),
    /// Bit to set in the DMA pool's physical addresses (TDX shared bit; 0 when emulated).
    pub shared_bit: u64,
    /// A page to leave unmapped (stack guard).
    pub guard_page: u64,
}

/// Builds the tables and loads CR3.
pub fn install(layout: &Layout) -> Result<(), PagingError> {
    let mut pt = PageTables { pml4: core::ptr::null_mut(), pool_next: layout.table_pool.0, pool_end: layout.table_pool.1 };
    pt.pml4 = pt.alloc_table()?;
    let (dma_start, dma_end) = layout.dma_pool;
    let mut va = dma_start;
    while va < dma_end {
        pt.map_2m(va, va | layout.shared_bit, WRITABLE)?;
        va += SIZE_2M;
    }
    // The low 4 GiB always: firmware, APIC, IOAPIC and the 32-bit PCI hole live there.
    pt.identity_map(0, 4 << 30, WRITABLE)?;
    for &(start, end) in layout.identity {
        pt.identity_map(start, end, WRITABLE)?;
    }
    pt.unmap_4k(layout.guard_page)?;
    let pml4 = pt.pml4 as u64;
    *TABLES.lock() = Some(pt);
    // SAFETY: the new tables identity map everything the kernel touches
    // (its image, stack, heap, firmware runtime regions), so execution
    // continues at the same addresses.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack));
    }
    Ok(())
}

/// Identity maps a device MMIO range (uncacheable) that the boot layout did
/// not cover, e.g. a 64-bit PCI BAR above 4 GiB.
pub fn map_mmio(start: u64, len: u64) -> Result<(), PagingError> {
    let end = start.checked_add(len).ok_or(PagingError::BadAddress(start))?;
    let mut guard = TABLES.lock();
    let pt = guard.as_mut().ok_or(PagingError::OutOfTables)?;
    pt.identity_map(start, end, WRITABLE | CACHE_DISABLE | WRITE_THROUGH)?;
    // SAFETY: reloading CR3 with the same tables flushes stale TLB entries.
    unsafe {
        core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack));
    }
    Ok(())
}
