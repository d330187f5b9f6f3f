//! Virtualization exceptions (#VE, vector 20): entry stub, decoding and
//! emulation.
//!
//! This module owns what happens when the TD executes an instruction the TDX
//! module does not let it run natively: the naked entry stub that saves every
//! GPR into a [`VeTrapFrame`], the dispatcher that fetches the #VE info with
//! TDG.VP.VEINFO.GET, the emulation of CPUID, RDMSR/WRMSR, port I/O and HLT
//! through TDVMCALLs, and the fatal path for anything else.
//!
//! Specs: TDX Module v1.5 ABI spec, "TDG.VP.VEINFO.GET Leaf" and the #VE
//! chapter ("Virtualization Exception"); GHCI v1.5, "#VE Handling" and the
//! `TDG.VP.VMCALL<Instruction.*>` sections; Intel SDM Vol. 3C, "Basic VM-Exit
//! Reasons" (exit-reason numbers) and "Exit Qualification for I/O Instructions"
//! (the table `IoQualification` decodes).
//!
//! Deliberately not emulated (each is a typed [`VeError`] the kernel prints):
//! MMIO through #VE (EPT violations) — instruction decoding is exactly the kind
//! of complexity this layer avoids; the kernel does device MMIO with explicit
//! [`crate::tdvmcall::mmio_read`]/[`crate::tdvmcall::mmio_write`] instead.
//! String and REP port I/O (INS/OUTS) likewise. CPUID leaves outside the
//! hypervisor range 0x4000_0000..=0x4FFF_FFFF are answered with zeros (the
//! "unsupported leaf" answer) rather than with VMM-chosen values, so the
//! untrusted host cannot invent CPU features.

use core::fmt;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::tdcall::{self, TdCallError, VeInfo};
use crate::tdvmcall::{self, CpuidValues, IoWidth, VmCallError};

/// VMX basic exit reasons the TDX module reports in #VE info (SDM "Basic
/// VM-Exit Reasons").
pub mod exit_reason {
    /// CPUID.
    pub const CPUID: u32 = 10;
    /// HLT.
    pub const HLT: u32 = 12;
    /// I/O instruction (IN/OUT/INS/OUTS).
    pub const IO_INSTRUCTION: u32 = 30;
    /// RDMSR.
    pub const MSR_READ: u32 = 31;
    /// WRMSR.
    pub const MSR_WRITE: u32 = 32;
    /// EPT violation (MMIO to a shared GPA, or a pending private page).
    pub const EPT_VIOLATION: u32 = 48;
}

/// A decoded #VE exit reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// CPUID.
    Cpuid,
    /// HLT.
    Hlt,
    /// Port I/O.
    Io,
    /// RDMSR.
    MsrRead,
    /// WRMSR.
    MsrWrite,
    /// EPT violation.
    EptViolation,
    /// Anything else (raw value kept).
    Other(u32),
}

impl ExitReason {
    /// Decodes the raw exit reason from TDG.VP.VEINFO.GET. Any value with
    /// bits above the basic reason set is kept as `Other`.
    pub const fn from_raw(raw: u32) -> Self {
        match raw {
            exit_reason::CPUID => ExitReason::Cpuid,
            exit_reason::HLT => ExitReason::Hlt,
            exit_reason::IO_INSTRUCTION => ExitReason::Io,
            exit_reason::MSR_READ => ExitReason::MsrRead,
            exit_reason::MSR_WRITE => ExitReason::MsrWrite,
            exit_reason::EPT_VIOLATION => ExitReason::EptViolation,
            other => ExitReason::Other(other),
        }
    }
}

/// Direction of a port I/O instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoDirection {
    /// OUT / OUTS (bit 3 = 0).
    Out,
    /// IN / INS (bit 3 = 1).
    In,
}

/// The exit qualification of an I/O-instruction #VE (SDM "Exit Qualification
/// for I/O Instructions"): bits 2:0 size − 1 (0, 1 or 3), bit 3 direction,
/// bit 4 string instruction, bit 5 REP prefix, bit 6 operand encoding
/// (1 = immediate port), bits 31:16 port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoQualification {
    /// Access width.
    pub width: IoWidth,
    /// IN or OUT.
    pub direction: IoDirection,
    /// INS/OUTS.
    pub string: bool,
    /// REP prefix present.
    pub rep: bool,
    /// Port given as an immediate (else in DX).
    pub immediate_port: bool,
    /// The port.
    pub port: u16,
}

impl IoQualification {
    /// Decodes an I/O exit qualification; the size encodings 2 and 4..7 are
    /// reserved and rejected.
    pub const fn decode(qualification: u64) -> Result<Self, VeError> {
        let width = match qualification & 0b111 {
            0 => IoWidth::U8,
            1 => IoWidth::U16,
            3 => IoWidth::U32,
            _ => return Err(VeError::BadIoSize { qualification }),
        };
        Ok(IoQualification {
            width,
            direction: if qualification & (1 << 3) != 0 {
                IoDirection::In
            } else {
                IoDirection::Out
            },
            string: qualification & (1 << 4) != 0,
            rep: qualification & (1 << 5) != 0,
            immediate_port: qualification & (1 << 6) != 0,
            port: (qualification >> 16) as u16,
        })
    }
}

/// Why a #VE could not be handled. Every variant is fatal: the faulting
/// instruction cannot be completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VeError {
    /// TDG.VP.VEINFO.GET failed.
    VeInfo(TdCallError),
    /// An exit reason this handler does not emulate.
    UnsupportedExit {
        /// Raw exit reason.
        exit_reason: u32,
        /// Raw exit qualification.
        qualification: u64,
    },
    /// EPT-violation #VE: MMIO through #VE (not supported — use the explicit
    /// `tdvmcall::mmio_*`) or a touch of a pending/unaccepted private page.
    EptViolation {
        /// Faulting GPA.
        gpa: u64,
        /// Faulting linear address.
        linear_address: u64,
    },
    /// I/O exit qualification with a reserved size encoding.
    BadIoSize {
        /// Raw exit qualification.
        qualification: u64,
    },
    /// INS/OUTS or REP port I/O, which is not emulated.
    StringIo {
        /// The port.
        port: u16,
    },
    /// The reported instruction length is outside 1..=15.
    BadInstructionLength {
        /// Raw exit reason.
        exit_reason: u32,
        /// The length reported.
        length: u32,
    },
    /// The TDVMCALL that emulates the instruction failed.
    Vmm {
        /// Raw exit reason.
        exit_reason: u32,
        /// The VMM's error.
        error: VmCallError,
    },
}

impl fmt::Display for VeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VeError::VeInfo(e) => write!(f, "#VE info unavailable: {e}"),
            VeError::UnsupportedExit {
                exit_reason,
                qualification,
            } => write!(f, "#VE exit reason {exit_reason} not handled (qualification {qualification:#x})"),
            VeError::EptViolation { gpa, linear_address } => write!(
                f,
                "#VE EPT violation at GPA {gpa:#x} (VA {linear_address:#x}): MMIO via #VE unsupported, use TDVMCALL MMIO"
            ),
            VeError::BadIoSize { qualification } => {
                write!(f, "#VE port I/O with reserved size (qualification {qualification:#x})")
            }
            VeError::StringIo { port } => write!(f, "#VE string/REP port I/O on port {port:#x} unsupported"),
            VeError::BadInstructionLength { exit_reason, length } => {
                write!(f, "#VE exit reason {exit_reason}: bad instruction length {length}")
            }
            VeError::Vmm { exit_reason, error } => write!(f, "#VE exit reason {exit_reason}: {error}"),
        }
    }
}

/// Every GPR at the time of the #VE, as the entry stub saves them, followed by
/// the frame the CPU pushed (RIP, CS, RFLAGS, RSP, SS; #VE pushes no error
/// code). Lowest address first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[allow(missing_docs)]
pub struct VeTrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

// The entry stub pushes RAX first and R15 last; these pin the layout it
// relies on.
const _: () = assert!(core::mem::offset_of!(VeTrapFrame, r15) == 0);
const _: () = assert!(core::mem::offset_of!(VeTrapFrame, rax) == 14 * 8);
const _: () = assert!(core::mem::offset_of!(VeTrapFrame, rip) == 15 * 8);
const _: () = assert!(core::mem::size_of::<VeTrapFrame>() == 20 * 8);

/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// The host services #VE emulation needs. [`Ghci`] issues the real TDVMCALLs;
/// tests use a model.
pub trait VmmCalls {
    /// Instruction.CPUID.
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<CpuidValues, VmCallError>;
    /// Instruction.RDMSR.
    fn rdmsr(&mut self, msr: u32) -> Result<u64, VmCallError>;
    /// Instruction.WRMSR.
    fn wrmsr(&mut self, msr: u32, value: u64) -> Result<(), VmCallError>;
    /// Instruction.IO read.
    fn io_read(&mut self, width: IoWidth, port: u16) -> Result<u32, VmCallError>;
    /// Instruction.IO write.
    fn io_write(&mut self, width: IoWidth, port: u16, value: u32) -> Result<(), VmCallError>;
    /// Instruction.HLT.
    fn halt(&mut self, interrupts_blocked: bool) -> Result<(), VmCallError>;
}

/// The real host interface: each method is one GHCI TDVMCALL.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ghci;

// SAFETY (for the unsafe calls in this impl): these methods are only reached
// from `emulate_ve`, which performs exactly the access the faulting guest
// instruction asked for, so the memory/device contract is the one that
// instruction's author already upheld.
impl VmmCalls for Ghci {
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<CpuidValues, VmCallError> {
        tdvmcall::cpuid(leaf, subleaf)
    }
    fn rdmsr(&mut self, msr: u32) -> Result<u64, VmCallError> {
        // SAFETY: see the impl comment: emulates the guest's own RDMSR.
        unsafe { tdvmcall::rdmsr(msr) }
    }
    fn wrmsr(&mut self, msr: u32, value: u64) -> Result<(), VmCallError> {
        // SAFETY: see the impl comment: emulates the guest's own WRMSR.
        unsafe { tdvmcall::wrmsr(msr, value) }
    }
    fn io_read(&mut self, width: IoWidth, port: u16) -> Result<u32, VmCallError> {
        // SAFETY: see the impl comment: emulates the guest's own IN.
        unsafe { tdvmcall::io_read(width, port) }
    }
    fn io_write(&mut self, width: IoWidth, port: u16, value: u32) -> Result<(), VmCallError> {
        // SAFETY: see the impl comment: emulates the guest's own OUT.
        unsafe { tdvmcall::io_write(width, port, value) }
    }
    fn halt(&mut self, interrupts_blocked: bool) -> Result<(), VmCallError> {
        tdvmcall::halt(interrupts_blocked)
    }
}

/// First and last CPUID leaf forwarded to the VMM (the hypervisor range).
const HYPERVISOR_CPUID_LEAVES: core::ops::RangeInclusive<u32> = 0x4000_0000..=0x4FFF_FFFF;

/// Emulates the instruction that raised the #VE described by `ve`, updating
/// `frame` (results and RIP) as the instruction would have. On error `frame`
/// is unchanged except for partial register results of a failed IN.
///
/// The instruction length comes from the #VE info, which the TDX module
/// defines for instruction-caused #VEs (all the ones emulated here); it is
/// checked to be 1..=15 before any side effect.
pub fn emulate_ve(
    frame: &mut VeTrapFrame,
    ve: &VeInfo,
    vmm: &mut impl VmmCalls,
) -> Result<(), VeError> {
    let reason = ExitReason::from_raw(ve.exit_reason);
    let vmm_error = |error| VeError::Vmm {
        exit_reason: ve.exit_reason,
        error,
    };
    match reason {
        ExitReason::EptViolation => {
            return Err(VeError::EptViolation {
                gpa: ve.guest_physical_address,
                linear_address: ve.guest_linear_address,
            })
        }
        ExitReason::Other(exit_reason) => {
            return Err(VeError::UnsupportedExit {
                exit_reason,
                qualification: ve.exit_qualification,
            })
        }
        _ => {}
    }
    let length = ve.instruction_length;
    if !(1..=15).contains(&length) {
        return Err(VeError::BadInstructionLength {
            exit_reason: ve.exit_reason,
            length,
        });
    }
    match reason {
        ExitReason::Cpuid => {
            let leaf = frame.rax as u32;
            let subleaf = frame.rcx as u32;
            let values = if HYPERVISOR_CPUID_LEAVES.contains(&leaf) {
                vmm.cpuid(leaf, subleaf).map_err(vmm_error)?
            } else {
                CpuidValues::default()
            };
            // 32-bit register writes zero the upper halves.
            frame.rax = u64::from(values.eax);
            frame.rbx = u64::from(values.ebx);
            frame.rcx = u64::from(values.ecx);
            frame.rdx = u64::from(values.edx);
        }
        ExitReason::Hlt => {
            vmm.halt(frame.rflags & RFLAGS_IF == 0).map_err(vmm_error)?;
        }
        ExitReason::MsrRead => {
            let value = vmm.rdmsr(frame.rcx as u32).map_err(vmm_error)?;
            frame.rax = value & 0xffff_ffff;
            frame.rdx = value >> 32;
        }
        ExitReason::MsrWrite => {
            let value = (frame.rdx << 32) | (frame.rax & 0xffff_ffff);
            vmm.wrmsr(frame.rcx as u32, value).map_err(vmm_error)?;
        }
        ExitReason::Io => {
            let io = IoQualification::decode(ve.exit_qualification)?;
            if io.string || io.rep {
                return Err(VeError::StringIo { port: io.port });
            }
            match io.direction {
                IoDirection::In => {
                    let value = u64::from(vmm.io_read(io.width, io.port).map_err(vmm_error)?);
                    frame.rax = match io.width {
                        // IN AL / IN AX leave the rest of RAX alone; IN EAX
                        // zero-extends like every 32-bit write.
                        IoWidth::U8 | IoWidth::U16 => {
                            (frame.rax & !io.width.mask()) | (value & io.width.mask())
                        }
                        IoWidth::U32 => value & io.width.mask(),
                    };
                }
                IoDirection::Out => {
                    let value = (frame.rax & io.width.mask()) as u32;
                    vmm.io_write(io.width, io.port, value).map_err(vmm_error)?;
                }
            }
        }
        ExitReason::EptViolation | ExitReason::Other(_) => {}
    }
    frame.rip = frame.rip.wrapping_add(u64::from(length));
    Ok(())
}

/// What the kernel wants done when a #VE cannot be handled: typically print
/// the error and frame on the serial console, then halt. Must not return.
pub type VeFatalHook = fn(frame: &VeTrapFrame, info: Option<&VeInfo>, error: &VeError) -> !;

static FATAL_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the fatal-#VE hook. Without one, an unhandled #VE reports the
/// error to the VMM with ReportFatalError (the VMM terminates the TD).
pub fn set_ve_fatal_hook(hook: VeFatalHook) {
    FATAL_HOOK.store(hook as *mut (), Ordering::Release);
}

/// A fixed buffer that keeps the first bytes written to it (whole UTF-8
/// characters only), for messages built without allocation.
pub(crate) struct MessageBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> MessageBuf<N> {
    pub(crate) const fn new() -> Self {
        MessageBuf {
            bytes: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        let filled = self.bytes.get(..self.len).unwrap_or(&[]);
        core::str::from_utf8(filled).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for MessageBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for ch in s.chars() {
            let mut utf8 = [0u8; 4];
            let encoded = ch.encode_utf8(&mut utf8).as_bytes();
            let end = self.len + encoded.len();
            match self.bytes.get_mut(self.len..end) {
                Some(dst) => {
                    dst.copy_from_slice(encoded);
                    self.len = end;
                }
                // Full: drop the rest silently; truncation is the intent.
                None => return Ok(()),
            }
        }
        Ok(())
    }
}

fn ve_fatal(frame: &VeTrapFrame, info: Option<&VeInfo>, error: &VeError) -> ! {
    let hook = FATAL_HOOK.load(Ordering::Acquire);
    if !hook.is_null() {
        // SAFETY: the only non-null value ever stored is a `VeFatalHook`
        // converted by `set_ve_fatal_hook`; function and data pointers have
        // the same size on x86_64.
        let hook: VeFatalHook = unsafe { core::mem::transmute::<*mut (), VeFatalHook>(hook) };
        hook(frame, info, error);
    }
    let mut message = MessageBuf::<64>::new();
    // Writing into MessageBuf cannot fail; a formatting error would only
    // shorten the message.
    let _ = fmt::write(&mut message, format_args!("{error}"));
    tdvmcall::report_fatal_error(message.as_str())
}

/// Rust side of the #VE entry: fetch the #VE info first (a #VE before that
/// would be a #DF), emulate, or go down the fatal path.
extern "sysv64" fn ve_dispatch(frame: &mut VeTrapFrame) {
    match tdcall::veinfo_get() {
        Ok(info) => {
            if let Err(error) = emulate_ve(frame, &info, &mut Ghci) {
                ve_fatal(frame, Some(&info), &error);
            }
        }
        Err(e) => ve_fatal(frame, None, &VeError::VeInfo(e)),
    }
}

/// The #VE (vector 20) entry point: install its address
/// ([`ve_entry_address`]) as an interrupt gate (IF cleared on entry) for
/// vector 20 in the IDT. Never call it.
///
/// It pushes all 15 GPRs after the CPU's 5-word frame (#VE has no error code),
/// which leaves RSP 16-byte aligned for the call, passes the frame pointer in
/// RDI (`sysv64` ABI on every target, including UEFI's MS-ABI default),
/// clears DF as that ABI requires, restores the (possibly updated) registers
/// and returns with `iretq`. SSE state is not saved: the image target is
/// soft-float and emits no SSE code; a kernel that enables SSE must save it
/// around this. The handler runs on the interrupted stack unless the IDT entry
/// selects an IST stack; code that may be interrupted must not use a red zone
/// (the UEFI target has none).
///
/// # Safety
/// Only the CPU may enter this, through IDT vector 20.
#[unsafe(naked)]
pub unsafe extern "sysv64" fn ve_entry() {
    core::arch::naked_asm!(
        "push rax",
        "push rbx",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rbp",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rdi, rsp",
        "cld",
        "call {dispatch}",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rbp",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rbx",
        "pop rax",
        "iretq",
        dispatch = sym ve_dispatch,
    )
}

/// Address of [`ve_entry`] for the IDT.
pub fn ve_entry_address() -> u64 {
    ve_entry as *const () as usize as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    enum Call {
        Cpuid(u32, u32),
        Rdmsr(u32),
        Wrmsr(u32, u64),
        IoRead(IoWidth, u16),
        IoWrite(IoWidth, u16, u32),
        Halt(bool),
    }

    /// A model VMM returning fixed, deliberately over-wide values so masking is
    /// observable, and recording every call.
    #[derive(Default)]
    struct Model {
        calls: Vec<Call>,
        fail: Option<VmCallError>,
    }

    impl Model {
        fn record(&mut self, c: Call) -> Result<(), VmCallError> {
            self.calls.push(c);
            match self.fail {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }

    impl VmmCalls for Model {
        fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<CpuidValues, VmCallError> {
            self.record(Call::Cpuid(leaf, subleaf))?;
            Ok(CpuidValues {
                eax: 0x1111_1111,
                ebx: 0x2222_2222,
                ecx: 0x3333_3333,
                edx: 0x4444_4444,
            })
        }
        fn rdmsr(&mut self, msr: u32) -> Result<u64, VmCallError> {
            self.record(Call::Rdmsr(msr))?;
            Ok(0xaaaa_bbbb_cccc_dddd)
        }
        fn wrmsr(&mut self, msr: u32, value: u64) -> Result<(), VmCallError> {
            self.record(Call::Wrmsr(msr, value))
        }
        fn io_read(&mut self, width: IoWidth, port: u16) -> Result<u32, VmCallError> {
            self.record(Call::IoRead(width, port))?;
            Ok(0x8765_4321 & width.mask() as u32)
        }
        fn io_write(&mut self, width: IoWidth, port: u16, value: u32) -> Result<(), VmCallError> {
            self.record(Call::IoWrite(width, port, value))
        }
        fn halt(&mut self, blocked: bool) -> Result<(), VmCallError> {
            self.record(Call::Halt(blocked))
        }
    }

    fn ve(reason: u32, qualification: u64, length: u32) -> VeInfo {
        VeInfo {
            exit_reason: reason,
            exit_qualification: qualification,
            guest_linear_address: 0xffff_8000_0000_1000,
            guest_physical_address: 0x8000_fee0_0000,
            instruction_length: length,
            instruction_info: 0,
        }
    }

    fn frame() -> VeTrapFrame {
        VeTrapFrame {
            rax: 0xffff_ffff_ffff_ffff,
            rbx: 0x0bad,
            rcx: 0xffff_ffff_0000_0000,
            rdx: 0xffff_ffff_ffff_ffff,
            rip: 0x1000,
            rflags: 0x202,
            ..VeTrapFrame::default()
        }
    }

    /// Builds an I/O exit qualification the way the CPU would.
    fn io_qual(size_bytes: u64, is_in: bool, string: bool, rep: bool, imm: bool, port: u16) -> u64 {
        let size_field = match size_bytes {
            1 => 0,
            2 => 1,
            4 => 3,
            _ => panic!("test size"),
        };
        size_field
            | (u64::from(is_in) << 3)
            | (u64::from(string) << 4)
            | (u64::from(rep) << 5)
            | (u64::from(imm) << 6)
            | (u64::from(port) << 16)
    }

    #[test]
    fn io_qualification_decoding() {
        // OUT DX, AL to COM1 data port.
        assert_eq!(
            IoQualification::decode(0x03f8_0000),
            Ok(IoQualification {
                width: IoWidth::U8,
                direction: IoDirection::Out,
                string: false,
                rep: false,
                immediate_port: false,
                port: 0x3f8
            })
        );
        // IN EAX, 0xCFC via immediate? (port from bits 31:16, bit 6 set)
        let q = IoQualification::decode(io_qual(4, true, false, false, true, 0xcfc));
        assert_eq!(
            q.map(|q| (q.width, q.direction, q.immediate_port, q.port)),
            Ok((IoWidth::U32, IoDirection::In, true, 0xcfc))
        );
        let q = IoQualification::decode(io_qual(2, true, true, true, false, 0x1f0));
        assert_eq!(
            q.map(|q| (q.width, q.string, q.rep)),
            Ok((IoWidth::U16, true, true))
        );
        // Reserved size encodings.
        for size_field in [2u64, 4, 5, 6, 7] {
            assert_eq!(
                IoQualification::decode(0x0060_0000 | size_field),
                Err(VeError::BadIoSize {
                    qualification: 0x0060_0000 | size_field
                })
            );
        }
        // Upper reserved bits do not leak into the port.
        assert_eq!(
            IoQualification::decode(0xffff_ffff_0070_0000).map(|q| q.port),
            Ok(0x70)
        );
    }

    #[test]
    fn exit_reason_numbers() {
        assert_eq!(ExitReason::from_raw(10), ExitReason::Cpuid);
        assert_eq!(ExitReason::from_raw(12), ExitReason::Hlt);
        assert_eq!(ExitReason::from_raw(30), ExitReason::Io);
        assert_eq!(ExitReason::from_raw(31), ExitReason::MsrRead);
        assert_eq!(ExitReason::from_raw(32), ExitReason::MsrWrite);
        assert_eq!(ExitReason::from_raw(48), ExitReason::EptViolation);
        assert_eq!(ExitReason::from_raw(54), ExitReason::Other(54));
        assert_eq!(
            ExitReason::from_raw(0x8000_000a),
            ExitReason::Other(0x8000_000a)
        );
    }

    #[test]
    fn port_in_byte_merges_into_al() {
        let mut f = frame();
        let mut m = Model::default();
        let r = emulate_ve(
            &mut f,
            &ve(30, io_qual(1, true, false, false, false, 0x3fd), 1),
            &mut m,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(m.calls, [Call::IoRead(IoWidth::U8, 0x3fd)]);
        assert_eq!(f.rax, 0xffff_ffff_ffff_ff21);
        assert_eq!(f.rip, 0x1001);
    }

    #[test]
    fn port_in_word_and_dword_widths() {
        let mut f = frame();
        let mut m = Model::default();
        assert_eq!(
            emulate_ve(
                &mut f,
                &ve(30, io_qual(2, true, false, false, false, 0xc000), 2),
                &mut m
            ),
            Ok(())
        );
        assert_eq!(f.rax, 0xffff_ffff_ffff_4321);
        let mut f = frame();
        assert_eq!(
            emulate_ve(
                &mut f,
                &ve(30, io_qual(4, true, false, false, true, 0xcfc), 2),
                &mut m
            ),
            Ok(())
        );
        assert_eq!(f.rax, 0x8765_4321, "32-bit IN zero-extends");
        assert_eq!(f.rip, 0x1002);
    }

    #[test]
    fn port_out_sends_masked_value() {
        let mut f = frame();
        f.rax = 0x1234_5678_9abc_def0;
        let mut m = Model::default();
        assert_eq!(
            emulate_ve(
                &mut f,
                &ve(30, io_qual(1, false, false, false, false, 0x3f8), 1),
                &mut m
            ),
            Ok(())
        );
        assert_eq!(
            emulate_ve(
                &mut f,
                &ve(30, io_qual(2, false, false, false, false, 0x3f8), 2),
                &mut m
            ),
            Ok(())
        );
        assert_eq!(
            emulate_ve(
                &mut f,
                &ve(30, io_qual(4, false, false, false, false, 0xcf8), 1),
                &mut m
            ),
            Ok(())
        );
        assert_eq!(
            m.calls,
            [
                Call::IoWrite(IoWidth::U8, 0x3f8, 0xf0),
                Call::IoWrite(IoWidth::U16, 0x3f8, 0xdef0),
                Call::IoWrite(IoWidth::U32, 0xcf8, 0x9abc_def0)
            ]
        );
        assert_eq!(f.rax, 0x1234_5678_9abc_def0, "OUT leaves RAX alone");
        assert_eq!(f.rip, 0x1004);
    }

    #[test]
    fn string_and_rep_io_refused_without_side_effects() {
        let mut m = Model::default();
        for (string, rep) in [(true, false), (true, true), (false, true)] {
            let mut f = frame();
            let r = emulate_ve(
                &mut f,
                &ve(30, io_qual(1, true, string, rep, false, 0x60), 2),
                &mut m,
            );
            assert_eq!(r, Err(VeError::StringIo { port: 0x60 }));
            assert_eq!(f, frame());
        }
        assert!(m.calls.is_empty());
    }

    #[test]
    fn cpuid_hypervisor_range_forwarded_others_zeroed() {
        let mut m = Model::default();
        let mut f = frame();
        f.rax = 0xdead_0000_4000_0001; // upper half ignored
        f.rcx = 7;
        assert_eq!(emulate_ve(&mut f, &ve(10, 0, 2), &mut m), Ok(()));
        assert_eq!(m.calls, [Call::Cpuid(0x4000_0001, 7)]);
        assert_eq!(
            (f.rax, f.rbx, f.rcx, f.rdx),
            (0x1111_1111, 0x2222_2222, 0x3333_3333, 0x4444_4444)
        );
        assert_eq!(f.rip, 0x1002);

        let mut f = frame();
        f.rax = 0x8000_0008;
        assert_eq!(emulate_ve(&mut f, &ve(10, 0, 2), &mut m), Ok(()));
        assert_eq!(m.calls.len(), 1, "not forwarded");
        assert_eq!((f.rax, f.rbx, f.rcx, f.rdx), (0, 0, 0, 0));
    }

    #[test]
    fn msr_read_splits_into_edx_eax() {
        let mut m = Model::default();
        let mut f = frame();
        f.rcx = 0xffff_ffff_0000_0830; // ECX only
        assert_eq!(emulate_ve(&mut f, &ve(31, 0, 2), &mut m), Ok(()));
        assert_eq!(m.calls, [Call::Rdmsr(0x830)]);
        assert_eq!((f.rax, f.rdx), (0xcccc_dddd, 0xaaaa_bbbb));
    }

    #[test]
    fn msr_write_joins_edx_eax() {
        let mut m = Model::default();
        let mut f = frame();
        f.rcx = 0x6e0;
        f.rax = 0xffff_ffff_0000_0001;
        f.rdx = 0x0000_0000_0000_0002;
        assert_eq!(emulate_ve(&mut f, &ve(32, 0, 2), &mut m), Ok(()));
        assert_eq!(m.calls, [Call::Wrmsr(0x6e0, 0x0000_0002_0000_0001)]);
        assert_eq!(f.rip, 0x1002);
    }

    #[test]
    fn hlt_passes_interrupt_state() {
        let mut m = Model::default();
        let mut f = frame(); // IF set
        assert_eq!(emulate_ve(&mut f, &ve(12, 0, 1), &mut m), Ok(()));
        let mut f2 = frame();
        f2.rflags = 0x2; // IF clear
        assert_eq!(emulate_ve(&mut f2, &ve(12, 0, 1), &mut m), Ok(()));
        assert_eq!(m.calls, [Call::Halt(false), Call::Halt(true)]);
        assert_eq!(f.rip, 0x1001);
    }

    #[test]
    fn refusals_are_typed_and_leave_frame_untouched() {
        let mut m = Model::default();
        let mut f = frame();
        assert_eq!(
            emulate_ve(&mut f, &ve(48, 0x181, 0), &mut m),
            Err(VeError::EptViolation {
                gpa: 0x8000_fee0_0000,
                linear_address: 0xffff_8000_0000_1000
            })
        );
        assert_eq!(
            emulate_ve(&mut f, &ve(54, 0x5, 2), &mut m),
            Err(VeError::UnsupportedExit {
                exit_reason: 54,
                qualification: 0x5
            })
        );
        for bad_len in [0u32, 16, u32::MAX] {
            assert_eq!(
                emulate_ve(&mut f, &ve(31, 0, bad_len), &mut m),
                Err(VeError::BadInstructionLength {
                    exit_reason: 31,
                    length: bad_len
                })
            );
        }
        assert_eq!(f, frame());
        assert!(m.calls.is_empty());
    }

    #[test]
    fn vmm_failure_does_not_advance_rip() {
        let mut m = Model {
            fail: Some(VmCallError::InvalidOperand),
            ..Model::default()
        };
        let mut f = frame();
        assert_eq!(
            emulate_ve(&mut f, &ve(31, 0, 2), &mut m),
            Err(VeError::Vmm {
                exit_reason: 31,
                error: VmCallError::InvalidOperand
            })
        );
        assert_eq!(f.rip, 0x1000);
    }

    #[test]
    fn trap_frame_layout() {
        assert_eq!(core::mem::size_of::<VeTrapFrame>(), 160);
        assert_eq!(core::mem::offset_of!(VeTrapFrame, rbp), 8 * 8);
        assert_eq!(core::mem::offset_of!(VeTrapFrame, rflags), 17 * 8);
        assert_eq!(core::mem::offset_of!(VeTrapFrame, ss), 19 * 8);
        assert_ne!(ve_entry_address(), 0);
    }

    #[test]
    fn message_buffer_truncates_on_char_boundaries() {
        use core::fmt::Write;
        let mut b = MessageBuf::<8>::new();
        assert!(write!(b, "abcdef").is_ok());
        assert!(write!(b, "é€").is_ok()); // 2 + 3 bytes: only é fits
        assert_eq!(b.as_str(), "abcdefé");
        let e = VeError::StringIo { port: 0x60 };
        let mut m = MessageBuf::<64>::new();
        assert!(write!(m, "{e}").is_ok());
        assert_eq!(
            m.as_str(),
            "#VE string/REP port I/O on port 0x60 unsupported"
        );
    }
}
