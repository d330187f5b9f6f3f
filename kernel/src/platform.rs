//! Platform backends, chosen at boot by CPUID leaf 0x21.
//!
//! - `tdx`: a real trust domain. Device access is explicit TDVMCALLs, DMA
//!   memory is converted to shared with MapGPA and mapped with the shared bit,
//!   RTMRs and reports come from the TDX module.
//! - `emulated`: the same interface in software for CI and development.
//!   RTMRs are registers in memory and every output derived from them says
//!   "emulated".
//!
//! The rest of the kernel only talks to [`Platform`]; nothing above this
//! module knows which backend runs.

use spin::{Mutex, Once};
use tdsigner_node::health::PlatformKind;

static PLATFORM: Once<Platform> = Once::new();

/// RTMR indices a guest may extend (TDG.MR.RTMR.EXTEND accepts 2 and 3).
pub const EXTENDABLE_RTMRS: [usize; 2] = [2, 3];

/// Platform errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// RTMR index outside 2..=3.
    RtmrIndex(usize),
    /// The CPU reports a TDX guest but this image cannot drive it yet.
    TdxNotSupported,
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlatformError::RtmrIndex(i) => write!(f, "RTMR{i} cannot be extended by the guest"),
            PlatformError::TdxNotSupported => write!(
                f,
                "running in a TDX trust domain, but this build's TDX backend is not wired in yet"
            ),
        }
    }
}

/// The active backend.
pub enum Platform {
    Emulated(Emulated),
}

/// Software stand-in for the TDX interfaces.
pub struct Emulated {
    rtmr: Mutex<[[u8; 48]; 4]>,
}

/// True when CPUID leaf 0x21 carries the TDX vendor string.
fn cpu_reports_td() -> bool {
    let max = core::arch::x86_64::__cpuid(0).eax;
    if max < 0x21 {
        return false;
    }
    let l = core::arch::x86_64::__cpuid_count(0x21, 0);
    let mut vendor = [0u8; 12];
    vendor[0..4].copy_from_slice(&l.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&l.edx.to_le_bytes());
    vendor[8..12].copy_from_slice(&l.ecx.to_le_bytes());
    &vendor == b"IntelTDX    "
}

/// Detects and initialises the backend. Call once, first thing after
/// ExitBootServices.
pub fn init() -> Result<&'static Platform, PlatformError> {
    if cpu_reports_td() {
        return Err(PlatformError::TdxNotSupported);
    }
    Ok(PLATFORM.call_once(|| Platform::Emulated(Emulated { rtmr: Mutex::new([[0; 48]; 4]) })))
}

/// The backend. Panics if called before [`init`]; every caller runs after it.
pub fn get() -> &'static Platform {
    match PLATFORM.get() {
        Some(p) => p,
        None => panic!("platform used before init"),
    }
}

/// The backend if initialised.
pub fn try_get() -> Option<&'static Platform> {
    PLATFORM.get()
}

impl Platform {
    pub fn kind(&self) -> PlatformKind {
        match self {
            Platform::Emulated(_) => PlatformKind::Emulated,
        }
    }

    /// Bit that marks a guest-physical address as shared with the host
    /// (0 when emulated).
    pub fn shared_bit(&self) -> u64 {
        match self {
            Platform::Emulated(_) => 0,
        }
    }

    pub fn io_read8(&self, port: u16) -> u8 {
        match self {
            // SAFETY: port I/O on the emulated platform goes to QEMU devices
            // the kernel owns (UART, PCI config); reads have no memory effects.
            Platform::Emulated(_) => unsafe { x86_64::instructions::port::Port::<u8>::new(port).read() },
        }
    }

    pub fn io_write8(&self, port: u16, value: u8) {
        match self {
            // SAFETY: as in io_read8.
            Platform::Emulated(_) => unsafe { x86_64::instructions::port::Port::<u8>::new(port).write(value) },
        }
    }

    pub fn io_read32(&self, port: u16) -> u32 {
        match self {
            // SAFETY: as in io_read8.
            Platform::Emulated(_) => unsafe { x86_64::instructions::port::Port::<u32>::new(port).read() },
        }
    }

    pub fn io_write32(&self, port: u16, value: u32) {
        match self {
            // SAFETY: as in io_read8.
            Platform::Emulated(_) => unsafe { x86_64::instructions::port::Port::<u32>::new(port).write(value) },
        }
    }

    /// Reads device memory (MMIO) of width 1, 2, 4 or 8 bytes at `gpa`.
    ///
    /// # Safety
    /// `gpa` must be inside a device MMIO region this kernel owns, mapped
    /// (identity) by [`crate::paging`], and aligned to `width`.
    pub unsafe fn mmio_read(&self, gpa: u64, width: u8) -> u64 {
        match self {
            // SAFETY: the caller guarantees an identity-mapped, aligned MMIO address.
            Platform::Emulated(_) => unsafe {
                match width {
                    1 => u64::from(core::ptr::read_volatile(gpa as *const u8)),
                    2 => u64::from(core::ptr::read_volatile(gpa as *const u16)),
                    4 => u64::from(core::ptr::read_volatile(gpa as *const u32)),
                    _ => core::ptr::read_volatile(gpa as *const u64),
                }
            },
        }
    }

    /// Writes device memory; see [`Platform::mmio_read`].
    ///
    /// # Safety
    /// As for [`Platform::mmio_read`].
    pub unsafe fn mmio_write(&self, gpa: u64, width: u8, value: u64) {
        match self {
            // SAFETY: the caller guarantees an identity-mapped, aligned MMIO address.
            Platform::Emulated(_) => unsafe {
                match width {
                    1 => core::ptr::write_volatile(gpa as *mut u8, value as u8),
                    2 => core::ptr::write_volatile(gpa as *mut u16, value as u16),
                    4 => core::ptr::write_volatile(gpa as *mut u32, value as u32),
                    _ => core::ptr::write_volatile(gpa as *mut u64, value),
                }
            },
        }
    }

    /// Makes `[gpa, gpa + len)` (page aligned) shared with the host. The
    /// caller maps it with [`Platform::shared_bit`] set.
    pub fn convert_to_shared(&self, _gpa: u64, _len: u64) -> Result<(), PlatformError> {
        match self {
            // Nothing to convert: all guest memory is host-visible anyway.
            Platform::Emulated(_) => Ok(()),
        }
    }

    /// RTMR[index] = SHA-384(RTMR[index] ‖ digest).
    pub fn extend_rtmr(&self, index: usize, digest: &[u8; 48]) -> Result<(), PlatformError> {
        if !EXTENDABLE_RTMRS.contains(&index) {
            return Err(PlatformError::RtmrIndex(index));
        }
        match self {
            Platform::Emulated(e) => {
                use sha2::{Digest, Sha384};
                let mut rtmr = e.rtmr.lock();
                let mut h = Sha384::new();
                h.update(rtmr[index]);
                h.update(digest);
                rtmr[index].copy_from_slice(&h.finalize());
                Ok(())
            }
        }
    }

    /// Current RTMR values where the backend can read them directly (the
    /// emulated one). A TDX guest reads its RTMRs from a TDREPORT instead.
    pub fn emulated_rtmrs(&self) -> Option<[[u8; 48]; 4]> {
        match self {
            Platform::Emulated(e) => Some(*e.rtmr.lock()),
        }
    }

    /// Waits for the next interrupt with interrupts enabled, then disables
    /// them again.
    pub fn wait_for_interrupt(&self) {
        match self {
            // `sti; hlt` is atomic with respect to interrupt delivery: the STI
            // shadow covers the HLT, so a wakeup cannot slip in between.
            // SAFETY: interrupts are set up (IDT, APIC) before the main loop
            // calls this; handlers only acknowledge the APIC.
            Platform::Emulated(_) => unsafe {
                core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack));
            },
        }
    }
}
