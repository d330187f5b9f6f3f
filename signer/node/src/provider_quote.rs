//! The SGX quote of the host's local key provider (the `local-sgx` sealing-key
//! source): the [`ProviderQuoteVerifier`] the image uses, on both platforms.
//!
//! The check itself is `tdsigner_measure::sgx_dcap::verify_sgx_quote` (SGX DCAP
//! quote v3 to a pinned root with collateral: chains, CRLs, TCB info, QE
//! identity, QE report, attestation-key binding, TCB level, accepted
//! statuses). What differs by platform is only the pinned root:
//! - TDX: Intel's SGX Root CA ([`DcapProviderQuoteVerifier::intel`]);
//! - emulated: the EMULATED test root (`tdsigner_measure::emulated`, public
//!   seed, [`DcapProviderQuoteVerifier::emulated`]); every output says so.
//!
//! The collateral comes from the host (fetched over HTTP by the kernel), so
//! it is hostile until its Intel signatures check. "Now" is the caller's
//! ([`collateral_check_time`]; in signer mode it includes a verified chain
//! head from `crate::chain_time`): see the kernel README for how the image
//! bounds it. The caller,
//! `LocalSgxKeySource`, pins MRENCLAVE and checks the report_data binding of
//! the encrypted key.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use tdsigner_measure::emulated;
use tdsigner_measure::sgx_dcap::{verify_sgx_quote, Collateral, Policy, TcbStatusSet, VerifiedSgxQuote, INTEL_SGX_ROOT_CA_DER};
use tdsigner_store::keysource::{ProviderQuoteVerifier, VerifiedSgxReport};

/// An EMULATED SGX quote for the test provider (host tests and fuzzing).
pub use tdsigner_measure::emulated::sgx_quote as emulated_sgx_quote;

/// The earliest "now" this source vouches for, 2026-11-01T00:00:00Z (it was
/// written after that day). Part of the measured image, so a verifier knows it.
pub const SOURCE_TIME_FLOOR_UNIX: u64 = 1_793_491_200;

/// The time collateral is checked at, and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckTime {
    pub unix_secs: u64,
    /// For log lines.
    pub source: &'static str,
    /// For the `tdsigner.provider-tcb` event: `floor`, `anchor`, `chain` or `host`.
    pub tag: &'static str,
}

/// The time to check collateral at: the latest of
/// - [`SOURCE_TIME_FLOOR_UNIX`];
/// - the light-client trust anchor's block time (measured config);
/// - `verified_chain_secs`: the lower bound a light-client walk from that
///   anchor to the chain's head proved (`crate::chain_time`), plus the time
///   elapsed since the walk;
/// - the host's clock (the host sets it).
///
/// A clock set back cannot revive collateral that expired before the latest
/// of the others. A clock set *forward* moves the check time forward, which
/// only expires collateral. Without a walk (no signer configuration) the
/// host can still pick any moment after the floor, so CRLs from before a
/// later revocation pass then (kernel README, "What this leaves open").
pub fn collateral_check_time(host_clock: Option<u64>, trust_anchor_nanos: Option<u64>, verified_chain_secs: Option<u64>) -> CheckTime {
    let mut best = CheckTime { unix_secs: SOURCE_TIME_FLOOR_UNIX, source: "source floor", tag: "floor" };
    let candidates = [
        (trust_anchor_nanos.map(|n| n / 1_000_000_000), "light-client trust anchor", "anchor"),
        (verified_chain_secs, "verified chain head", "chain"),
        (host_clock, "host clock", "host"),
    ];
    for (secs, source, tag) in candidates {
        if let Some(secs) = secs {
            if secs > best.unix_secs {
                best = CheckTime { unix_secs: secs, source, tag };
            }
        }
    }
    best
}

/// Which root a verifier pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinnedRoot {
    /// Intel's SGX Root CA.
    Intel,
    /// The EMULATED test root (public seed; proves nothing about hardware).
    Emulated,
}

impl PinnedRoot {
    /// For log lines and errors.
    pub const fn describe(self) -> &'static str {
        match self {
            PinnedRoot::Intel => "Intel SGX Root CA",
            PinnedRoot::Emulated => "EMULATED test root, not Intel's",
        }
    }
}

/// Verifies provider quotes with one collateral set, time and policy; keeps
/// the last verdict for the caller to log and record.
pub struct DcapProviderQuoteVerifier {
    root: PinnedRoot,
    root_der: Vec<u8>,
    collateral: Collateral,
    now_secs: u64,
    min_tcb_evaluation_data_number: u32,
    accept: TcbStatusSet,
    last: RefCell<Option<VerifiedSgxQuote>>,
}

impl DcapProviderQuoteVerifier {
    fn new(root: PinnedRoot, root_der: Vec<u8>, collateral: Collateral, now_secs: u64, min: u32, accept: TcbStatusSet) -> Self {
        DcapProviderQuoteVerifier {
            root,
            root_der,
            collateral,
            now_secs,
            min_tcb_evaluation_data_number: min,
            accept,
            last: RefCell::new(None),
        }
    }

    /// Pins Intel's SGX Root CA (TDX hosts).
    pub fn intel(collateral: Collateral, now_secs: u64, min_tcb_evaluation_data_number: u32, accept: TcbStatusSet) -> Self {
        Self::new(PinnedRoot::Intel, INTEL_SGX_ROOT_CA_DER.to_vec(), collateral, now_secs, min_tcb_evaluation_data_number, accept)
    }

    /// Pins the EMULATED test root (the emulated platform).
    pub fn emulated(collateral: Collateral, now_secs: u64, min_tcb_evaluation_data_number: u32, accept: TcbStatusSet) -> Result<Self, String> {
        let root = emulated::root_ca_der().ok_or_else(|| String::from("the committed emulated PCK chain does not decode"))?;
        Ok(Self::new(PinnedRoot::Emulated, root, collateral, now_secs, min_tcb_evaluation_data_number, accept))
    }

    /// The pinned root.
    pub fn root(&self) -> PinnedRoot {
        self.root
    }

    /// The verdict of the last quote that verified.
    pub fn last_verdict(&self) -> Option<VerifiedSgxQuote> {
        self.last.borrow().clone()
    }
}

impl ProviderQuoteVerifier for DcapProviderQuoteVerifier {
    fn verify_sgx_quote(&self, quote: &[u8]) -> Result<VerifiedSgxReport, String> {
        let policy = Policy {
            root_ca_der: &self.root_der,
            now_secs: self.now_secs,
            min_tcb_evaluation_data_number: self.min_tcb_evaluation_data_number,
            accept: self.accept,
        };
        let verdict = verify_sgx_quote(quote, &self.collateral, &policy)
            .map_err(|e| alloc::format!("SGX quote ({}): {e}", self.root.describe()))?;
        let r = &verdict.report;
        let out = VerifiedSgxReport {
            mr_enclave: r.mr_enclave,
            mr_signer: r.mr_signer,
            isv_prod_id: r.isv_prod_id,
            isv_svn: r.isv_svn,
            report_data: r.report_data,
        };
        *self.last.borrow_mut() = Some(verdict);
        Ok(out)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use tdsigner_measure::sgx_dcap::{parse_collateral_json, TcbStatus};

    const NOW_2026: u64 = 1_767_225_600;

    #[test]
    fn check_time_is_the_latest_source_and_the_floor_is_pinned() {
        assert_eq!(tdsigner_measure::sgx_dcap::collateral::parse_utc("2026-11-01T00:00:00Z"), Some(SOURCE_TIME_FLOOR_UNIX));
        let floor = CheckTime { unix_secs: SOURCE_TIME_FLOOR_UNIX, source: "source floor", tag: "floor" };
        assert_eq!(collateral_check_time(None, None, None), floor);
        assert_eq!(
            collateral_check_time(Some(NOW_2026), Some(NOW_2026 * 1_000_000_000), Some(NOW_2026)),
            floor,
            "all behind the floor"
        );
        let later = SOURCE_TIME_FLOOR_UNIX + 1000;
        assert_eq!(collateral_check_time(Some(later), None, None), CheckTime { unix_secs: later, source: "host clock", tag: "host" });
        assert_eq!(
            collateral_check_time(Some(later), Some((later + 5) * 1_000_000_000), None),
            CheckTime { unix_secs: later + 5, source: "light-client trust anchor", tag: "anchor" }
        );
        // The walked chain beats an older host clock and the anchor...
        assert_eq!(
            collateral_check_time(Some(later), Some(later * 1_000_000_000), Some(later + 86_400)),
            CheckTime { unix_secs: later + 86_400, source: "verified chain head", tag: "chain" }
        );
        // ...and a host clock set later still wins (it can only expire collateral).
        assert_eq!(collateral_check_time(Some(later + 90_000), None, Some(later + 86_400)).tag, "host");
    }

    #[test]
    fn collateral_that_expired_before_the_verified_chain_head_is_refused() {
        let mut rd = [0u8; 64];
        rd[..32].fill(0x42);
        let q = emulated_sgx_quote([0xE1; 32], [0x5A; 32], rd).unwrap();
        // The host says 2026; the chain proves 2052, after the emulated PKI's
        // 2049-12-31 (its CRLs and certificates end then).
        let head_2052_nanos = 2_524_608_000u64 * 1_000_000_000;
        let head = crate::chain_time::CHAIN_TIME_ALLOWANCE_SECS;
        let at = collateral_check_time(Some(NOW_2026), None, Some(head_2052_nanos / 1_000_000_000 - head));
        assert_eq!(at.tag, "chain");
        let v = DcapProviderQuoteVerifier::emulated(collateral(), at.unix_secs, 1, TcbStatusSet::UP_TO_DATE_ONLY).unwrap();
        let err = v.verify_sgx_quote(&q).unwrap_err();
        assert!(err.contains("expired") || err.contains("not valid"), "{err}");
        // The same collateral at the host's time passes.
        let ok = DcapProviderQuoteVerifier::emulated(collateral(), SOURCE_TIME_FLOOR_UNIX + 1, 1, TcbStatusSet::UP_TO_DATE_ONLY).unwrap();
        assert!(ok.verify_sgx_quote(&q).is_ok());
    }

    fn collateral() -> Collateral {
        let pki = tdsigner_measure::testpki::EmulatedPki::generate().unwrap();
        parse_collateral_json(pki.sgx_collateral_json().as_bytes()).unwrap()
    }

    #[test]
    fn emulated_root_accepts_emulated_quotes_and_intel_root_refuses_them() {
        let mut rd = [0u8; 64];
        rd[..32].fill(0x42);
        let q = emulated_sgx_quote([0xE1; 32], [0x5A; 32], rd).unwrap();
        let v = DcapProviderQuoteVerifier::emulated(collateral(), NOW_2026, 1, TcbStatusSet::UP_TO_DATE_ONLY).unwrap();
        assert!(v.last_verdict().is_none());
        let r = v.verify_sgx_quote(&q).unwrap();
        assert_eq!((r.mr_enclave, r.mr_signer, r.report_data), ([0xE1; 32], [0x5A; 32], rd));
        assert_eq!(v.last_verdict().map(|x| x.status), Some(TcbStatus::UpToDate));
        let intel = DcapProviderQuoteVerifier::intel(collateral(), NOW_2026, 1, TcbStatusSet::UP_TO_DATE_ONLY);
        let err = intel.verify_sgx_quote(&q).unwrap_err();
        assert!(err.starts_with("SGX quote (Intel SGX Root CA): "), "{err}");
        let mut t = q.clone();
        t[100] ^= 1;
        assert!(v.verify_sgx_quote(&t).unwrap_err().contains("EMULATED test root"));
    }
}
