//! TDCALL: the guest's calls into the Intel TDX module.
//!
//! This module owns the `tdcall` instruction for the module's own leaves (not
//! TDG.VP.VMCALL, which is in [`crate::tdvmcall`]), their register usage, and
//! the completion-status decoding.
//!
//! Spec: Intel TDX Module v1.5 ABI Specification, chapter "TDCALL (Guest-Side)
//! Interface Functions": TDG.VP.INFO (leaf 1), TDG.MR.RTMR.EXTEND (leaf 2),
//! TDG.VP.VEINFO.GET (leaf 3), TDG.MR.REPORT (leaf 4), TDG.MEM.PAGE.ACCEPT
//! (leaf 6); "Function Completion Status Codes" for the status layout.
//!
//! Register usage (ABI spec, "TDCALL Instruction"): RAX carries the leaf number
//! in and the completion status out; inputs go in RCX, RDX, R8..R11; the module
//! may write RCX, RDX and R8..R11 on return (outputs, or zero when a leaf has no
//! output there). All other GPRs are preserved. We additionally treat R12 and
//! R13 as clobbered — some leaves of newer modules use them — which costs
//! nothing and keeps the asm correct against a module that does.

use core::fmt;

use crate::report::{ReportData, RtmrExtendData, TdReport};
use crate::shared::{AddressError, SharedBit};

/// The `tdcall` instruction bytes (66 0F 01 CC), spelled as bytes so the
/// assembler's mnemonic support does not matter.
macro_rules! tdcall_insn {
    () => {
        ".byte 0x66, 0x0f, 0x01, 0xcc"
    };
}
pub(crate) use tdcall_insn;

/// The TDCALL leaves this crate issues (ABI spec, "TDCALL Instruction Leaf
/// Numbers").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum TdCallLeaf {
    /// TDG.VP.VMCALL (leaf 0), the GHCI hypercall; see [`crate::tdvmcall`].
    VpVmcall = 0,
    /// TDG.VP.INFO.
    VpInfo = 1,
    /// TDG.MR.RTMR.EXTEND.
    MrRtmrExtend = 2,
    /// TDG.VP.VEINFO.GET.
    VpVeinfoGet = 3,
    /// TDG.MR.REPORT.
    MrReport = 4,
    /// TDG.MEM.PAGE.ACCEPT.
    MemPageAccept = 6,
}

impl TdCallLeaf {
    /// The spec's name of the leaf.
    pub const fn name(self) -> &'static str {
        match self {
            TdCallLeaf::VpVmcall => "TDG.VP.VMCALL",
            TdCallLeaf::VpInfo => "TDG.VP.INFO",
            TdCallLeaf::MrRtmrExtend => "TDG.MR.RTMR.EXTEND",
            TdCallLeaf::VpVeinfoGet => "TDG.VP.VEINFO.GET",
            TdCallLeaf::MrReport => "TDG.MR.REPORT",
            TdCallLeaf::MemPageAccept => "TDG.MEM.PAGE.ACCEPT",
        }
    }
}

/// The known completion-status classes (upper 32 bits of RAX), from the ABI
/// spec's "Function Completion Status Codes" table. The lower 32 bits carry
/// details such as the offending operand id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdxStatus {
    /// 0xC000_0100 TDX_OPERAND_INVALID: an operand (address, alignment,
    /// index, reserved bits) is invalid.
    OperandInvalid,
    /// 0xC000_0101 TDX_OPERAND_ADDR_RANGE_ERROR.
    OperandAddrRangeError,
    /// 0x8000_0200 TDX_OPERAND_BUSY: a resource is locked; retrying may succeed.
    OperandBusy,
    /// 0xC000_0704 TDX_NO_VALID_VE_INFO: TDG.VP.VEINFO.GET without a pending #VE.
    NoValidVeInfo,
    /// 0x0000_0B0A TDX_PAGE_ALREADY_ACCEPTED (a warning class).
    PageAlreadyAccepted,
    /// 0xC000_0B0B TDX_PAGE_SIZE_MISMATCH.
    PageSizeMismatch,
    /// 0xE000_0604 TDX_TD_FATAL.
    TdFatal,
    /// A class this crate does not name; see the raw status.
    Other,
}

impl TdxStatus {
    /// Classifies a raw non-zero completion status.
    pub const fn classify(status: u64) -> Self {
        match status >> 32 {
            0xC000_0100 => TdxStatus::OperandInvalid,
            0xC000_0101 => TdxStatus::OperandAddrRangeError,
            0x8000_0200 => TdxStatus::OperandBusy,
            0xC000_0704 => TdxStatus::NoValidVeInfo,
            0x0000_0B0A => TdxStatus::PageAlreadyAccepted,
            0xC000_0B0B => TdxStatus::PageSizeMismatch,
            0xE000_0604 => TdxStatus::TdFatal,
            _ => TdxStatus::Other,
        }
    }
}

/// A TDCALL that returned a non-zero completion status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdCallError {
    /// The leaf that failed.
    pub leaf: TdCallLeaf,
    /// The raw completion status from RAX.
    pub status: u64,
}

impl TdCallError {
    /// An error for `leaf` with raw `status`.
    pub const fn new(leaf: TdCallLeaf, status: u64) -> Self {
        TdCallError { leaf, status }
    }

    /// The decoded status class.
    pub const fn kind(&self) -> TdxStatus {
        TdxStatus::classify(self.status)
    }
}

impl fmt::Display for TdCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: status {:#018x} ({:?})",
            self.leaf.name(),
            self.status,
            self.kind()
        )
    }
}

/// Register image for one TDCALL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TdCallRegs {
    pub rcx: u64,
    pub rdx: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
}

/// Issues TDCALL `leaf` with `input`; returns the output registers on status 0.
///
/// # Safety
/// Must run inside a TD (elsewhere `tdcall` raises #UD). Leaves that take GPAs
/// let the TDX module read or write guest memory there: the caller must own
/// that memory as the leaf's contract requires.
#[inline]
pub(crate) unsafe fn tdcall(
    leaf: TdCallLeaf,
    input: TdCallRegs,
) -> Result<TdCallRegs, TdCallError> {
    let status: u64;
    let mut out = input;
    // SAFETY: register usage per the ABI spec's "TDCALL Instruction" (see the
    // module docs): RAX in/out, RCX/RDX/R8..R11 in/out, R12/R13 declared
    // clobbered for safety. The asm may read/write memory (no `nomem`) since
    // leaves such as TDG.MR.REPORT write the buffers named by GPA; the caller
    // upholds this function's contract for those buffers. No stack use.
    unsafe {
        core::arch::asm!(
            tdcall_insn!(),
            inout("rax") leaf as u64 => status,
            inout("rcx") out.rcx,
            inout("rdx") out.rdx,
            inout("r8") out.r8,
            inout("r9") out.r9,
            inout("r10") out.r10,
            inout("r11") out.r11,
            lateout("r12") _,
            lateout("r13") _,
            options(nostack),
        );
    }
    if status == 0 {
        Ok(out)
    } else {
        Err(TdCallError::new(leaf, status))
    }
}

/// TD ATTRIBUTES (ABI spec, "ATTRIBUTES" definition), as reported by
/// TDG.VP.INFO in RDX and in TDREPORT's TDINFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdAttributes(pub u64);

impl TdAttributes {
    /// Bit 0, DEBUG: the host can read and write the TD's state. A debug TD
    /// offers no confidentiality; production images should refuse to run.
    pub const DEBUG: u64 = 1 << 0;
    /// Bit 28, SEPT_VE_DISABLE: access to a PENDING private page exits to the
    /// VMM instead of raising #VE in the guest. Our #VE handler does not handle
    /// pending-page #VEs, so the image wants this set.
    pub const SEPT_VE_DISABLE: u64 = 1 << 28;

    /// Whether the TD runs in debug mode.
    pub const fn is_debug(self) -> bool {
        self.0 & Self::DEBUG != 0
    }

    /// Whether EPT-violation #VEs on pending pages are disabled.
    pub const fn sept_ve_disabled(self) -> bool {
        self.0 & Self::SEPT_VE_DISABLE != 0
    }
}

/// What TDG.VP.INFO reports about the TD (ABI spec, "TDG.VP.INFO Leaf").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdInfo {
    /// Effective GPA width in bits (RCX bits 5:0); the shared bit is GPAW-1.
    pub gpa_width: u8,
    /// TD attributes (RDX).
    pub attributes: TdAttributes,
    /// Number of vCPUs initialised by the host (R8 bits 31:0).
    pub num_vcpus: u32,
    /// Maximum number of vCPUs (R8 bits 63:32).
    pub max_vcpus: u32,
    /// Index of the calling vCPU (R9 bits 31:0).
    pub vcpu_index: u32,
    /// Whether TDG.SYS.RD/RDM are available (R10 bit 0; TDX module 1.5).
    pub sys_rd_available: bool,
}

impl TdInfo {
    /// Decodes the output registers of TDG.VP.INFO.
    pub(crate) const fn from_regs(r: &TdCallRegs) -> Self {
        TdInfo {
            gpa_width: (r.rcx & 0x3f) as u8,
            attributes: TdAttributes(r.rdx),
            num_vcpus: r.r8 as u32,
            max_vcpus: (r.r8 >> 32) as u32,
            vcpu_index: r.r9 as u32,
            sys_rd_available: r.r10 & 1 != 0,
        }
    }

    /// The TD's shared bit (`1 << (gpa_width - 1)`); errors on a GPA width
    /// the spec does not define.
    pub const fn shared_bit(&self) -> Result<SharedBit, AddressError> {
        SharedBit::from_gpa_width(self.gpa_width)
    }
}

/// TDG.VP.INFO: the TD's execution environment.
///
/// Call only after [`crate::is_td`] returned true (outside a TD `tdcall` is
/// #UD).
pub fn vp_info() -> Result<TdInfo, TdCallError> {
    // SAFETY: TDG.VP.INFO takes no memory operands; callers are told to call
    // this only inside a TD.
    let regs = unsafe { tdcall(TdCallLeaf::VpInfo, TdCallRegs::default()) }?;
    Ok(TdInfo::from_regs(&regs))
}

/// The #VE information the TDX module recorded for the current #VE (ABI spec,
/// "TDG.VP.VEINFO.GET Leaf"); fields mirror what a VM exit would have stored
/// in the VMCS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VeInfo {
    /// Exit reason (RCX bits 31:0); basic reason in bits 15:0.
    pub exit_reason: u32,
    /// Exit qualification (RDX).
    pub exit_qualification: u64,
    /// Guest linear address (R8).
    pub guest_linear_address: u64,
    /// Guest physical address (R9).
    pub guest_physical_address: u64,
    /// VM-exit instruction length (R10 bits 31:0); defined for instruction-caused
    /// #VEs, not for EPT violations.
    pub instruction_length: u32,
    /// VM-exit instruction information (R10 bits 63:32).
    pub instruction_info: u32,
}

impl VeInfo {
    pub(crate) const fn from_regs(r: &TdCallRegs) -> Self {
        VeInfo {
            exit_reason: r.rcx as u32,
            exit_qualification: r.rdx,
            guest_linear_address: r.r8,
            guest_physical_address: r.r9,
            instruction_length: r.r10 as u32,
            instruction_info: (r.r10 >> 32) as u32,
        }
    }
}

/// TDG.VP.VEINFO.GET: fetch (and clear the valid flag of) the current #VE's
/// information. Must be the first thing a #VE handler does: a second #VE
/// while the info is still valid escalates to #DF.
pub fn veinfo_get() -> Result<VeInfo, TdCallError> {
    // SAFETY: TDG.VP.VEINFO.GET takes no memory operands; it is only called
    // from the #VE path, which only exists inside a TD.
    let regs = unsafe { tdcall(TdCallLeaf::VpVeinfoGet, TdCallRegs::default()) }?;
    Ok(VeInfo::from_regs(&regs))
}

/// TDG.MR.REPORT sub-type 0: fill `report` with a TDREPORT_STRUCT binding
/// `report_data`.
///
/// The wrapper types carry the spec's alignments (TDREPORT_STRUCT 1024 bytes,
/// REPORTDATA 64 bytes); the TDX module takes their addresses as GPAs.
///
/// # Safety
/// Must run in a TD. Both buffers must be in private memory that is
/// identity-mapped (virtual address == guest physical address).
pub unsafe fn mr_report(
    report_data: &ReportData,
    report: &mut TdReport,
) -> Result<(), TdCallError> {
    let input = TdCallRegs {
        rcx: report as *mut TdReport as u64,
        rdx: report_data as *const ReportData as u64,
        r8: 0, // sub-type 0
        ..TdCallRegs::default()
    };
    // SAFETY: the caller guarantees identity mapping and privacy, so the GPAs
    // name exactly `report` (exclusively borrowed, written by the module) and
    // `report_data` (read by the module).
    unsafe { tdcall(TdCallLeaf::MrReport, input) }.map(|_| ())
}

/// The RTMRs a guest OS may extend. RTMR0 and RTMR1 belong to the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RtmrIndex {
    /// RTMR2 (OS/kernel configuration in the usual convention).
    Rtmr2 = 2,
    /// RTMR3 (runtime events / application).
    Rtmr3 = 3,
}

/// TDG.MR.RTMR.EXTEND: RTMR `index` = SHA-384(RTMR `index` || digest).
///
/// # Safety
/// Must run in a TD. `digest` must be in private, identity-mapped memory.
pub unsafe fn mr_rtmr_extend(index: RtmrIndex, digest: &RtmrExtendData) -> Result<(), TdCallError> {
    let input = TdCallRegs {
        rcx: digest as *const RtmrExtendData as u64,
        rdx: index as u64,
        ..TdCallRegs::default()
    };
    // SAFETY: per the caller's contract the GPA names `digest` (64-byte aligned
    // by its type), which the module only reads.
    unsafe { tdcall(TdCallLeaf::MrRtmrExtend, input) }.map(|_| ())
}

/// Busy statuses are retried this many times before giving up.
const ACCEPT_BUSY_RETRIES: u32 = 16;

/// TDG.MEM.PAGE.ACCEPT of one 4 KiB page at private GPA `gpa` (RCX: GPA in
/// bits 51:12, page level 0 = 4 KiB in bits 2:0). Retries TDX_OPERAND_BUSY a
/// bounded number of times; any other status is an error, including
/// TDX_PAGE_ALREADY_ACCEPTED (a page we just converted must be pending).
///
/// # Safety
/// Must run in a TD. The page's contents become zero: nothing may rely on
/// them, and nothing may access the page while it is pending.
pub unsafe fn mem_page_accept_4k(gpa: u64) -> Result<(), TdCallError> {
    if gpa & 0xfff != 0 {
        return Err(TdCallError::new(
            TdCallLeaf::MemPageAccept,
            // Report misalignment the way the module would (operand invalid,
            // operand id RCX = 1) without issuing the call.
            0xC000_0100_0000_0001,
        ));
    }
    let mut attempt = 0;
    loop {
        let input = TdCallRegs {
            rcx: gpa, // level 0 (4 KiB) in bits 2:0
            ..TdCallRegs::default()
        };
        // SAFETY: the caller upholds the page contract above.
        match unsafe { tdcall(TdCallLeaf::MemPageAccept, input) } {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == TdxStatus::OperandBusy && attempt < ACCEPT_BUSY_RETRIES => {
                attempt += 1;
                core::hint::spin_loop();
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_from_abi_table() {
        assert_eq!(
            TdxStatus::classify(0xC000_0100_0000_0000),
            TdxStatus::OperandInvalid
        );
        assert_eq!(
            TdxStatus::classify(0xC000_0100_0000_0002),
            TdxStatus::OperandInvalid
        );
        assert_eq!(
            TdxStatus::classify(0x8000_0200_0000_0000),
            TdxStatus::OperandBusy
        );
        assert_eq!(
            TdxStatus::classify(0x0000_0B0A_0000_0000),
            TdxStatus::PageAlreadyAccepted
        );
        assert_eq!(
            TdxStatus::classify(0xC000_0B0B_0000_0000),
            TdxStatus::PageSizeMismatch
        );
        assert_eq!(
            TdxStatus::classify(0xC000_0704_0000_0000),
            TdxStatus::NoValidVeInfo
        );
        assert_eq!(
            TdxStatus::classify(0xE000_0604_0000_0000),
            TdxStatus::TdFatal
        );
        assert_eq!(
            TdxStatus::classify(0xC000_0101_0000_0000),
            TdxStatus::OperandAddrRangeError
        );
        assert_eq!(TdxStatus::classify(0x1234_5678_0000_0000), TdxStatus::Other);
    }

    #[test]
    fn vp_info_register_decoding() {
        let regs = TdCallRegs {
            rcx: 0xffff_ffff_ffff_ffc0 | 52, // reserved bits above 5:0 ignored
            rdx: TdAttributes::SEPT_VE_DISABLE,
            r8: (8u64 << 32) | 2,
            r9: 0xdead_0000_0000_0001,
            r10: 1,
            r11: 0,
        };
        let info = TdInfo::from_regs(&regs);
        assert_eq!(info.gpa_width, 52);
        assert_eq!(info.num_vcpus, 2);
        assert_eq!(info.max_vcpus, 8);
        assert_eq!(info.vcpu_index, 1);
        assert!(info.sys_rd_available);
        assert!(info.attributes.sept_ve_disabled());
        assert!(!info.attributes.is_debug());
        assert_eq!(info.shared_bit().map(|s| s.mask()), Ok(1 << 51));
        let odd = TdInfo {
            gpa_width: 40,
            ..info
        };
        assert!(odd.shared_bit().is_err());
    }

    #[test]
    fn veinfo_register_decoding() {
        let regs = TdCallRegs {
            rcx: 30,
            rdx: 0x03f8_0000,
            r8: 0x1111,
            r9: 0x2222,
            r10: (0xabcd_u64 << 32) | 2,
            r11: 0,
        };
        let ve = VeInfo::from_regs(&regs);
        assert_eq!(ve.exit_reason, 30);
        assert_eq!(ve.exit_qualification, 0x03f8_0000);
        assert_eq!(ve.guest_linear_address, 0x1111);
        assert_eq!(ve.guest_physical_address, 0x2222);
        assert_eq!(ve.instruction_length, 2);
        assert_eq!(ve.instruction_info, 0xabcd);
    }

    #[test]
    fn accept_rejects_unaligned_without_tdcall() {
        // Must return before executing `tdcall` (which would fault on the host).
        // SAFETY: the unaligned path issues no instruction and touches no memory.
        let r = unsafe { mem_page_accept_4k(0x1234) };
        assert_eq!(r.map_err(|e| e.kind()), Err(TdxStatus::OperandInvalid));
    }

    #[test]
    fn error_display_names_leaf() {
        let e = TdCallError::new(TdCallLeaf::MrReport, 0xC000_0100_0000_0000);
        let text = format!("{e}");
        assert!(
            text.starts_with("TDG.MR.REPORT failed: status 0xc000010000000000"),
            "{text}"
        );
    }
}
