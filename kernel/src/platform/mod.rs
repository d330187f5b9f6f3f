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
//!
//! **Layer: platform** (the lowest). It owns the backend and the services every
//! layer above needs from the machine: [`console`] (serial output), [`fatal`]
//! (the one way any layer ends the guest), [`clock`] (the calibrated TSC),
//! [`rng`] (RDSEED/RDRAND) and [`measured_boot`] (RTMR extensions and their
//! log). It uses no other layer of the kernel.

#[macro_use]
pub mod console;
pub mod clock;
pub mod fatal;
pub mod measured_boot;
pub mod rng;

use spin::{Mutex, Once};
use tdsigner_node::health::PlatformKind;
use tdsigner_tdx::report::{ReportData, RtmrExtendData, TdReport};
use tdsigner_tdx::shared::{ConversionTable, PageRange, SharedBit};
use tdsigner_tdx::tdcall::{self, RtmrIndex, TdInfo};
use tdsigner_tdx::tdvmcall::{self, MmioWidth};

static PLATFORM: Once<Platform> = Once::new();

/// RTMR indices a guest may extend (TDG.MR.RTMR.EXTEND accepts 2 and 3).
pub const EXTENDABLE_RTMRS: [usize; 2] = [2, 3];

/// Platform errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// RTMR index outside 2..=3.
    RtmrIndex(usize),
    /// A TDCALL failed (leaf name, raw status).
    TdCall(&'static str, u64),
    /// TDG.VP.INFO reported a GPA width the spec does not define.
    GpaWidth(u8),
    /// The TD does not have SEPT #VE disabled: touching an unaccepted page
    /// would raise a #VE this kernel does not handle, so it refuses to run.
    SeptVeEnabled,
    /// Shared-memory conversion failed.
    Convert,
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlatformError::RtmrIndex(i) => write!(f, "RTMR{i} cannot be extended by the guest"),
            PlatformError::TdCall(leaf, status) => write!(f, "TDCALL {leaf} failed with status {status:#x}"),
            PlatformError::GpaWidth(w) => write!(f, "TD reports an unsupported GPA width {w}"),
            PlatformError::SeptVeEnabled => {
                write!(f, "TD attribute SEPT_VE_DISABLE is not set; refusing to run")
            }
            PlatformError::Convert => write!(f, "MapGPA conversion to shared memory failed"),
        }
    }
}

impl From<tdcall::TdCallError> for PlatformError {
    fn from(e: tdcall::TdCallError) -> Self {
        PlatformError::TdCall(e.leaf.name(), e.status)
    }
}

/// The active backend.
pub enum Platform {
    Tdx(Tdx),
    Emulated(Emulated),
}

/// A real trust domain.
pub struct Tdx {
    info: TdInfo,
    shared: SharedBit,
    conversions: Mutex<ConversionTable<8>>,
}

impl Tdx {
    /// The TD's shared bit.
    pub fn shared(&self) -> SharedBit {
        self.shared
    }
}

/// Software stand-in for the TDX interfaces.
pub struct Emulated {
    rtmr: Mutex<[[u8; 48]; 4]>,
}

/// Detects and initialises the backend by CPUID leaf 0x21. Call once,
/// first thing after ExitBootServices.
pub fn init() -> Result<&'static Platform, PlatformError> {
    let platform = if tdsigner_tdx::is_td() {
        let info = tdcall::vp_info()?;
        let shared = info.shared_bit().map_err(|_| PlatformError::GpaWidth(info.gpa_width))?;
        if !info.attributes.sept_ve_disabled() {
            return Err(PlatformError::SeptVeEnabled);
        }
        tdsigner_tdx::ve::set_ve_fatal_hook(ve_fatal);
        Platform::Tdx(Tdx { info, shared, conversions: Mutex::new(ConversionTable::new()) })
    } else {
        Platform::Emulated(Emulated { rtmr: Mutex::new([[0; 48]; 4]) })
    };
    Ok(PLATFORM.call_once(|| platform))
}

/// Where an unhandled #VE ends: one line on the console and power-off.
fn ve_fatal(
    frame: &tdsigner_tdx::ve::VeTrapFrame,
    info: Option<&tdcall::VeInfo>,
    error: &tdsigner_tdx::ve::VeError,
) -> ! {
    crate::platform::fatal::fatal(format_args!(
        "unhandled #VE at rip={:#x} (exit reason {:?}): {error}",
        frame.rip,
        info.map(|i| i.exit_reason)
    ))
}

/// The #VE entry point to install at vector 20, when the backend has one.
pub fn ve_entry() -> Option<u64> {
    match get() {
        Platform::Tdx(_) => Some(tdsigner_tdx::ve::ve_entry_address()),
        Platform::Emulated(_) => None,
    }
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
            Platform::Tdx(_) => PlatformKind::Tdx,
            Platform::Emulated(_) => PlatformKind::Emulated,
        }
    }

    /// Whether the TD was launched with the DEBUG attribute (its memory and
    /// state are readable by the host): never acceptable in production.
    pub fn is_debug_td(&self) -> bool {
        match self {
            Platform::Tdx(t) => t.info.attributes.is_debug(),
            Platform::Emulated(_) => false,
        }
    }

    /// Bit that marks a guest-physical address as shared with the host
    /// (0 when emulated).
    pub fn shared_bit(&self) -> u64 {
        match self {
            Platform::Tdx(t) => t.shared.mask(),
            Platform::Emulated(_) => 0,
        }
    }

    /// Port I/O failures under TDX (the VMM refused) read as all ones, like
    /// an absent device.
    pub fn io_read8(&self, port: u16) -> u8 {
        match self {
            // SAFETY: TDVMCALL<Instruction.IO> has no memory operands; the
            // ports are the UART and PCI configuration ports this kernel owns.
            Platform::Tdx(_) => unsafe { tdvmcall::io_read_u8(port) }.unwrap_or(u8::MAX),
            // SAFETY: port I/O on the emulated platform goes to QEMU devices
            // the kernel owns (UART, PCI config); reads have no memory effects.
            Platform::Emulated(_) => unsafe { x86_64::instructions::port::Port::<u8>::new(port).read() },
        }
    }

    pub fn io_write8(&self, port: u16, value: u8) {
        match self {
            // SAFETY: as in io_read8.
            Platform::Tdx(_) => {
                let _ = unsafe { tdvmcall::io_write_u8(port, value) };
            }
            // SAFETY: as in io_read8.
            Platform::Emulated(_) => unsafe { x86_64::instructions::port::Port::<u8>::new(port).write(value) },
        }
    }

    pub fn io_read32(&self, port: u16) -> u32 {
        match self {
            // SAFETY: as in io_read8.
            Platform::Tdx(_) => unsafe { tdvmcall::io_read_u32(port) }.unwrap_or(u32::MAX),
            // SAFETY: as in io_read8.
            Platform::Emulated(_) => unsafe { x86_64::instructions::port::Port::<u32>::new(port).read() },
        }
    }

    pub fn io_write32(&self, port: u16, value: u32) {
        match self {
            // SAFETY: as in io_read8.
            Platform::Tdx(_) => {
                let _ = unsafe { tdvmcall::io_write_u32(port, value) };
            }
            // SAFETY: as in io_read8.
            Platform::Emulated(_) => unsafe { x86_64::instructions::port::Port::<u32>::new(port).write(value) },
        }
    }

    /// Reads device memory (MMIO) of width 1, 2, 4 or 8 bytes at `gpa`.
    ///
    /// # Safety
    /// `gpa` must be inside a device MMIO region this kernel owns, mapped
    /// (identity) by the page tables of the layer above (`arch::paging`), and aligned to `width`.
    pub unsafe fn mmio_read(&self, gpa: u64, width: u8) -> u64 {
        match self {
            // SAFETY: TDVMCALL<#VE.RequestMMIO> names the device's shared GPA;
            // no guest memory is touched. Failures read as all ones.
            Platform::Tdx(t) => unsafe { tdvmcall::mmio_read(mmio_width(width), t.shared.shared_alias(gpa)) }
                .unwrap_or(u64::MAX),
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
            // SAFETY: as in mmio_read.
            Platform::Tdx(t) => {
                let _ = unsafe { tdvmcall::mmio_write(mmio_width(width), t.shared.shared_alias(gpa), value) };
            }
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
    pub fn convert_to_shared(&self, gpa: u64, len: u64) -> Result<(), PlatformError> {
        match self {
            Platform::Tdx(t) => {
                let range = PageRange::new(t.shared, gpa, len).map_err(|_| PlatformError::Convert)?;
                // SAFETY: the caller mapped the range through its shared alias
                // only (paging::install) and has not touched it since.
                unsafe { tdsigner_tdx::shared::share_range(&mut t.conversions.lock(), t.shared, range) }
                    .map_err(|_| PlatformError::Convert)
            }
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
            Platform::Tdx(_) => {
                let data = RtmrExtendData(*digest);
                let index = if index == 2 { RtmrIndex::Rtmr2 } else { RtmrIndex::Rtmr3 };
                // SAFETY: `data` is an aligned, private stack buffer; the
                // kernel's stack is identity mapped, so its address is its GPA.
                unsafe { tdcall::mr_rtmr_extend(index, &data) }?;
                Ok(())
            }
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
            Platform::Tdx(_) => None,
            Platform::Emulated(e) => Some(*e.rtmr.lock()),
        }
    }

    /// Waits for the next interrupt with interrupts enabled, then disables
    /// them again.
    pub fn wait_for_interrupt(&self) {
        match self {
            // SAFETY: as below; the TDVMCALL is issued in the STI shadow.
            Platform::Tdx(_) => unsafe {
                let _ = tdvmcall::enable_interrupts_and_halt();
                core::arch::asm!("cli", options(nomem, nostack));
            },
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

/// What the measured configuration may not ask of this platform. Checked
/// right after the configuration is measured and parsed, before any secret
/// exists.
pub fn refuse_unsafe_config(config: &tdsigner_node::config::NodeConfig) -> Result<(), &'static str> {
    let p = get();
    if p.is_debug_td() && !config.allow_debug {
        return Err("this is a DEBUG TD (TDATTRIBUTES.DEBUG): the host can read and change its memory; refusing to run (the measured config key allow_debug=1 allows it, and every output then says DEBUG)");
    }
    if p.kind() == PlatformKind::Tdx && matches!(config.key_source, tdsigner_node::config::KeySourceConfig::Test(_)) {
        return Err("key_source=test on TDX: the host knows that sealing key; refusing to run");
    }
    Ok(())
}

fn mmio_width(width: u8) -> MmioWidth {
    match width {
        1 => MmioWidth::U8,
        2 => MmioWidth::U16,
        4 => MmioWidth::U32,
        _ => MmioWidth::U64,
    }
}

/// A TDREPORT over `report_data` (TDX only).
pub fn td_report(report_data: &[u8; 64]) -> Result<alloc::boxed::Box<TdReport>, PlatformError> {
    let data = ReportData(*report_data);
    let mut report = alloc::boxed::Box::new(TdReport([0; tdsigner_tdx::report::TDREPORT_LEN]));
    // SAFETY: both buffers are private, identity-mapped kernel memory with
    // the alignment their types carry.
    unsafe { tdcall::mr_report(&data, &mut report) }?;
    Ok(report)
}
