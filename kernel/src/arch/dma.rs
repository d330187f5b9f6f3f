//! Address arithmetic of the shared DMA window (virtqueues, bounce buffers,
//! the GetQuote buffer), kept pure so host tests pin it.
//!
//! One pool, three kinds of address:
//! - the **device address**: the plain guest-physical address (GPA). Under
//!   TDX the VMM strips the shared bit and QEMU knows guest RAM only at the
//!   plain GPA, so this is what virtqueue registers and descriptors carry;
//! - the **host GPA**: device address | shared bit. Only page-table entries
//!   and the GetQuote buffer argument (KVM requires the shared bit there)
//!   carry it;
//! - the **CPU address**: where the kernel reads and writes the pool, an alias
//!   in the upper half of the address space ([`CPU_ALIAS_BASE`]) on every
//!   platform. It never equals the device address, so handing a device a CPU
//!   address (or the CPU a device address, whose identity mapping is removed)
//!   fails under TCG exactly as it would in a TD.

/// Virtual address where the kernel maps the DMA pool (PML4 slot 256, the
/// first upper-half slot; the identity map only uses slots below 256).
pub const CPU_ALIAS_BASE: u64 = 0xffff_8000_0000_0000;
/// Pool pages are 4 KiB.
pub const PAGE_SIZE: u64 = 4096;

/// The PML5 slot of `va` when the tables are 5-level (CR4.LA57).
pub fn pml5_slot(va: u64) -> usize {
    ((va >> 48) & 511) as usize
}

/// Why a window cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaWindowError {
    /// Base or length not page aligned, or an empty window.
    Unaligned { gpa: u64, len: u64 },
    /// The shared bit is not a single bit above the window's addresses.
    SharedBit(u64),
    /// The window does not fit below the CPU alias's 512 GiB slot.
    TooLarge(u64),
}

/// The DMA pool's placement: its GPA range and the TDX shared bit (0 when
/// emulated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaWindow {
    gpa: u64,
    len: u64,
    shared_bit: u64,
}

impl DmaWindow {
    /// A window over `[gpa, gpa + len)`; `shared_bit` is 0 or one bit above
    /// every address of the window.
    pub fn new(gpa: u64, len: u64, shared_bit: u64) -> Result<DmaWindow, DmaWindowError> {
        if gpa % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 || len == 0 {
            return Err(DmaWindowError::Unaligned { gpa, len });
        }
        let end = gpa.checked_add(len).ok_or(DmaWindowError::Unaligned { gpa, len })?;
        if len > 1 << 39 {
            return Err(DmaWindowError::TooLarge(len));
        }
        if shared_bit != 0 && (!shared_bit.is_power_of_two() || shared_bit < end) {
            return Err(DmaWindowError::SharedBit(shared_bit));
        }
        Ok(DmaWindow { gpa, len, shared_bit })
    }

    /// Bytes in the window.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Never true: [`DmaWindow::new`] refuses empty windows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The TDX shared bit (0 when emulated).
    pub fn shared_bit(&self) -> u64 {
        self.shared_bit
    }

    /// The device-visible address of byte `offset`: the plain GPA.
    pub fn device_addr(&self, offset: u64) -> u64 {
        self.gpa + offset
    }

    /// The kernel's address of byte `offset`.
    pub fn cpu_addr(&self, offset: u64) -> u64 {
        CPU_ALIAS_BASE + offset
    }

    /// What the page tables map the CPU alias of `offset` to (GPA | shared bit),
    /// and what the GetQuote buffer argument carries.
    pub fn host_gpa(&self, offset: u64) -> u64 {
        (self.gpa + offset) | self.shared_bit
    }

    /// The offset of a device address, if `[addr, addr + len)` lies inside the
    /// window. A shared-bit-tagged address is not a device address.
    pub fn device_offset(&self, addr: u64, len: u64) -> Option<u64> {
        let offset = addr.checked_sub(self.gpa)?;
        (offset.checked_add(len)? <= self.len).then_some(offset)
    }

    /// The offset of a host GPA (shared bit set when the window has one).
    pub fn host_gpa_offset(&self, addr: u64, len: u64) -> Option<u64> {
        if addr & self.shared_bit != self.shared_bit {
            return None;
        }
        self.device_offset(addr & !self.shared_bit, len)
    }

    /// The pool's CPU alias range `[start, end)`.
    pub fn cpu_range(&self) -> (u64, u64) {
        (CPU_ALIAS_BASE, CPU_ALIAS_BASE + self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: u64 = 0x7e00_0000;
    const LEN: u64 = 4 << 20;

    #[test]
    fn device_gets_the_plain_gpa_whatever_the_shared_bit() {
        for bit in [0, 1 << 47, 1 << 51] {
            let w = DmaWindow::new(POOL, LEN, bit).unwrap();
            assert_eq!(w.device_addr(0), POOL);
            assert_eq!(w.device_addr(0x3000), POOL + 0x3000);
            assert_eq!(w.device_addr(0x3000) & (1 << 47 | 1 << 51), 0, "device address carries the shared bit");
            assert_eq!(w.host_gpa(0x3000), (POOL + 0x3000) | bit);
        }
    }

    #[test]
    fn cpu_alias_differs_from_every_device_address() {
        let w = DmaWindow::new(POOL, LEN, 1 << 51).unwrap();
        let (start, end) = w.cpu_range();
        assert_eq!((start, end), (CPU_ALIAS_BASE, CPU_ALIAS_BASE + LEN));
        for offset in (0..LEN).step_by(PAGE_SIZE as usize) {
            assert_ne!(w.cpu_addr(offset), w.device_addr(offset));
            assert_ne!(w.cpu_addr(offset), w.host_gpa(offset));
            // Neither a CPU address nor a shared-bit GPA is taken for a device address.
            assert_eq!(w.device_offset(w.cpu_addr(offset), 1), None);
            assert_eq!(w.device_offset(w.host_gpa(offset), 1), None);
            assert_eq!(w.device_offset(w.device_addr(offset), PAGE_SIZE), Some(offset));
            assert_eq!(w.host_gpa_offset(w.host_gpa(offset), PAGE_SIZE), Some(offset));
            assert_eq!(w.host_gpa_offset(w.device_addr(offset), 1), None);
        }
        // Upper-half, canonical, PML4 slot 256: disjoint from the identity map.
        assert_eq!((CPU_ALIAS_BASE >> 39) & 511, 256);
        // Under LA57 the same PML4 sits at PML5 slot 511 for the alias (and 0 for the identity map).
        assert_eq!(pml5_slot(CPU_ALIAS_BASE), 511);
        assert_eq!(pml5_slot(CPU_ALIAS_BASE + LEN - 1), 511);
        assert_eq!(pml5_slot((1 << 47) - 1), 0);
    }

    #[test]
    fn ranges_are_bounded() {
        let w = DmaWindow::new(POOL, LEN, 1 << 47).unwrap();
        assert_eq!(w.device_offset(POOL + LEN - 8, 8), Some(LEN - 8));
        assert_eq!(w.device_offset(POOL + LEN - 8, 9), None);
        assert_eq!(w.device_offset(POOL - 1, 1), None);
        assert_eq!(w.device_offset(u64::MAX, 2), None);
        assert_eq!(w.device_offset(POOL, u64::MAX), None);
    }

    #[test]
    fn refuses_bad_windows() {
        assert_eq!(DmaWindow::new(POOL + 1, LEN, 0), Err(DmaWindowError::Unaligned { gpa: POOL + 1, len: LEN }));
        assert_eq!(DmaWindow::new(POOL, 0, 0), Err(DmaWindowError::Unaligned { gpa: POOL, len: 0 }));
        assert_eq!(DmaWindow::new(POOL, LEN, 3 << 47), Err(DmaWindowError::SharedBit(3 << 47)));
        assert_eq!(DmaWindow::new(POOL, LEN, 1 << 20), Err(DmaWindowError::SharedBit(1 << 20)));
        assert_eq!(DmaWindow::new(u64::MAX - 0xfff, 0x2000, 0), Err(DmaWindowError::Unaligned { gpa: u64::MAX - 0xfff, len: 0x2000 }));
    }
}
