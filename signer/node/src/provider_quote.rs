//! The SGX quote of the host's local key provider (the `local-sgx` sealing-key
//! source): a bounded parser of the SGX DCAP quote v3 and the verifier the
//! image uses on the EMULATED platform.
//!
//! Layout of an SGX quote v3 with ECDSA-P256 attestation key (integers
//! little-endian):
//! ```text
//! header (48)        version u16 = 3, attestation_key_type u16 = 2, tee_type u32 = 0 (SGX),
//!                    qe_svn u16, pce_svn u16, qe_vendor_id [16], user_data [20]
//! enclave report (384)  the provider enclave's report body (MRENCLAVE, report_data, ...)
//! sig_data_len u32
//! sig_data           isv_signature [64] (by the attestation key, over header ‖ enclave report)
//!                    attestation_public_key [64]
//!                    qe_report [384] (the quoting enclave's report body)
//!                    qe_report_signature [64] (by the PCK key, over qe_report)
//!                    qe_auth_data: size u16, data
//!                    certification data: type u16 = 5, size u32, PEM PCK chain
//! ```
//!
//! What [`EmulatedProviderQuoteVerifier`] checks (every step must pass):
//! structure; header user_data is the EMULATED quoting enclave's; the PCK
//! chain is byte for byte the EMULATED chain (`tdsigner_measure::emulated`,
//! which chains to the EMULATED test root, checked by measure's tests); the QE
//! report is the emulated QE's (MRSIGNER, ISV product id 1 = QE3) and signed by
//! the emulated PCK key; the QE report binds the attestation key
//! (`SHA-256(attestation key ‖ auth data) ‖ 0`); the attestation key signs
//! header ‖ enclave report. Every key here derives from a public seed: an
//! emulated quote proves nothing about hardware, and every output that relies
//! on it says "emulated".
//!
//! NOT done: verifying a real provider quote to Intel's root inside the image
//! (dcap-qvl with collateral). The image therefore refuses `local-sgx` on TDX.

use alloc::string::String;
use core::fmt;

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use tdsigner_measure::emulated;
use tdsigner_measure::quote::{ATTESTATION_KEY_TYPE_ECDSA_P256, CERT_TYPE_PCK_CHAIN, INTEL_QE_VENDOR_ID};
use tdsigner_store::keysource::{ProviderQuoteVerifier, VerifiedSgxReport};

/// SGX quote version.
pub const SGX_QUOTE_VERSION: u16 = 3;
/// TEE type of SGX.
pub const TEE_TYPE_SGX: u32 = 0;
/// ISV product id of Intel's SGX quoting enclave (QE3).
pub const QE3_ISV_PROD_ID: u16 = 1;
/// Largest SGX quote parsed (real ones are a few KiB).
pub const MAX_SGX_QUOTE_LEN: usize = 64 * 1024;
const HEADER_LEN: usize = 48;
const REPORT_LEN: usize = 384;

/// Why an SGX quote was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SgxQuoteError {
    /// Ran out of bytes at this offset.
    Truncated { at: usize },
    /// Longer than [`MAX_SGX_QUOTE_LEN`].
    TooLong { len: usize },
    /// Bytes after the signature data.
    TrailingBytes { extra: usize },
    /// Not version 3.
    Version(u16),
    /// Not ECDSA-P256.
    KeyType(u16),
    /// Not an SGX quote.
    TeeType(u32),
    /// Certification data other than a PEM PCK chain.
    CertType(u16),
    /// A length field disagrees with its block.
    Length { at: usize },
    /// Not from the emulated quoting enclave / PKI (which part).
    NotEmulated(&'static str),
    /// A signature or binding does not check (which one).
    Signature(&'static str),
}

impl fmt::Display for SgxQuoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SgxQuoteError::Truncated { at } => write!(f, "SGX quote truncated at offset {at}"),
            SgxQuoteError::TooLong { len } => write!(f, "SGX quote of {len} bytes exceeds {MAX_SGX_QUOTE_LEN}"),
            SgxQuoteError::TrailingBytes { extra } => write!(f, "{extra} bytes after the SGX quote"),
            SgxQuoteError::Version(v) => write!(f, "SGX quote version {v} (expected 3)"),
            SgxQuoteError::KeyType(t) => write!(f, "attestation key type {t} (expected ECDSA-P256 = 2)"),
            SgxQuoteError::TeeType(t) => write!(f, "TEE type {t:#x} is not SGX (0)"),
            SgxQuoteError::CertType(t) => write!(f, "certification data type {t} (expected PCK chain = 5)"),
            SgxQuoteError::Length { at } => write!(f, "length field at offset {at} disagrees with its block"),
            SgxQuoteError::NotEmulated(what) => write!(f, "{what} is not the EMULATED test PKI's"),
            SgxQuoteError::Signature(what) => write!(f, "{what} does not verify"),
        }
    }
}

/// A parsed SGX quote v3; slices borrow from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgxQuote<'a> {
    pub qe_svn: u16,
    pub pce_svn: u16,
    pub qe_vendor_id: [u8; 16],
    pub user_data: [u8; 20],
    /// The enclave's report body.
    pub report: EnclaveFields,
    /// header ‖ enclave report: what the attestation key signs.
    pub signed_bytes: &'a [u8],
    pub isv_signature: [u8; 64],
    pub attestation_public_key: [u8; 64],
    pub qe_report: EnclaveFields,
    pub qe_report_bytes: &'a [u8],
    pub qe_report_signature: [u8; 64],
    pub qe_auth_data: &'a [u8],
    pub pck_chain_pem: &'a [u8],
}

/// The report-body fields this module uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnclaveFields {
    pub mr_enclave: [u8; 32],
    pub mr_signer: [u8; 32],
    pub isv_prod_id: u16,
    pub isv_svn: u16,
    pub report_data: [u8; 64],
}

impl EnclaveFields {
    /// From a 384-byte report body (offsets of the SGX REPORTBODY).
    fn from_body(body: &[u8]) -> Result<Self, SgxQuoteError> {
        let field = |from: usize, len: usize| body.get(from..from + len).ok_or(SgxQuoteError::Truncated { at: from });
        let mut out = EnclaveFields { mr_enclave: [0; 32], mr_signer: [0; 32], isv_prod_id: 0, isv_svn: 0, report_data: [0; 64] };
        out.mr_enclave.copy_from_slice(field(64, 32)?);
        out.mr_signer.copy_from_slice(field(128, 32)?);
        let prod = field(256, 2)?;
        out.isv_prod_id = u16::from_le_bytes([prod[0], prod[1]]);
        let svn = field(258, 2)?;
        out.isv_svn = u16::from_le_bytes([svn[0], svn[1]]);
        out.report_data.copy_from_slice(field(320, 64)?);
        Ok(out)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SgxQuoteError> {
        let end = self.pos.checked_add(n).ok_or(SgxQuoteError::Truncated { at: self.pos })?;
        let out = self.bytes.get(self.pos..end).ok_or(SgxQuoteError::Truncated { at: self.pos })?;
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SgxQuoteError> {
        let at = self.pos;
        self.take(N)?.try_into().map_err(|_| SgxQuoteError::Truncated { at })
    }
    fn u16(&mut self) -> Result<u16, SgxQuoteError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, SgxQuoteError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

impl<'a> SgxQuote<'a> {
    /// Parses an SGX quote v3 (hostile bytes: structure only, no signature checks).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SgxQuoteError> {
        if bytes.len() > MAX_SGX_QUOTE_LEN {
            return Err(SgxQuoteError::TooLong { len: bytes.len() });
        }
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u16()?;
        if version != SGX_QUOTE_VERSION {
            return Err(SgxQuoteError::Version(version));
        }
        let key_type = r.u16()?;
        if key_type != ATTESTATION_KEY_TYPE_ECDSA_P256 {
            return Err(SgxQuoteError::KeyType(key_type));
        }
        let tee_type = r.u32()?;
        if tee_type != TEE_TYPE_SGX {
            return Err(SgxQuoteError::TeeType(tee_type));
        }
        let qe_svn = r.u16()?;
        let pce_svn = r.u16()?;
        let qe_vendor_id = r.array()?;
        let user_data = r.array()?;
        let report = EnclaveFields::from_body(r.take(REPORT_LEN)?)?;
        let signed_bytes = bytes.get(..HEADER_LEN + REPORT_LEN).ok_or(SgxQuoteError::Truncated { at: 0 })?;
        let len_at = r.pos;
        let sig_len = usize::try_from(r.u32()?).map_err(|_| SgxQuoteError::Length { at: len_at })?;
        let remaining = bytes.len().saturating_sub(r.pos);
        if sig_len != remaining {
            return if sig_len > remaining {
                Err(SgxQuoteError::Length { at: len_at })
            } else {
                Err(SgxQuoteError::TrailingBytes { extra: remaining - sig_len })
            };
        }
        let isv_signature = r.array()?;
        let attestation_public_key = r.array()?;
        let qe_report_bytes = r.take(REPORT_LEN)?;
        let qe_report = EnclaveFields::from_body(qe_report_bytes)?;
        let qe_report_signature = r.array()?;
        let auth_len = usize::from(r.u16()?);
        let qe_auth_data = r.take(auth_len)?;
        let cert_type = r.u16()?;
        if cert_type != CERT_TYPE_PCK_CHAIN {
            return Err(SgxQuoteError::CertType(cert_type));
        }
        let chain_at = r.pos;
        let chain_len = usize::try_from(r.u32()?).map_err(|_| SgxQuoteError::Length { at: chain_at })?;
        if chain_len != bytes.len().saturating_sub(r.pos) {
            return Err(SgxQuoteError::Length { at: chain_at });
        }
        let pck_chain_pem = r.take(chain_len)?;
        Ok(SgxQuote {
            qe_svn,
            pce_svn,
            qe_vendor_id,
            user_data,
            report,
            signed_bytes,
            isv_signature,
            attestation_public_key,
            qe_report,
            qe_report_bytes,
            qe_report_signature,
            qe_auth_data,
            pck_chain_pem,
        })
    }
}

fn verifying_key(xy: &[u8; 64]) -> Result<VerifyingKey, SgxQuoteError> {
    let mut sec1 = [4u8; 65];
    sec1[1..].copy_from_slice(xy);
    VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| SgxQuoteError::Signature("attestation public key (not a P-256 point)"))
}

fn check(key: &VerifyingKey, message: &[u8], signature: &[u8; 64], what: &'static str) -> Result<(), SgxQuoteError> {
    let sig = Signature::from_slice(signature).map_err(|_| SgxQuoteError::Signature(what))?;
    key.verify(message, &sig).map_err(|_| SgxQuoteError::Signature(what))
}

/// Verifies an EMULATED provider quote (see the module docs for every check)
/// and returns the provider enclave's report fields.
pub fn verify_emulated(quote: &[u8]) -> Result<EnclaveFields, SgxQuoteError> {
    let q = SgxQuote::parse(quote)?;
    if q.user_data != emulated::QUOTE_USER_DATA {
        return Err(SgxQuoteError::NotEmulated("quote header user_data"));
    }
    if q.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(SgxQuoteError::NotEmulated("QE vendor id"));
    }
    if q.pck_chain_pem != emulated::PCK_CHAIN_PEM.as_bytes() {
        return Err(SgxQuoteError::NotEmulated("PCK certificate chain"));
    }
    if q.qe_report.mr_signer != emulated::qe_mr_signer() || q.qe_report.isv_prod_id != QE3_ISV_PROD_ID {
        return Err(SgxQuoteError::NotEmulated("quoting enclave identity"));
    }
    let pck = emulated::derive_signing_key(emulated::KeyRole::Pck)
        .map_err(|_| SgxQuoteError::NotEmulated("PCK key derivation"))?;
    check(pck.verifying_key(), q.qe_report_bytes, &q.qe_report_signature, "QE report signature (emulated PCK key)")?;
    let mut binding = Sha256::new();
    binding.update(q.attestation_public_key);
    binding.update(q.qe_auth_data);
    let digest: [u8; 32] = binding.finalize().into();
    if q.qe_report.report_data[..32] != digest || q.qe_report.report_data[32..].iter().any(|&b| b != 0) {
        return Err(SgxQuoteError::Signature("QE report binding of the attestation key"));
    }
    let ak = verifying_key(&q.attestation_public_key)?;
    check(&ak, q.signed_bytes, &q.isv_signature, "enclave report signature (attestation key)")?;
    Ok(q.report)
}

/// [`ProviderQuoteVerifier`] for the emulated platform: the provider's quote
/// must come from the EMULATED test PKI. Never used on TDX.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmulatedProviderQuoteVerifier;

impl ProviderQuoteVerifier for EmulatedProviderQuoteVerifier {
    fn verify_sgx_quote(&self, quote: &[u8]) -> Result<VerifiedSgxReport, String> {
        let r = verify_emulated(quote).map_err(|e| alloc::format!("emulated SGX quote: {e}"))?;
        Ok(VerifiedSgxReport {
            mr_enclave: r.mr_enclave,
            mr_signer: r.mr_signer,
            isv_prod_id: r.isv_prod_id,
            isv_svn: r.isv_svn,
            report_data: r.report_data,
        })
    }
}

/// An EMULATED SGX quote v3 for an enclave with `mr_enclave` and
/// `report_data`, signed by the emulated attestation key, certified by an
/// emulated QE3 report signed by the emulated PCK key. For host-side test
/// providers and fuzzing only (the image never calls it).
pub fn emulated_sgx_quote(
    mr_enclave: [u8; 32],
    mr_signer: [u8; 32],
    report_data: [u8; 64],
) -> Result<alloc::vec::Vec<u8>, emulated::EmulatedError> {
    use tdsigner_measure::quote::EnclaveReport;
    let ak = emulated::derive_signing_key(emulated::KeyRole::AttestationKey)?;
    let pck = emulated::derive_signing_key(emulated::KeyRole::Pck)?;
    let ak_xy = emulated::public_key_xy(&ak);
    let mut binding = Sha256::new();
    binding.update(ak_xy);
    binding.update(emulated::QE_AUTH_DATA);
    let mut qe_rd = [0u8; 64];
    qe_rd[..32].copy_from_slice(&binding.finalize());
    let qe_report = EnclaveReport {
        cpu_svn: emulated::CPU_SVN,
        misc_select: 0,
        reserved1: [0; 28],
        attributes: emulated::QE_ATTRIBUTES,
        mr_enclave: emulated::qe_mr_enclave(),
        reserved2: [0; 32],
        mr_signer: emulated::qe_mr_signer(),
        reserved3: [0; 96],
        isv_prod_id: QE3_ISV_PROD_ID,
        isv_svn: emulated::QE_ISV_SVN,
        reserved4: [0; 60],
        report_data: qe_rd,
    }
    .to_bytes();
    let report = EnclaveReport {
        cpu_svn: emulated::CPU_SVN,
        misc_select: 0,
        reserved1: [0; 28],
        // INIT | MODE64BIT, not DEBUG.
        attributes: emulated::QE_ATTRIBUTES,
        mr_enclave,
        reserved2: [0; 32],
        mr_signer,
        reserved3: [0; 96],
        isv_prod_id: 0,
        isv_svn: 0,
        reserved4: [0; 60],
        report_data,
    }
    .to_bytes();
    let mut out = alloc::vec::Vec::with_capacity(4096);
    out.extend_from_slice(&SGX_QUOTE_VERSION.to_le_bytes());
    out.extend_from_slice(&ATTESTATION_KEY_TYPE_ECDSA_P256.to_le_bytes());
    out.extend_from_slice(&TEE_TYPE_SGX.to_le_bytes());
    out.extend_from_slice(&emulated::QE_ISV_SVN.to_le_bytes());
    out.extend_from_slice(&emulated::PCE_SVN.to_le_bytes());
    out.extend_from_slice(&INTEL_QE_VENDOR_ID);
    out.extend_from_slice(&emulated::QUOTE_USER_DATA);
    out.extend_from_slice(&report);
    let isv_signature = emulated::sign_raw(&ak, &out);
    let chain = emulated::PCK_CHAIN_PEM.as_bytes();
    let sig_len = 64 + 64 + REPORT_LEN + 64 + 2 + emulated::QE_AUTH_DATA.len() + 2 + 4 + chain.len();
    out.extend_from_slice(&(sig_len as u32).to_le_bytes());
    out.extend_from_slice(&isv_signature);
    out.extend_from_slice(&ak_xy);
    out.extend_from_slice(&qe_report);
    out.extend_from_slice(&emulated::sign_raw(&pck, &qe_report));
    out.extend_from_slice(&(emulated::QE_AUTH_DATA.len() as u16).to_le_bytes());
    out.extend_from_slice(&emulated::QE_AUTH_DATA);
    out.extend_from_slice(&CERT_TYPE_PCK_CHAIN.to_le_bytes());
    out.extend_from_slice(&(chain.len() as u32).to_le_bytes());
    out.extend_from_slice(chain);
    Ok(out)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn emulated_quote_verifies_and_every_tamper_is_refused() {
        let mut rd = [0u8; 64];
        rd[..32].fill(0x42);
        let q = emulated_sgx_quote([0xE1; 32], [0x5A; 32], rd).unwrap();
        let r = verify_emulated(&q).unwrap();
        assert_eq!((r.mr_enclave, r.mr_signer, r.report_data), ([0xE1; 32], [0x5A; 32], rd));
        let v = EmulatedProviderQuoteVerifier.verify_sgx_quote(&q).unwrap();
        assert_eq!(v.mr_enclave, [0xE1; 32]);
        // Every single-byte change before the PEM chain breaks a check
        // (header, report, signatures, keys, QE report, auth data, lengths).
        let chain_start = q.len() - emulated::PCK_CHAIN_PEM.len();
        for i in 0..chain_start {
            let mut t = q.clone();
            t[i] ^= 0x01;
            assert!(verify_emulated(&t).is_err(), "flip at {i} accepted");
        }
        // The chain too (a few positions: it is compared byte for byte).
        for i in [chain_start, chain_start + 100, q.len() - 1] {
            let mut t = q.clone();
            t[i] ^= 0x01;
            assert_eq!(verify_emulated(&t), Err(SgxQuoteError::NotEmulated("PCK certificate chain")));
        }
        for cut in 0..q.len() {
            assert!(SgxQuote::parse(&q[..cut]).is_err(), "cut {cut}");
        }
        let mut longer = q.clone();
        longer.push(0);
        assert!(SgxQuote::parse(&longer).is_err());
    }
}
