//! Quotes: the platform's signed statement of this guest's measurements and
//! 64 bytes of report data.
//!
//! - `tdx`: TDG.MR.REPORT over the report data, then GetQuote through a
//!   buffer in the shared DMA pool; the host's quote generation service
//!   answers asynchronously and the kernel polls the buffer header (GHCI
//!   GetQuote flow, see `tdsigner_tdx::quote`). The reply is copied into
//!   private memory before it is parsed.
//! - `emulated`: a TD quote v4 built by `tdsigner_measure::emulated` from the
//!   emulated RTMRs, signed by the public EMULATED test PCK chain. MRTD,
//!   RTMR0 and RTMR1 are zero in such quotes: nothing measured the firmware or
//!   the image. It verifies only against the emulated test root, never
//!   against Intel's.

use alloc::vec::Vec;
use core::fmt;

use spin::Once;
use tdsigner_measure::emulated::EmulatedQuotingEnclave;

use crate::platform::{self, Platform};
use crate::drivers::virtio::hal;

/// Size of the GetQuote buffer (header + TDREPORT in, quote out).
const QUOTE_BUFFER_PAGES: usize = 4;
/// How long the host's quote service may take.
const QUOTE_TIMEOUT_MS: u64 = 30_000;

/// Why no quote was produced.
#[derive(Debug)]
pub enum AttestError {
    Report(platform::PlatformError),
    Request(tdsigner_tdx::quote::QuoteError),
    GetQuote(tdsigner_tdx::tdvmcall::VmCallError),
    Reply(tdsigner_tdx::quote::QuoteError),
    Timeout,
    Emulated(tdsigner_measure::emulated::EmulatedError),
}

impl fmt::Display for AttestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttestError::Report(e) => write!(f, "TDREPORT: {e}"),
            AttestError::Request(e) => write!(f, "GetQuote request: {e:?}"),
            AttestError::GetQuote(e) => write!(f, "GetQuote: {e}"),
            AttestError::Reply(e) => write!(f, "GetQuote reply: {e:?}"),
            AttestError::Timeout => write!(f, "the host's quote service did not answer within {QUOTE_TIMEOUT_MS} ms"),
            AttestError::Emulated(e) => write!(f, "emulated quoting enclave: {e:?}"),
        }
    }
}

static EMULATED_QE: Once<Result<EmulatedQuotingEnclave, tdsigner_measure::emulated::EmulatedError>> = Once::new();

/// A quote over `report_data`.
pub fn quote(report_data: &[u8; 64]) -> Result<Vec<u8>, AttestError> {
    match platform::get() {
        Platform::Emulated(_) => emulated_quote(report_data),
        Platform::Tdx(_) => tdx_quote(report_data),
    }
}

fn emulated_quote(report_data: &[u8; 64]) -> Result<Vec<u8>, AttestError> {
    let rtmrs = platform::get().emulated_rtmrs().unwrap_or([[0; 48]; 4]);
    let body = tdsigner_measure::emulated::td_report_body([0; 48], rtmrs, *report_data);
    let qe = EMULATED_QE.call_once(EmulatedQuotingEnclave::new).as_ref().map_err(|e| AttestError::Emulated(*e))?;
    qe.quote(&body).map_err(AttestError::Emulated)
}

fn tdx_quote(report_data: &[u8; 64]) -> Result<Vec<u8>, AttestError> {
    use tdsigner_tdx::quote::{build_quote_request, parse_quote_response, QuoteError, QuoteHeader, QUOTE_HEADER_LEN};

    let report = platform::td_report(report_data).map_err(AttestError::Report)?;
    let len = QUOTE_BUFFER_PAGES * 4096;
    let mut staging = alloc::vec![0u8; len];
    build_quote_request(&mut staging, &report.0).map_err(AttestError::Request)?;
    let (device_addr, vaddr) = hal::alloc_shared_pages(QUOTE_BUFFER_PAGES);
    let shared = vaddr.as_ptr();
    let result = (|| {
        // SAFETY: the pages are ours (just allocated from the shared pool)
        // and `staging` has exactly `len` bytes.
        unsafe { tdsigner_tdx::shared::copy_to_shared(shared, &staging) };
        let Platform::Tdx(td) = platform::get() else { return Err(AttestError::Timeout) };
        let start = crate::platform::clock::now_ms();
        loop {
            // SAFETY: the buffer is shared, mapped, page aligned, and no Rust
            // reference to it is live while the VMM may write it.
            match unsafe { tdsigner_tdx::tdvmcall::get_quote(td.shared(), device_addr, len as u64) } {
                Ok(()) => break,
                Err(tdsigner_tdx::tdvmcall::VmCallError::Retry) if crate::platform::clock::now_ms() - start < QUOTE_TIMEOUT_MS => {
                    crate::arch::apic::sleep_us(10_000)
                }
                Err(e) => return Err(AttestError::GetQuote(e)),
            }
        }
        let mut header = [0u8; QUOTE_HEADER_LEN];
        loop {
            // SAFETY: reading the shared header into a private copy.
            unsafe { tdsigner_tdx::shared::copy_from_shared(&mut header, shared) };
            match QuoteHeader::parse(&header).and_then(|h| h.check_status()) {
                Ok(()) => break,
                Err(QuoteError::InFlight) if crate::platform::clock::now_ms() - start < QUOTE_TIMEOUT_MS => {
                    crate::arch::apic::sleep_us(10_000)
                }
                Err(QuoteError::InFlight) => return Err(AttestError::Timeout),
                Err(e) => return Err(AttestError::Reply(e)),
            }
        }
        // SAFETY: the VMM has finished (status left IN_FLIGHT); copy everything out.
        unsafe { tdsigner_tdx::shared::copy_from_shared(&mut staging, shared) };
        parse_quote_response(&staging).map(Vec::from).map_err(AttestError::Reply)
    })();
    hal::free_shared_pages(device_addr, QUOTE_BUFFER_PAGES);
    result
}

/// The node's attestation: a quote over `report_data` plus the `tcb_info`
/// JSON (mrtd, rtmr0-3, event log) near/mpc's contract takes with it.
pub fn platform_attestation(
    report_data: &[u8; 64],
) -> Result<tdsigner_node::machine::Attestation, tdsigner_node::machine::AttestationError> {
    use tdsigner_measure::hex::encode;
    let quote = quote(report_data).map_err(|e| tdsigner_node::machine::AttestationError::Failed(alloc::format!("{e}")))?;
    let (mrtd, rtmrs) = match platform::get().emulated_rtmrs() {
        Some(r) => ([0u8; 48], r),
        None => {
            let report = platform::td_report(&[0u8; 64])
                .map_err(|e| tdsigner_node::machine::AttestationError::Failed(alloc::format!("{e}")))?;
            (report.mrtd(), report.rtmrs())
        }
    };
    let tcb_info_json = alloc::format!(
        "{{\"mrtd\":\"{}\",\"rtmr0\":\"{}\",\"rtmr1\":\"{}\",\"rtmr2\":\"{}\",\"rtmr3\":\"{}\",\"event_log\":{}}}",
        encode(&mrtd),
        encode(&rtmrs[0]),
        encode(&rtmrs[1]),
        encode(&rtmrs[2]),
        encode(&rtmrs[3]),
        crate::platform::measured_boot::events_json()
    );
    Ok(tdsigner_node::machine::Attestation { quote, collateral_json: None, tcb_info_json })
}
