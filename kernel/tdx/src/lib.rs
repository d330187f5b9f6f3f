//! tdsigner's Intel TDX guest layer: TDCALL, TDVMCALL (GHCI), #VE handling and
//! private/shared memory conversion, as a small `no_std` crate without
//! allocation.
//!
//! Written from the Intel TDX Module v1.5 ABI Specification ("ABI spec") and
//! the TDX Guest-Hypervisor Communication Interface v1.5 ("GHCI"); each module
//! names the sections it follows. None of this can run outside a TD: the host
//! unit tests cover every pure part (status and exit decoding, I/O exit
//! qualifications, shared-bit math, conversion bookkeeping, the MapGPA retry
//! protocol, the GetQuote buffer, the #VE emulation against a model VMM).
//!
//! # API
//! Detection and TD information:
//! - [`is_td`]: CPUID leaf 0x21 carries "IntelTDX    " (after checking the max
//!   basic leaf).
//! - [`vp_info`] → [`TdInfo`] {gpa_width, attributes, num_vcpus, max_vcpus,
//!   vcpu_index, sys_rd_available}; [`TdInfo::shared_bit`] → [`SharedBit`].
//!
//! Measurement and attestation (TDCALL):
//! - [`mr_report`]`(&`[`ReportData`]`, &mut `[`TdReport`]`)` — TDG.MR.REPORT;
//!   [`TdReport`] accessors for REPORTDATA, MRTD, RTMRs, attributes.
//! - [`mr_rtmr_extend`]`(`[`RtmrIndex`]`, &`[`RtmrExtendData`]`)` —
//!   TDG.MR.RTMR.EXTEND (RTMR2/3 only).
//! - [`veinfo_get`] → [`VeInfo`] — TDG.VP.VEINFO.GET.
//! - [`tdcall::mem_page_accept_4k`] — TDG.MEM.PAGE.ACCEPT.
//! - Errors: [`TdCallError`] {leaf, raw status} with [`TdxStatus`] classes.
//!
//! Host calls (TDVMCALL, module [`tdvmcall`]): `io_read`/`io_write` (+ `_u8`,
//! `_u16`, `_u32`), `rdmsr`, `wrmsr`, `cpuid`, `mmio_read`/`mmio_write` (1, 2,
//! 4, 8 bytes at a shared GPA), `halt`, `enable_interrupts_and_halt`,
//! `map_gpa` (retry/partial-completion protocol), `get_quote`,
//! `report_fatal_error`. Errors: [`VmCallError`] (raw GHCI codes), [`MapGpaError`].
//!
//! GetQuote buffer (module [`quote`]): [`build_quote_request`],
//! [`parse_quote_response`], [`QuoteHeader`], [`QuoteError`].
//!
//! Shared memory (module [`shared`]): [`SharedBit`] (aliases, validity),
//! [`PageRange`], [`ConversionTable`]`<N>` (no overlaps, exact undo),
//! [`share_range`] / [`unshare_range`] (bookkeeping + MapGPA + accept),
//! `copy_from_shared` / `copy_to_shared`.
//!
//! #VE (module [`ve`]): [`ve_entry`] / [`ve_entry_address`] for IDT vector 20,
//! [`VeTrapFrame`], [`emulate_ve`] (CPUID, RDMSR/WRMSR, port I/O, HLT),
//! [`VeError`], [`set_ve_fatal_hook`], [`IoQualification`], [`ExitReason`].
//!
//! # Boot sequence the kernel is expected to follow
//! 1. `is_td()`; if false use the emulated backend.
//! 2. Install [`ve_entry_address`] at IDT vector 20 (interrupt gate) and a fatal
//!    hook that prints to serial — serial output itself should use
//!    `tdvmcall::io_write_u8` so printing never needs a #VE.
//! 3. `vp_info()`; refuse to run if `attributes.is_debug()` in production, or
//!    if `!attributes.sept_ve_disabled()` (this handler does not handle
//!    pending-page #VEs). Take `shared_bit()`.
//! 4. Convert DMA buffers with [`share_range`] and access them through the
//!    shared alias.

//!
//! # Not implemented (on purpose or not yet)
//! - Never executed on TDX hardware: this machine has none. Register usage and
//!   structures follow the specs and were cross-read against public guest
//!   implementations; the inline asm was inspected in the UEFI build.
//! - MMIO through #VE (would need x86 instruction decoding): refused with
//!   [`VeError::EptViolation`]; use `tdvmcall::mmio_read`/`mmio_write`.
//! - String/REP port I/O (INS/OUTS) through #VE: refused.
//! - `TDG.VP.VMCALL<SetupEventNotifyInterrupt>`: GetQuote completion is polled.
//! - TDG.VM.RD/WR (e.g. turning SEPT #VE off at run time on TDX modules that
//!   allow it): the kernel checks the SEPT_VE_DISABLE attribute instead.
//! - Accepting memory in 2 MiB pages, and accepting "unaccepted" memory the
//!   firmware left in the UEFI memory map: the kernel must only use memory
//!   the map reports as conventional (already accepted).

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod quote;
pub mod report;
pub mod shared;
pub mod tdcall;
pub mod tdvmcall;
pub mod ve;

pub use quote::{build_quote_request, parse_quote_response, QuoteError, QuoteHeader};
pub use report::{ReportData, RtmrExtendData, TdReport};
pub use shared::{share_range, unshare_range, ConversionTable, ConvertError, PageRange, SharedBit};
pub use tdcall::{
    mr_report, mr_rtmr_extend, veinfo_get, vp_info, RtmrIndex, TdAttributes, TdCallError, TdInfo,
    TdxStatus, VeInfo,
};
pub use tdvmcall::{MapGpaError, VmCallError};
pub use ve::{
    emulate_ve, set_ve_fatal_hook, ve_entry, ve_entry_address, ExitReason, IoQualification,
    VeError, VeTrapFrame,
};

/// CPUID leaf that identifies a TD (ABI spec, "CPUID Virtualization": leaf
/// 0x21, sub-leaf 0).
pub const TDX_CPUID_LEAF: u32 = 0x21;

/// The vendor string of leaf 0x21 in EBX, EDX, ECX order.
pub const TDX_VENDOR: &[u8; 12] = b"IntelTDX    ";

/// Whether CPUID leaf 0x21 registers carry the TDX vendor string. The string is
/// read in EBX, EDX, ECX order (as for leaf 0's vendor id).
pub const fn is_tdx_signature(ebx: u32, ecx: u32, edx: u32) -> bool {
    let b = ebx.to_le_bytes();
    let d = edx.to_le_bytes();
    let c = ecx.to_le_bytes();
    let sig = [
        b[0], b[1], b[2], b[3], d[0], d[1], d[2], d[3], c[0], c[1], c[2], c[3],
    ];
    let mut i = 0;
    while i < 12 {
        if sig[i] != TDX_VENDOR[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether we run inside an Intel TD: the maximum basic CPUID leaf reaches
/// 0x21 and leaf 0x21 sub-leaf 0 carries "IntelTDX    ".
///
/// CPUID leaves 0 and 0x21 are answered by the TDX module itself, so this never
/// raises #VE and can run before the #VE handler is installed.
pub fn is_td() -> bool {
    let max_leaf = core::arch::x86_64::__cpuid(0).eax;
    if max_leaf < TDX_CPUID_LEAF {
        return false;
    }
    let r = core::arch::x86_64::__cpuid_count(TDX_CPUID_LEAF, 0);
    is_tdx_signature(r.ebx, r.ecx, r.edx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs_for(s: &[u8; 12]) -> (u32, u32, u32) {
        let w = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        // EBX, ECX, EDX from the EBX-EDX-ECX string order.
        (w(0), w(8), w(4))
    }

    #[test]
    fn signature_register_order() {
        let (ebx, ecx, edx) = regs_for(b"IntelTDX    ");
        assert_eq!(ebx, u32::from_le_bytes(*b"Inte"));
        assert_eq!(edx, u32::from_le_bytes(*b"lTDX"));
        assert_eq!(ecx, u32::from_le_bytes(*b"    "));
        assert!(is_tdx_signature(ebx, ecx, edx));
        // Swapping ECX and EDX (the leaf-0 trap) must fail.
        assert!(!is_tdx_signature(ebx, edx, ecx));
        let (ebx, ecx, edx) = regs_for(b"GenuineIntel");
        assert!(!is_tdx_signature(ebx, ecx, edx));
        assert!(!is_tdx_signature(0, 0, 0));
    }

    #[test]
    fn is_td_runs_natively() {
        // On a host this executes real CPUID; it must not fault. Whether the
        // host is a TD is not asserted (CI could in principle run in one), but
        // the answer must agree with a direct reading of the leaf.
        let max = core::arch::x86_64::__cpuid(0).eax;
        let expected = max >= 0x21 && {
            let r = core::arch::x86_64::__cpuid_count(0x21, 0);
            is_tdx_signature(r.ebx, r.ecx, r.edx)
        };
        assert_eq!(is_td(), expected);
    }
}
