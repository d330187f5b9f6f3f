//! TDG.VP.VMCALL: requests to the (untrusted) host VMM, per the GHCI.
//!
//! This module owns the hypercall register protocol and one function per GHCI
//! sub-function the image uses: port I/O, RDMSR/WRMSR, CPUID, MMIO, HLT,
//! MapGPA (with its retry protocol), GetQuote and ReportFatalError.
//!
//! Spec: Intel TDX Guest-Hypervisor Communication Interface (GHCI) v1.5,
//! "TDG.VP.VMCALL Interface" and the per-sub-function sections named below;
//! Intel TDX Module v1.5 ABI Specification, "TDG.VP.VMCALL Leaf".
//!
//! Register protocol: RAX = 0 (TDCALL leaf TDG.VP.VMCALL); RCX = bitmap of the
//! GPRs exposed to the VMM (bit n = GPR n in the order RAX, RCX, RDX, RBX, RSP,
//! RBP, RSI, RDI, R8..R15; RAX, RCX and RSP may not be exposed); R10 = 0 selects
//! the GHCI-defined sub-functions; R11 = sub-function; R12..R15 = arguments.
//! On return RAX is the TDCALL status (non-zero only if the TDX module rejected
//! the call itself), R10 is the VMM's return code and R11..R15 carry outputs.
//! The VMM may write any exposed register, so every exposed register is an
//! output of the asm; unexposed GPRs are preserved by the TDX module. We expose
//! only R10..R15 (mask 0xFC00) except for ReportFatalError, which also needs
//! RBX, RDX, RSI, RDI, R8, R9 for its message.
//!
//! Everything the VMM returns is untrusted input: results are masked to the
//! requested width and the MapGPA resume address is range-checked.

use core::fmt;

use crate::shared::{is_page_aligned, SharedBit};
use crate::tdcall::tdcall_insn;

/// RCX for standard TDVMCALLs: expose R10..R15 (bits 10..15).
pub const EXPOSE_R10_TO_R15: u64 = 0xFC00;

/// RCX for ReportFatalError: RDX(2), RBX(3), RSI(6), RDI(7), R8..R15(8..15).
const EXPOSE_FATAL_ERROR: u64 = 0xFFCC;

/// GHCI sub-function numbers (R11). Instruction emulation uses the VMX basic
/// exit reason of the instruction; the rest are GHCI-specific.
pub mod subfunction {
    /// Instruction.CPUID (GHCI "`TDG.VP.VMCALL<Instruction.CPUID>`").
    pub const CPUID: u64 = 10;
    /// Instruction.HLT.
    pub const HLT: u64 = 12;
    /// Instruction.IO.
    pub const IO: u64 = 30;
    /// Instruction.RDMSR.
    pub const RDMSR: u64 = 31;
    /// Instruction.WRMSR.
    pub const WRMSR: u64 = 32;
    /// #VE.RequestMMIO (the EPT-violation exit reason).
    pub const MMIO: u64 = 48;
    /// MapGPA.
    pub const MAP_GPA: u64 = 0x10001;
    /// GetQuote.
    pub const GET_QUOTE: u64 = 0x10002;
    /// ReportFatalError.
    pub const REPORT_FATAL_ERROR: u64 = 0x10003;
}

/// GHCI return codes in R10 (GHCI "TDG.VP.VMCALL Return Codes").
pub mod status {
    /// TDG.VP.VMCALL_SUCCESS.
    pub const SUCCESS: u64 = 0;
    /// TDG.VP.VMCALL_RETRY.
    pub const RETRY: u64 = 1;
    /// TDG.VP.VMCALL_INVALID_OPERAND.
    pub const INVALID_OPERAND: u64 = 0x8000_0000_0000_0000;
    /// TDG.VP.VMCALL_GPA_INUSE.
    pub const GPA_INUSE: u64 = 0x8000_0000_0000_0001;
    /// TDG.VP.VMCALL_ALIGN_ERROR.
    pub const ALIGN_ERROR: u64 = 0x8000_0000_0000_0002;
    /// TDG.VP.VMCALL_SUBFUNC_UNSUPPORTED (GHCI 1.5).
    pub const SUBFUNC_UNSUPPORTED: u64 = 0x8000_0000_0000_0003;
}

/// A TDVMCALL that did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmCallError {
    /// R10 = TDG.VP.VMCALL_RETRY: the VMM asks to retry.
    Retry,
    /// R10 = TDG.VP.VMCALL_INVALID_OPERAND.
    InvalidOperand,
    /// R10 = TDG.VP.VMCALL_GPA_INUSE.
    GpaInUse,
    /// R10 = TDG.VP.VMCALL_ALIGN_ERROR.
    AlignError,
    /// R10 = TDG.VP.VMCALL_SUBFUNC_UNSUPPORTED.
    SubfunctionUnsupported,
    /// Any other non-zero R10.
    Unknown(u64),
    /// The TDCALL itself failed (RAX != 0): the TDX module rejected the call;
    /// treat as fatal.
    TdCall(u64),
    /// The arguments were rejected before any call was made (bad width,
    /// alignment or address).
    BadArgument,
}

impl VmCallError {
    /// Classifies a GHCI return code; `None` for success.
    pub const fn from_status(r10: u64) -> Option<Self> {
        match r10 {
            status::SUCCESS => None,
            status::RETRY => Some(VmCallError::Retry),
            status::INVALID_OPERAND => Some(VmCallError::InvalidOperand),
            status::GPA_INUSE => Some(VmCallError::GpaInUse),
            status::ALIGN_ERROR => Some(VmCallError::AlignError),
            status::SUBFUNC_UNSUPPORTED => Some(VmCallError::SubfunctionUnsupported),
            other => Some(VmCallError::Unknown(other)),
        }
    }
}

impl fmt::Display for VmCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmCallError::Retry => f.write_str("VMM asked to retry"),
            VmCallError::InvalidOperand => f.write_str("VMM: invalid operand"),
            VmCallError::GpaInUse => f.write_str("VMM: GPA in use"),
            VmCallError::AlignError => f.write_str("VMM: alignment error"),
            VmCallError::SubfunctionUnsupported => f.write_str("VMM: sub-function unsupported"),
            VmCallError::Unknown(code) => write!(f, "VMM: unknown status {code:#018x}"),
            VmCallError::TdCall(code) => {
                write!(f, "TDG.VP.VMCALL rejected by TDX module: {code:#018x}")
            }
            VmCallError::BadArgument => f.write_str("bad TDVMCALL argument"),
        }
    }
}

/// Output of one TDVMCALL whose TDCALL succeeded: the VMM's return code and
/// output registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct VmCallReply {
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

impl VmCallReply {
    /// `Ok(self)` on GHCI success, else the classified error.
    fn ok(self) -> Result<Self, VmCallError> {
        match VmCallError::from_status(self.r10) {
            None => Ok(self),
            Some(e) => Err(e),
        }
    }
}

/// Issues a standard (R10 = 0) TDVMCALL exposing R10..R15.
///
/// # Safety
/// Must run in a TD. The sub-function's side effects (device access, memory
/// conversion, the VMM writing into a shared buffer) are the caller's
/// responsibility.
#[inline]
unsafe fn vmcall(
    sub: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
) -> Result<VmCallReply, VmCallError> {
    let rax: u64;
    let mut reply = VmCallReply {
        r10: 0,
        r11: sub,
        r12,
        r13,
        r14,
        r15,
    };
    // SAFETY: TDCALL leaf 0 with RCX = 0xFC00: only R10..R15 are visible to and
    // writable by the VMM, and all six are asm outputs. RCX, RDX, R8, R9 are
    // declared clobbered so nothing relies on the module preserving them. The
    // call may make the VMM write guest shared memory (GetQuote), hence no
    // `nomem`. No stack use.
    unsafe {
        core::arch::asm!(
            tdcall_insn!(),
            inout("rax") 0u64 => rax,
            inout("rcx") EXPOSE_R10_TO_R15 => _,
            inout("r10") reply.r10,
            inout("r11") reply.r11,
            inout("r12") reply.r12,
            inout("r13") reply.r13,
            inout("r14") reply.r14,
            inout("r15") reply.r15,
            lateout("rdx") _,
            lateout("r8") _,
            lateout("r9") _,
            options(nostack),
        );
    }
    if rax != 0 {
        return Err(VmCallError::TdCall(rax));
    }
    Ok(reply)
}

/// Width of a port I/O access (GHCI "`TDG.VP.VMCALL<Instruction.IO>`": 1, 2 or 4
/// bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum IoWidth {
    /// 8 bits.
    U8 = 1,
    /// 16 bits.
    U16 = 2,
    /// 32 bits.
    U32 = 4,
}

impl IoWidth {
    /// Access size in bytes.
    pub const fn bytes(self) -> u64 {
        self as u64
    }

    /// Mask covering the access width.
    pub const fn mask(self) -> u64 {
        match self {
            IoWidth::U8 => 0xff,
            IoWidth::U16 => 0xffff,
            IoWidth::U32 => 0xffff_ffff,
        }
    }
}

/// Width of an MMIO access (GHCI "`TDG.VP.VMCALL<#VE.RequestMMIO>`": 1, 2, 4 or
/// 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MmioWidth {
    /// 8 bits.
    U8 = 1,
    /// 16 bits.
    U16 = 2,
    /// 32 bits.
    U32 = 4,
    /// 64 bits.
    U64 = 8,
}

impl MmioWidth {
    /// Access size in bytes.
    pub const fn bytes(self) -> u64 {
        self as u64
    }

    /// Mask covering the access width.
    pub const fn mask(self) -> u64 {
        match self {
            MmioWidth::U8 => 0xff,
            MmioWidth::U16 => 0xffff,
            MmioWidth::U32 => 0xffff_ffff,
            MmioWidth::U64 => u64::MAX,
        }
    }
}

const IO_READ: u64 = 0;
const IO_WRITE: u64 = 1;

/// Instruction.IO, read: R12 = size, R13 = 0 (read), R14 = port; R11 = data.
///
/// # Safety
/// Must run in a TD. Reading a device port can have device side effects.
pub unsafe fn io_read(width: IoWidth, port: u16) -> Result<u32, VmCallError> {
    // SAFETY: forwarded contract.
    let reply =
        unsafe { vmcall(subfunction::IO, width.bytes(), IO_READ, u64::from(port), 0) }?.ok()?;
    Ok((reply.r11 & width.mask()) as u32)
}

/// Instruction.IO, write: R12 = size, R13 = 1 (write), R14 = port, R15 = data.
///
/// # Safety
/// Must run in a TD. Writing a device port has device side effects (including
/// DMA set-up); the caller must own the device.
pub unsafe fn io_write(width: IoWidth, port: u16, value: u32) -> Result<(), VmCallError> {
    let data = u64::from(value) & width.mask();
    // SAFETY: forwarded contract.
    unsafe {
        vmcall(
            subfunction::IO,
            width.bytes(),
            IO_WRITE,
            u64::from(port),
            data,
        )
    }?
    .ok()?;
    Ok(())
}

/// `inb` through the VMM.
///
/// # Safety
/// As [`io_read`].
pub unsafe fn io_read_u8(port: u16) -> Result<u8, VmCallError> {
    // SAFETY: forwarded contract.
    unsafe { io_read(IoWidth::U8, port) }.map(|v| v as u8)
}

/// `inw` through the VMM.
///
/// # Safety
/// As [`io_read`].
pub unsafe fn io_read_u16(port: u16) -> Result<u16, VmCallError> {
    // SAFETY: forwarded contract.
    unsafe { io_read(IoWidth::U16, port) }.map(|v| v as u16)
}

/// `inl` through the VMM.
///
/// # Safety
/// As [`io_read`].
pub unsafe fn io_read_u32(port: u16) -> Result<u32, VmCallError> {
    // SAFETY: forwarded contract.
    unsafe { io_read(IoWidth::U32, port) }
}

/// `outb` through the VMM.
///
/// # Safety
/// As [`io_write`].
pub unsafe fn io_write_u8(port: u16, value: u8) -> Result<(), VmCallError> {
    // SAFETY: forwarded contract.
    unsafe { io_write(IoWidth::U8, port, u32::from(value)) }
}

/// `outw` through the VMM.
///
/// # Safety
/// As [`io_write`].
pub unsafe fn io_write_u16(port: u16, value: u16) -> Result<(), VmCallError> {
    // SAFETY: forwarded contract.
    unsafe { io_write(IoWidth::U16, port, u32::from(value)) }
}

/// `outl` through the VMM.
///
/// # Safety
/// As [`io_write`].
pub unsafe fn io_write_u32(port: u16, value: u32) -> Result<(), VmCallError> {
    // SAFETY: forwarded contract.
    unsafe { io_write(IoWidth::U32, port, value) }
}

/// Instruction.RDMSR: R12 = MSR index; R11 = value.
///
/// # Safety
/// Must run in a TD. The value comes from the VMM: never trust it for security
/// decisions.
pub unsafe fn rdmsr(msr: u32) -> Result<u64, VmCallError> {
    // SAFETY: forwarded contract.
    unsafe { vmcall(subfunction::RDMSR, u64::from(msr), 0, 0, 0) }?
        .ok()
        .map(|r| r.r11)
}

/// Instruction.WRMSR: R12 = MSR index, R13 = value.
///
/// # Safety
/// Must run in a TD; the MSR write's effect is the caller's responsibility.
pub unsafe fn wrmsr(msr: u32, value: u64) -> Result<(), VmCallError> {
    // SAFETY: forwarded contract.
    unsafe { vmcall(subfunction::WRMSR, u64::from(msr), value, 0, 0) }?.ok()?;
    Ok(())
}

/// The four CPUID output registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidValues {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Instruction.CPUID: R12 = leaf, R13 = sub-leaf; R12..R15 = EAX, EBX, ECX,
/// EDX. The values come from the VMM, not the CPU.
///
/// Call only inside a TD.
pub fn cpuid(leaf: u32, subleaf: u32) -> Result<CpuidValues, VmCallError> {
    // SAFETY: CPUID emulation has no side effects in the guest.
    let r = unsafe {
        vmcall(
            subfunction::CPUID,
            u64::from(leaf),
            u64::from(subleaf),
            0,
            0,
        )
    }?
    .ok()?;
    Ok(CpuidValues {
        eax: r.r12 as u32,
        ebx: r.r13 as u32,
        ecx: r.r14 as u32,
        edx: r.r15 as u32,
    })
}

const MMIO_READ: u64 = 0;
const MMIO_WRITE: u64 = 1;

fn check_mmio_gpa(width: MmioWidth, gpa: u64) -> Result<(), VmCallError> {
    // Device registers are naturally aligned; an unaligned access would split
    // across registers or pages.
    if !gpa.is_multiple_of(width.bytes()) {
        return Err(VmCallError::BadArgument);
    }
    Ok(())
}

/// #VE.RequestMMIO, read: R12 = size, R13 = 0 (read), R14 = GPA; R11 = data.
///
/// `gpa` must be the *shared* alias of the device register
/// ([`SharedBit::shared_alias`]): the VMM emulates only shared GPAs.
///
/// # Safety
/// Must run in a TD; device reads can have side effects.
pub unsafe fn mmio_read(width: MmioWidth, gpa: u64) -> Result<u64, VmCallError> {
    check_mmio_gpa(width, gpa)?;
    // SAFETY: forwarded contract.
    let r = unsafe { vmcall(subfunction::MMIO, width.bytes(), MMIO_READ, gpa, 0) }?.ok()?;
    Ok(r.r11 & width.mask())
}

/// #VE.RequestMMIO, write: R12 = size, R13 = 1 (write), R14 = GPA, R15 = data.
///
/// `gpa` must be the shared alias of the device register.
///
/// # Safety
/// Must run in a TD; device writes have side effects (including DMA set-up).
pub unsafe fn mmio_write(width: MmioWidth, gpa: u64, value: u64) -> Result<(), VmCallError> {
    check_mmio_gpa(width, gpa)?;
    // SAFETY: forwarded contract.
    unsafe {
        vmcall(
            subfunction::MMIO,
            width.bytes(),
            MMIO_WRITE,
            gpa,
            value & width.mask(),
        )
    }?
    .ok()?;
    Ok(())
}

/// Instruction.HLT: R12 = "interrupt blocked" flag. Pass `true` when the guest
/// has RFLAGS.IF = 0 (the VMM then need not wake the vCPU for interrupts).
///
/// Call only inside a TD.
pub fn halt(interrupts_blocked: bool) -> Result<(), VmCallError> {
    // SAFETY: halting has no memory effects.
    unsafe { vmcall(subfunction::HLT, u64::from(interrupts_blocked), 0, 0, 0) }?.ok()?;
    Ok(())
}

/// `sti; hlt` for a TD: enables interrupts and issues Instruction.HLT with the
/// interrupt-blocked flag clear, the TDCALL sitting in STI's interrupt shadow
/// as the GHCI requires for that flag value, so a wake-up interrupt cannot be
/// lost between the two.
///
/// # Safety
/// Must run in a TD with a valid IDT: interrupts are enabled on return.
pub unsafe fn enable_interrupts_and_halt() -> Result<(), VmCallError> {
    let rax: u64;
    let r10: u64;
    // SAFETY: same register protocol as `vmcall` (R10..R15 exposed and
    // declared as outputs); `sti` immediately precedes the TDCALL bytes. The
    // caller guarantees interrupts may be enabled.
    unsafe {
        core::arch::asm!(
            "sti",
            tdcall_insn!(),
            inout("rax") 0u64 => rax,
            inout("rcx") EXPOSE_R10_TO_R15 => _,
            inout("r10") 0u64 => r10,
            inout("r11") subfunction::HLT => _,
            inout("r12") 0u64 => _,
            inout("r13") 0u64 => _,
            inout("r14") 0u64 => _,
            inout("r15") 0u64 => _,
            lateout("rdx") _,
            lateout("r8") _,
            lateout("r9") _,
            options(nostack),
        );
    }
    if rax != 0 {
        return Err(VmCallError::TdCall(rax));
    }
    match VmCallError::from_status(r10) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Retries of MapGPA that make no progress before giving up (a VMM may ask to
/// retry, e.g. to deliver an interrupt, but must make progress eventually).
pub const MAP_GPA_RETRIES_WITHOUT_PROGRESS: u32 = 3;

/// Why MapGPA failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapGpaError {
    /// Start or length not page aligned, zero length, or the range wraps or
    /// mixes shared and private GPAs; nothing was sent.
    InvalidRange {
        /// Start GPA given.
        gpa: u64,
        /// Length given.
        len: u64,
    },
    /// The VMM returned an error for the attempt starting at `at_gpa`; pages
    /// before `at_gpa` were converted.
    Vmm {
        /// The VMM's (or TDX module's) error.
        error: VmCallError,
        /// Start of the failing attempt.
        at_gpa: u64,
    },
    /// The VMM asked to retry at an address outside the remaining range or not
    /// page aligned (GHCI: the resume GPA is in R11 and must lie in the range).
    BadResumeAddress {
        /// What the VMM put in R11.
        resume_gpa: u64,
        /// Start of the attempt.
        start: u64,
        /// End of the whole range.
        end: u64,
    },
    /// The VMM asked to retry at the same address too many times.
    NoProgress {
        /// Where it got stuck.
        at_gpa: u64,
    },
}

impl fmt::Display for MapGpaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapGpaError::InvalidRange { gpa, len } => {
                write!(f, "invalid MapGPA range {gpa:#x}+{len:#x}")
            }
            MapGpaError::Vmm { error, at_gpa } => write!(f, "MapGPA at {at_gpa:#x}: {error}"),
            MapGpaError::BadResumeAddress {
                resume_gpa,
                start,
                end,
            } => write!(
                f,
                "MapGPA resume address {resume_gpa:#x} outside {start:#x}..{end:#x}"
            ),
            MapGpaError::NoProgress { at_gpa } => {
                write!(f, "MapGPA made no progress at {at_gpa:#x}")
            }
        }
    }
}

/// The MapGPA protocol (GHCI "`TDG.VP.VMCALL<MapGPA>`"), independent of how the
/// call is made: `call(gpa, len)` performs one MapGPA request and returns the
/// VMM's (R10, R11), or the TDCALL failure. On TDG.VP.VMCALL_RETRY, R11 is the
/// GPA from which the remaining part must be requested again; it is checked to
/// lie, page aligned, in what remains, and retries without progress are
/// bounded. [`map_gpa`] is this with the real TDVMCALL; the function is public
/// so the protocol can be tested and fuzzed against model VMMs.
pub fn map_gpa_protocol(
    gpa: u64,
    len: u64,
    mut call: impl FnMut(u64, u64) -> Result<(u64, u64), VmCallError>,
) -> Result<(), MapGpaError> {
    let end = match gpa.checked_add(len) {
        Some(end) if len != 0 && is_page_aligned(gpa) && is_page_aligned(len) => end,
        _ => return Err(MapGpaError::InvalidRange { gpa, len }),
    };
    let mut start = gpa;
    let mut stalled = 0u32;
    loop {
        let (r10, r11) = call(start, end - start).map_err(|error| MapGpaError::Vmm {
            error,
            at_gpa: start,
        })?;
        match VmCallError::from_status(r10) {
            None => return Ok(()),
            Some(VmCallError::Retry) => {
                // R11 comes from the VMM: it must point into what is left.
                if r11 < start || r11 >= end || !is_page_aligned(r11) {
                    return Err(MapGpaError::BadResumeAddress {
                        resume_gpa: r11,
                        start,
                        end,
                    });
                }
                if r11 == start {
                    stalled += 1;
                    if stalled >= MAP_GPA_RETRIES_WITHOUT_PROGRESS {
                        return Err(MapGpaError::NoProgress { at_gpa: start });
                    }
                } else {
                    start = r11;
                    stalled = 0;
                }
            }
            Some(error) => {
                return Err(MapGpaError::Vmm {
                    error,
                    at_gpa: start,
                })
            }
        }
    }
}

/// MapGPA: R12 = start GPA, R13 = length. With the shared bit set in `gpa`
/// the range becomes shared; with it clear, private (then every page must be
/// accepted with [`crate::tdcall::mem_page_accept_4k`] before use). Handles the
/// GHCI retry/partial-completion protocol. Prefer
/// [`crate::shared::share_range`]/[`crate::shared::unshare_range`], which also
/// keep the bookkeeping and do the accepts.
///
/// # Safety
/// Must run in a TD. Converting private memory to shared discards its contents
/// and makes private-mapping access fatal; converting to private makes the
/// pages pending. No one may use the range during the conversion.
pub unsafe fn map_gpa(gpa: u64, len: u64) -> Result<(), MapGpaError> {
    map_gpa_protocol(gpa, len, |start, remaining| {
        // SAFETY: forwarded contract.
        let reply = unsafe { vmcall(subfunction::MAP_GPA, start, remaining, 0, 0) }?;
        Ok((reply.r10, reply.r11))
    })
}

/// GetQuote: R12 = shared GPA of the buffer, R13 = its length. The buffer
/// holds a [`crate::quote`] header and the TDREPORT; the VMM answers
/// asynchronously by rewriting the header (status leaves IN_FLIGHT when done).
///
/// Checks before calling: `shared_gpa` carries the shared bit, is 4 KiB aligned,
/// and `len` is a non-zero multiple of 4 KiB (QEMU and KVM reject anything else).
///
/// # Safety
/// Must run in a TD. The buffer must be converted to shared, mapped, and stay
/// untouched by Rust references until the status leaves IN_FLIGHT: the VMM
/// writes it at any time in between.
pub unsafe fn get_quote(shared: SharedBit, shared_gpa: u64, len: u64) -> Result<(), VmCallError> {
    if !shared.is_shared(shared_gpa)
        || !is_page_aligned(shared_gpa)
        || len == 0
        || !is_page_aligned(len)
    {
        return Err(VmCallError::BadArgument);
    }
    // SAFETY: forwarded contract.
    unsafe { vmcall(subfunction::GET_QUOTE, shared_gpa, len, 0, 0) }?.ok()?;
    Ok(())
}

/// Packs up to 64 message bytes into the eight registers ReportFatalError
/// carries them in, in GHCI order R14, R15, RBX, RDI, RSI, R8, R9, RDX (each
/// little-endian). Longer messages are cut; shorter ones NUL-padded (the VMM
/// treats a full 64 bytes as NUL-terminated after the last).
pub(crate) fn pack_fatal_message(message: &str) -> [u64; 8] {
    let mut bytes = [0u8; 64];
    for (dst, src) in bytes.iter_mut().zip(message.bytes()) {
        *dst = src;
    }
    let mut regs = [0u64; 8];
    for (reg, chunk) in regs.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *reg = u64::from_le_bytes(word);
    }
    regs
}

/// ReportFatalError: tell the VMM the TD cannot continue, with a short message
/// (first 64 bytes kept), error code 0 ("panic", R12) and no GPA (R12 bit 63
/// clear). The VMM should terminate the TD; if it returns, the call is
/// repeated forever.
///
/// Call only inside a TD.
pub fn report_fatal_error(message: &str) -> ! {
    let m = pack_fatal_message(message);
    // RBX cannot be an asm operand (LLVM reserves it); the asm loads it from
    // this slot, reached through RAX before RAX becomes the leaf number.
    let rbx_slot: u64 = m[2];
    loop {
        // SAFETY: TDG.VP.VMCALL<ReportFatalError> with the exposure mask
        // 0xFFCC; every exposed register is an asm input whose output is
        // discarded, RBX is saved and restored around the call on the stack
        // (hence no `nostack`), and `rbx_slot` is a live local.
        unsafe {
            core::arch::asm!(
                "push rbx",
                "mov rbx, qword ptr [rax]",
                "xor eax, eax",
                tdcall_insn!(),
                "pop rbx",
                inout("rax") &rbx_slot as *const u64 => _,
                inout("rcx") EXPOSE_FATAL_ERROR => _,
                inout("rdx") m[7] => _,
                inout("rsi") m[4] => _,
                inout("rdi") m[3] => _,
                inout("r8") m[5] => _,
                inout("r9") m[6] => _,
                inout("r10") 0u64 => _,
                inout("r11") subfunction::REPORT_FATAL_ERROR => _,
                inout("r12") 0u64 => _,
                inout("r13") 0u64 => _,
                inout("r14") m[0] => _,
                inout("r15") m[1] => _,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::PAGE_SIZE;

    #[test]
    fn status_codes() {
        assert_eq!(VmCallError::from_status(0), None);
        assert_eq!(VmCallError::from_status(1), Some(VmCallError::Retry));
        assert_eq!(
            VmCallError::from_status(0x8000_0000_0000_0000),
            Some(VmCallError::InvalidOperand)
        );
        assert_eq!(
            VmCallError::from_status(0x8000_0000_0000_0001),
            Some(VmCallError::GpaInUse)
        );
        assert_eq!(
            VmCallError::from_status(0x8000_0000_0000_0002),
            Some(VmCallError::AlignError)
        );
        assert_eq!(
            VmCallError::from_status(0x8000_0000_0000_0003),
            Some(VmCallError::SubfunctionUnsupported)
        );
        assert_eq!(VmCallError::from_status(7), Some(VmCallError::Unknown(7)));
    }

    #[test]
    fn exposure_masks() {
        // R10..R15 = bits 10..15.
        assert_eq!(EXPOSE_R10_TO_R15, (10..=15).map(|b| 1u64 << b).sum::<u64>());
        // RDX, RBX, RSI, RDI, R8..R15; never RAX(0), RCX(1), RSP(4), RBP(5).
        let fatal: u64 = [2u32, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
            .iter()
            .map(|b| 1u64 << b)
            .sum();
        assert_eq!(EXPOSE_FATAL_ERROR, fatal);
        assert_eq!(EXPOSE_FATAL_ERROR & 0b11_0011, 0);
    }

    #[test]
    fn widths() {
        assert_eq!(
            (
                IoWidth::U8.bytes(),
                IoWidth::U16.bytes(),
                IoWidth::U32.bytes()
            ),
            (1, 2, 4)
        );
        assert_eq!(IoWidth::U16.mask(), 0xffff);
        assert_eq!(MmioWidth::U64.bytes(), 8);
        assert_eq!(MmioWidth::U32.mask(), 0xffff_ffff);
        assert_eq!(
            check_mmio_gpa(MmioWidth::U32, 0x1002),
            Err(VmCallError::BadArgument)
        );
        assert_eq!(check_mmio_gpa(MmioWidth::U16, 0x1002), Ok(()));
        assert_eq!(check_mmio_gpa(MmioWidth::U8, 0x1003), Ok(()));
    }

    /// A model VMM for MapGPA: replies from a script, records the requests.
    struct Script<'a> {
        replies: &'a [(u64, u64)],
        calls: std::vec::Vec<(u64, u64)>,
    }

    impl Script<'_> {
        fn call(&mut self, gpa: u64, len: u64) -> Result<(u64, u64), VmCallError> {
            let reply = self
                .replies
                .get(self.calls.len())
                .copied()
                .unwrap_or((0, 0));
            self.calls.push((gpa, len));
            Ok(reply)
        }
    }

    fn run(
        gpa: u64,
        len: u64,
        replies: &[(u64, u64)],
    ) -> (Result<(), MapGpaError>, std::vec::Vec<(u64, u64)>) {
        let mut s = Script {
            replies,
            calls: std::vec::Vec::new(),
        };
        let r = map_gpa_protocol(gpa, len, |g, l| s.call(g, l));
        (r, s.calls)
    }

    #[test]
    fn map_gpa_single_call() {
        let (r, calls) = run(0x10_0000, 0x4000, &[(0, 0)]);
        assert_eq!(r, Ok(()));
        assert_eq!(calls, [(0x10_0000, 0x4000)]);
    }

    #[test]
    fn map_gpa_partial_completion_resumes_at_r11() {
        let (r, calls) = run(0x10_0000, 0x4000, &[(1, 0x10_2000), (1, 0x10_3000), (0, 0)]);
        assert_eq!(r, Ok(()));
        assert_eq!(
            calls,
            [
                (0x10_0000, 0x4000),
                (0x10_2000, 0x2000),
                (0x10_3000, 0x1000)
            ]
        );
    }

    #[test]
    fn map_gpa_retry_without_progress_is_bounded() {
        let (r, calls) = run(0x10_0000, 0x2000, &[(1, 0x10_0000); 10]);
        assert_eq!(r, Err(MapGpaError::NoProgress { at_gpa: 0x10_0000 }));
        assert_eq!(calls.len(), MAP_GPA_RETRIES_WITHOUT_PROGRESS as usize);
        // Progress resets the budget.
        let (r, _) = run(
            0x10_0000,
            0x3000,
            &[
                (1, 0x10_0000),
                (1, 0x10_0000),
                (1, 0x10_1000),
                (1, 0x10_1000),
                (1, 0x10_1000),
                (1, 0x10_1000),
            ],
        );
        assert_eq!(r, Err(MapGpaError::NoProgress { at_gpa: 0x10_1000 }));
    }

    #[test]
    fn map_gpa_rejects_hostile_resume_addresses() {
        for bad in [0x0f_f000u64, 0x10_2000, 0x10_2001, u64::MAX, 0x10_0800] {
            let (r, calls) = run(0x10_0000, 0x2000, &[(1, bad)]);
            assert_eq!(
                r,
                Err(MapGpaError::BadResumeAddress {
                    resume_gpa: bad,
                    start: 0x10_0000,
                    end: 0x10_2000
                }),
                "resume {bad:#x}"
            );
            assert_eq!(calls.len(), 1);
        }
    }

    #[test]
    fn map_gpa_errors_report_position() {
        let (r, _) = run(
            0x10_0000,
            0x4000,
            &[(1, 0x10_1000), (status::INVALID_OPERAND, 0)],
        );
        assert_eq!(
            r,
            Err(MapGpaError::Vmm {
                error: VmCallError::InvalidOperand,
                at_gpa: 0x10_1000
            })
        );
        let mut calls = 0;
        let r = map_gpa_protocol(0x1000, 0x1000, |_, _| {
            calls += 1;
            Err(VmCallError::TdCall(0xC000_0100_0000_0000))
        });
        assert_eq!(
            r,
            Err(MapGpaError::Vmm {
                error: VmCallError::TdCall(0xC000_0100_0000_0000),
                at_gpa: 0x1000
            })
        );
        assert_eq!(calls, 1);
    }

    #[test]
    fn map_gpa_validates_before_calling() {
        for (gpa, len) in [
            (0x1001, 0x1000),
            (0x1000, 0),
            (0x1000, 0x800),
            (!0xfff, 0x2000),
        ] {
            let (r, calls) = run(gpa, len, &[]);
            assert_eq!(r, Err(MapGpaError::InvalidRange { gpa, len }));
            assert!(calls.is_empty());
        }
    }

    #[test]
    fn fatal_message_register_order() {
        let msg = "ABCDEFGHijklmnopQRSTUVWXyz012345";
        let regs = pack_fatal_message(msg);
        assert_eq!(regs[0], u64::from_le_bytes(*b"ABCDEFGH")); // R14
        assert_eq!(regs[1], u64::from_le_bytes(*b"ijklmnop")); // R15
        assert_eq!(regs[2], u64::from_le_bytes(*b"QRSTUVWX")); // RBX
        assert_eq!(regs[3], u64::from_le_bytes(*b"yz012345")); // RDI
        assert_eq!(&regs[4..], &[0; 4]);
        let long = "x".repeat(100);
        assert_eq!(
            pack_fatal_message(&long),
            [u64::from_le_bytes(*b"xxxxxxxx"); 8]
        );
    }

    #[test]
    fn get_quote_argument_checks() {
        let sb = SharedBit::from_gpa_width(48).unwrap_or_else(|e| panic!("{e}"));
        // None of these may reach the VMM (on the host, `tdcall` would fault).
        for (gpa, len) in [
            (0x10_0000, 0x2000),                          // private alias
            (sb.shared_alias(0x10_0800), 0x2000),         // unaligned
            (sb.shared_alias(0x10_0000), 0),              // empty
            (sb.shared_alias(0x10_0000), PAGE_SIZE + 24), // not whole pages
        ] {
            // SAFETY: every case is rejected before any instruction is issued.
            let result = unsafe { get_quote(sb, gpa, len) };
            assert_eq!(result, Err(VmCallError::BadArgument));
        }
    }
}
