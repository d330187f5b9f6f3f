//! Verifying an SGX DCAP quote v3 (ECDSA-P256) to a pinned root, inside the
//! image: the `local-sgx` key provider's quote on TDX hosts.
//!
//! This module owns the checks Intel's quote verification library makes for an
//! SGX quote, written on the crates the image already links (p256 0.13, sha2
//! 0.10, serde_json) plus x509-cert 0.2 / der 0.7, because dcap-qvl does not
//! build for `x86_64-unknown-uefi` (kernel README). Host tests cross-check it
//! against dcap-qvl on Intel's real sample quote and collateral
//! (`measure/tests/sgx_dcap.rs`). Where the two references differ it follows
//! the stricter: QE and platform statuses converge as Intel's QVL does (not
//! simply the worse of the two, as dcap-qvl does); QE auth data must be 32
//! bytes (dcap-qvl); issuers need the key usage they use (webpki).
//! Not read: certificate path length (every chain here has a fixed shape),
//! SGX TCB info version 2, PCK certification data other than a PEM chain.
//!
//! [`verify_sgx_quote`] checks, in order, and refuses at the first failure:
//! 1. the pinned root is self-signed and valid; the root CA CRL is signed by
//!    it, current, and does not list it; the quote's PCK chain and the TCB
//!    signing chains end at the pinned root byte for byte;
//! 2. TCB signing certificate: issued by the root, valid, not revoked; it signs
//!    the TCB info and the QE identity; both are current, for SGX, and carry a
//!    `tcbEvaluationDataNumber` of at least the configured minimum;
//! 3. PCK chain: PCK CA issued by the root and not revoked; the PCK CRL is
//!    signed by that PCK CA and current; the PCK certificate is issued by it,
//!    valid and not revoked;
//! 4. the QE report is signed by the PCK key, binds the attestation key
//!    (`report_data = SHA-256(attestation key ‖ QE auth data) ‖ 0`), and matches
//!    the QE identity (MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES under
//!    their masks; not a debug enclave); its ISVSVN selects the QE TCB status;
//! 5. the attestation key signs header ‖ enclave report;
//! 6. the PCK certificate's FMSPC and PCE id equal the TCB info's; its CPUSVN
//!    and PCESVN select the first TCB level they meet, giving the platform status;
//! 7. the quoted enclave is not a debug enclave; the platform and QE statuses
//!    converged ([`TcbStatus::converge`]) must be in the configured accepted set.
//!
//! Time: "now" is the caller's. In the image it is the latest of the host's
//! clock (which the host sets) and lower bounds the host cannot move, in
//! signer mode a light-client-verified chain head; see the kernel README,
//! which also says what that leaves open (without a chain head, a CRL from
//! before a revocation, replayed with a clock set inside its window). The
//! minimum `tcbEvaluationDataNumber` stops old TCB info and QE identity from
//! being replayed; nothing here bounds the age of a CRL beyond its own window
//! and the caller's time.
//!
//! Submodules: [`status`] (TCB status names, the accepted set), [`collateral`]
//! (the collateral JSON and the two signed documents), [`x509`] (chains,
//! CRLs), [`pck`] (the PCK certificate's SGX extension), [`tlv`] (DER reader).

pub mod collateral;
pub mod pck;
pub mod status;
pub mod tlv;
pub mod x509;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

pub use collateral::{parse_collateral_json, Collateral};
pub use status::{TcbStatus, TcbStatusSet};

use crate::quote::{EnclaveReport, QuoteError, SgxQuote, INTEL_QE_VENDOR_ID};

/// Intel SGX Root CA (DER), the trust anchor on TDX hosts. Public data: the
/// certificate Intel publishes for its SGX PKI; its SHA-256 is pinned in this
/// module's tests and its provenance is in `measure/README.md`.
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("../../intel/sgx_root_ca.der");

/// Length of the QE authentication data (what Intel's QE writes; dcap-qvl requires it).
const QE_AUTH_DATA_LEN: usize = 32;
/// The SGX ATTRIBUTES.DEBUG bit (byte 0, bit 1).
const ATTRIBUTE_DEBUG: u8 = 0x02;

/// What the verifier is told to accept.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// The pinned root certificate (DER).
    pub root_ca_der: &'a [u8],
    /// Unix seconds used for every validity check.
    pub now_secs: u64,
    /// Least `tcbEvaluationDataNumber` of TCB info and QE identity.
    pub min_tcb_evaluation_data_number: u32,
    /// Statuses accepted for the combined platform + QE TCB status.
    pub accept: TcbStatusSet,
}

/// A quote that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSgxQuote {
    /// The quoted enclave.
    pub report: EnclaveReport,
    /// `platform_status` converged with `qe_status` ([`TcbStatus::converge`]).
    pub status: TcbStatus,
    pub platform_status: TcbStatus,
    pub qe_status: TcbStatus,
    /// Advisory ids of the matched platform and QE levels (deduplicated).
    pub advisory_ids: Vec<String>,
    pub fmspc: [u8; 6],
    /// The smaller of the TCB info's and QE identity's numbers.
    pub tcb_evaluation_data_number: u32,
    /// The earliest `nextUpdate` of the CRLs, TCB info and QE identity used
    /// (certificates' `notAfter` not included): when this verdict lapses.
    pub valid_until: u64,
}

/// Why a quote or its collateral was refused. Each names the part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DcapError {
    /// The quote's structure.
    Quote(QuoteError),
    /// The quote header's QE vendor is not Intel's.
    QeVendor,
    /// The collateral JSON.
    Collateral(&'static str),
    Pem { what: &'static str, reason: &'static str },
    Certificate { what: &'static str, reason: &'static str },
    Crl { what: &'static str, reason: &'static str },
    Revoked { what: &'static str },
    NotYetValid { what: &'static str, from: u64, now: u64 },
    Expired { what: &'static str, until: u64, now: u64 },
    TcbInfo(&'static str),
    QeIdentity(&'static str),
    /// A collateral document older than the configured evaluation number.
    StaleCollateral { what: &'static str, number: u32, min: u32 },
    PckExtension(&'static str),
    /// A signature or binding that does not verify (which one).
    Signature(&'static str),
    /// The QE report does not match the QE identity (which field).
    QeMismatch(&'static str),
    /// The PCK certificate's platform is not the TCB info's.
    PlatformMismatch(&'static str),
    /// No TCB level of the TCB info (or QE identity) is met.
    NoTcbLevel(&'static str),
    /// The quoted enclave runs in debug mode.
    DebugEnclave,
    /// The combined TCB status is not accepted.
    StatusNotAccepted { status: TcbStatus, accepted: TcbStatusSet },
}

impl fmt::Display for DcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DcapError::Quote(e) => write!(f, "SGX quote: {e}"),
            DcapError::QeVendor => f.write_str("QE vendor id is not Intel's"),
            DcapError::Collateral(r) => write!(f, "collateral: {r}"),
            DcapError::Pem { what, reason } => write!(f, "{what}: PEM: {reason}"),
            DcapError::Certificate { what, reason } => write!(f, "{what}: {reason}"),
            DcapError::Crl { what, reason } => write!(f, "{what}: {reason}"),
            DcapError::Revoked { what } => write!(f, "{what} is revoked"),
            DcapError::NotYetValid { what, from, now } => write!(f, "{what} is valid only from {from} (now {now})"),
            DcapError::Expired { what, until, now } => write!(f, "{what} expired at {until} (now {now})"),
            DcapError::TcbInfo(r) => write!(f, "TCB info: {r}"),
            DcapError::QeIdentity(r) => write!(f, "QE identity: {r}"),
            DcapError::StaleCollateral { what, number, min } => {
                write!(f, "{what} has tcbEvaluationDataNumber {number}, below the configured minimum {min}")
            }
            DcapError::PckExtension(r) => write!(f, "PCK certificate SGX extension: {r}"),
            DcapError::Signature(what) => write!(f, "{what} does not verify"),
            DcapError::QeMismatch(what) => write!(f, "QE report {what} does not match the QE identity"),
            DcapError::PlatformMismatch(what) => write!(f, "PCK certificate {what} differs from the TCB info's"),
            DcapError::NoTcbLevel(what) => write!(f, "no {what} TCB level is met"),
            DcapError::DebugEnclave => f.write_str("the quoted enclave is a debug enclave"),
            DcapError::StatusNotAccepted { status, accepted } => {
                write!(f, "TCB status {status} is not accepted (accepted: {accepted})")
            }
        }
    }
}

fn raw_signature(bytes: &[u8], what: &'static str) -> Result<Signature, DcapError> {
    Signature::from_slice(bytes).map_err(|_| DcapError::Signature(what))
}

fn verify_raw(key: &VerifyingKey, message: &[u8], signature: &[u8], what: &'static str) -> Result<(), DcapError> {
    key.verify(message, &raw_signature(signature, what)?).map_err(|_| DcapError::Signature(what))
}

fn check_window(what: &'static str, from: u64, until: u64, now: u64) -> Result<(), DcapError> {
    if now < from {
        return Err(DcapError::NotYetValid { what, from, now });
    }
    if now > until {
        return Err(DcapError::Expired { what, until, now });
    }
    Ok(())
}

fn push_advisories(out: &mut Vec<String>, ids: &[String]) {
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
}

/// Checks one signed collateral document (TCB info or QE identity): its issuer
/// chain is `[signer, root]`, the signer is a leaf issued by the root and not
/// revoked, and it signed `text`. `names`: chain, signer, signature (for errors).
#[allow(clippy::too_many_arguments)]
fn verify_signed_document(
    chain_pem: &str,
    text: &str,
    signature: &[u8],
    root: &x509::Cert,
    root_crl: &x509::Crl,
    root_der: &[u8],
    now: u64,
    [chain_name, signer_name, signature_name]: [&'static str; 3],
) -> Result<(), DcapError> {
    let chain = x509::chain_to_root(chain_pem.as_bytes(), root_der, chain_name)?;
    let [signer] = chain.as_slice() else {
        return Err(DcapError::Certificate { what: chain_name, reason: "is not [TCB signing, root]" });
    };
    signer.check_leaf_issued_by(root, now, signer_name)?;
    root_crl.check_not_revoked(signer, signer_name)?;
    verify_raw(&signer.public_key(signer_name)?, text.as_bytes(), signature, signature_name)
}

/// Verifies `quote` with `collateral` under `policy` (module docs list every check).
pub fn verify_sgx_quote(quote: &[u8], collateral: &Collateral, policy: &Policy<'_>) -> Result<VerifiedSgxQuote, DcapError> {
    let now = policy.now_secs;
    let q = SgxQuote::parse(quote).map_err(DcapError::Quote)?;
    if q.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(DcapError::QeVendor);
    }

    // 1. The root and its CRL.
    let root = x509::Cert::parse(policy.root_ca_der, "root CA certificate")?;
    root.check_issued_by(&root, now, "root CA certificate")?;
    let root_crl = x509::Crl::parse_checked(&collateral.root_ca_crl, &root, now, "root CA CRL")?;
    root_crl.check_not_revoked(&root, "root CA certificate")?;
    let mut valid_until = root_crl.next_update;

    // 2. TCB info and QE identity, signed by the TCB signing certificate.
    let signed = |chain: &str, text: &str, signature: &[u8], names: [&'static str; 3]| {
        verify_signed_document(chain, text, signature, &root, &root_crl, policy.root_ca_der, now, names)
    };
    signed(
        &collateral.tcb_info_issuer_chain,
        &collateral.tcb_info,
        &collateral.tcb_info_signature,
        ["TCB info issuer chain", "TCB signing certificate", "TCB info signature"],
    )?;
    signed(
        &collateral.qe_identity_issuer_chain,
        &collateral.qe_identity,
        &collateral.qe_identity_signature,
        ["QE identity issuer chain", "QE identity signing certificate", "QE identity signature"],
    )?;

    let tcb_info = collateral::parse_tcb_info(&collateral.tcb_info)?;
    check_window("TCB info", tcb_info.issue_date, tcb_info.next_update, now)?;
    let qe_identity = collateral::parse_qe_identity(&collateral.qe_identity)?;
    check_window("QE identity", qe_identity.issue_date, qe_identity.next_update, now)?;
    let min = policy.min_tcb_evaluation_data_number;
    if tcb_info.tcb_evaluation_data_number < min {
        return Err(DcapError::StaleCollateral { what: "TCB info", number: tcb_info.tcb_evaluation_data_number, min });
    }
    if qe_identity.tcb_evaluation_data_number < min {
        return Err(DcapError::StaleCollateral { what: "QE identity", number: qe_identity.tcb_evaluation_data_number, min });
    }
    valid_until = valid_until.min(tcb_info.next_update).min(qe_identity.next_update);

    // 3. The PCK chain of the quote.
    let pck_chain = x509::chain_to_root(q.pck_chain_pem, policy.root_ca_der, "PCK certificate chain")?;
    let [pck, pck_ca] = pck_chain.as_slice() else {
        return Err(DcapError::Certificate { what: "PCK certificate chain", reason: "is not [PCK, PCK CA, root]" });
    };
    pck_ca.check_issued_by(&root, now, "PCK CA certificate")?;
    root_crl.check_not_revoked(pck_ca, "PCK CA certificate")?;
    let pck_crl = x509::Crl::parse_checked(&collateral.pck_crl, pck_ca, now, "PCK CRL")?;
    valid_until = valid_until.min(pck_crl.next_update);
    pck.check_leaf_issued_by(pck_ca, now, "PCK certificate")?;
    pck_crl.check_not_revoked(pck, "PCK certificate")?;
    let platform = pck::parse_sgx_extension(
        pck.extension(pck::SGX_EXTENSION_OID).ok_or(DcapError::PckExtension("absent"))?,
    )?;

    // 4. The quoting enclave.
    let pck_key = pck.public_key("PCK certificate")?;
    verify_raw(&pck_key, q.qe_report_bytes, &q.qe_report_signature, "QE report signature (PCK key)")?;
    if q.qe_auth_data.len() != QE_AUTH_DATA_LEN {
        return Err(DcapError::Signature("QE auth data of other than 32 bytes"));
    }
    let mut binding = Sha256::new();
    binding.update(q.attestation_public_key);
    binding.update(q.qe_auth_data);
    let digest: [u8; 32] = binding.finalize().into();
    let (bound, rest) = q.qe_report.report_data.split_at(32);
    if bound != digest || rest.iter().any(|&b| b != 0) {
        return Err(DcapError::Signature("QE report binding of the attestation key"));
    }
    let qe = &q.qe_report;
    if qe.mr_signer != qe_identity.mr_signer {
        return Err(DcapError::QeMismatch("MRSIGNER"));
    }
    if qe.isv_prod_id != qe_identity.isv_prod_id {
        return Err(DcapError::QeMismatch("ISVPRODID"));
    }
    if qe.misc_select & qe_identity.miscselect_mask != qe_identity.miscselect & qe_identity.miscselect_mask {
        return Err(DcapError::QeMismatch("MISCSELECT"));
    }
    let attributes_match = qe
        .attributes
        .iter()
        .zip(qe_identity.attributes.iter().zip(qe_identity.attributes_mask.iter()))
        .all(|(have, (want, mask))| have & mask == want & mask);
    if !attributes_match {
        return Err(DcapError::QeMismatch("ATTRIBUTES"));
    }
    if qe.attributes[0] & ATTRIBUTE_DEBUG != 0 {
        return Err(DcapError::QeMismatch("debug bit"));
    }
    let qe_level = qe_identity
        .levels
        .iter()
        .find(|l| qe.isv_svn >= l.isv_svn)
        .ok_or(DcapError::NoTcbLevel("QE identity"))?;

    // 5. The quoted enclave's report, signed by the attestation key.
    let mut sec1 = [4u8; 65];
    sec1[1..].copy_from_slice(&q.attestation_public_key);
    let ak = VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| DcapError::Signature("attestation key (not a P-256 point)"))?;
    verify_raw(&ak, q.signed_bytes, &q.isv_signature, "enclave report signature (attestation key)")?;

    // 6. The platform's TCB level.
    if platform.fmspc != tcb_info.fmspc {
        return Err(DcapError::PlatformMismatch("FMSPC"));
    }
    if platform.pce_id != tcb_info.pce_id {
        return Err(DcapError::PlatformMismatch("PCE id"));
    }
    let platform_level = tcb_info
        .levels
        .iter()
        .find(|l| platform.pce_svn >= l.pce_svn && platform.cpu_svn.iter().zip(l.cpu_svn.iter()).all(|(have, need)| have >= need))
        .ok_or(DcapError::NoTcbLevel("platform"))?;

    // 7. Policy.
    if q.report.attributes[0] & ATTRIBUTE_DEBUG != 0 {
        return Err(DcapError::DebugEnclave);
    }
    let status = TcbStatus::converge(platform_level.status, qe_level.status);
    if !policy.accept.contains(status) {
        return Err(DcapError::StatusNotAccepted { status, accepted: policy.accept });
    }
    let mut advisory_ids = Vec::new();
    push_advisories(&mut advisory_ids, &platform_level.advisory_ids);
    push_advisories(&mut advisory_ids, &qe_level.advisory_ids);
    Ok(VerifiedSgxQuote {
        report: q.report,
        status,
        platform_status: platform_level.status,
        qe_status: qe_level.status,
        advisory_ids,
        fmspc: platform.fmspc,
        tcb_evaluation_data_number: tcb_info.tcb_evaluation_data_number.min(qe_identity.tcb_evaluation_data_number),
        valid_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_intel_root_is_the_one_intel_publishes() {
        // SHA-256 of the DER of "Intel SGX Root CA" (the same bytes dcap-qvl pins).
        let digest: [u8; 32] = Sha256::digest(INTEL_SGX_ROOT_CA_DER).into();
        assert_eq!(crate::hex::encode(&digest), "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
        let root = x509::Cert::parse(INTEL_SGX_ROOT_CA_DER, "root").unwrap();
        root.check_issued_by(&root, 1_750_000_000, "root").unwrap();
    }
}
