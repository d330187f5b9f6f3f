//! The Intel TDX DCAP quote, version 4 (and the TDX 1.5 version 5 body variant for parsing),
//! ECDSA-P256 attestation key: encoding and a bounded parser.
//!
//! Version 5 inserts a body descriptor (type u16: 2 = TD 1.0 body, 3 = TD 1.5 body; size u32)
//! between header and body; the TD 1.5 body appends tee_tcb_svn2 [16] and mr_servicetd [48].
//!
//! Layout (all integers little-endian):
//! ```text
//! header (48)       version u16 = 4, attestation_key_type u16 = 2 (ECDSA-256 P-256),
//!                   tee_type u32 = 0x81 (TDX), qe_svn u16, pce_svn u16, qe_vendor_id [16],
//!                   user_data [20]
//! body (584)        TdReportBody (TD 1.0 report body)
//! sig_data_len u32
//! sig_data          ecdsa_signature [64] (r ‖ s over header ‖ body, by the attestation key)
//!                   attestation_public_key [64] (x ‖ y)
//!                   certification data: type u16 = 6, size u32, then
//!                     qe_report [384] (SGX report body of the quoting enclave)
//!                     qe_report_signature [64] (by the PCK key, over qe_report)
//!                     qe_auth_data: size u16, data
//!                     certification data: type u16 = 5, size u32, PEM PCK chain (leaf first)
//! ```
//! The quoting enclave binds the attestation key: `qe_report.report_data[0..32] =
//! SHA-256(attestation_public_key ‖ qe_auth_data)`, rest zero.

use alloc::vec::Vec;
use core::fmt;

/// Quote version this module writes (and parses).
pub const QUOTE_VERSION_4: u16 = 4;
/// TDX 1.5 quote version (parsed only).
pub const QUOTE_VERSION_5: u16 = 5;
/// TD 1.5 report body length (v5 body type 3).
pub const TD15_REPORT_BODY_LEN: usize = 648;
/// ECDSA-256 with P-256.
pub const ATTESTATION_KEY_TYPE_ECDSA_P256: u16 = 2;
/// TEE type of TDX.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Intel's QE vendor id (what DCAP verifiers require).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// Certification data type: QE report certification data.
pub const CERT_TYPE_QE_REPORT: u16 = 6;
/// Certification data type: PCK certificate chain (PEM).
pub const CERT_TYPE_PCK_CHAIN: u16 = 5;

/// Header length.
pub const HEADER_LEN: usize = 48;
/// TD 1.0 report body length.
pub const TD_REPORT_BODY_LEN: usize = 584;
/// SGX (QE) report body length.
pub const ENCLAVE_REPORT_LEN: usize = 384;
/// Largest quote [`Quote::parse`] accepts (real quotes are ~5 KiB).
pub const MAX_QUOTE_LEN: usize = 64 * 1024;

/// Why a quote was rejected by [`Quote::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteError {
    /// Input shorter than the structure needs; `at` is the offset where bytes ran out.
    Truncated { at: usize },
    /// Input longer than [`MAX_QUOTE_LEN`].
    TooLong(usize),
    /// Non-zero bytes after the signature data (zero padding is accepted).
    TrailingBytes(usize),
    /// Header version is not 4 or 5.
    UnsupportedVersion(u16),
    /// A v5 body descriptor with an unknown type or a size that does not match it.
    BadBodyDescriptor { body_type: u16, size: u32 },
    /// Attestation key type is not ECDSA-P256.
    UnsupportedKeyType(u16),
    /// TEE type is not TDX.
    NotTdx(u32),
    /// TEE type is not SGX (in [`SgxQuote::parse`]).
    NotSgx(u32),
    /// A certification-data block has an unexpected type.
    UnexpectedCertType { expected: u16, found: u16 },
    /// A length field points past its enclosing block.
    LengthMismatch { at: usize },
}

impl fmt::Display for QuoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuoteError::Truncated { at } => write!(f, "quote truncated at offset {at}"),
            QuoteError::TooLong(n) => write!(f, "quote of {n} bytes exceeds {MAX_QUOTE_LEN}"),
            QuoteError::TrailingBytes(n) => write!(f, "{n} trailing bytes after the quote"),
            QuoteError::UnsupportedVersion(v) => write!(f, "quote version {v} (only 4 and 5 are supported)"),
            QuoteError::BadBodyDescriptor { body_type, size } => {
                write!(f, "quote body type {body_type} with size {size}")
            }
            QuoteError::UnsupportedKeyType(t) => write!(f, "attestation key type {t} (only ECDSA-P256 = 2)"),
            QuoteError::NotTdx(t) => write!(f, "TEE type {t:#x} is not TDX (0x81)"),
            QuoteError::NotSgx(t) => write!(f, "TEE type {t:#x} is not SGX (0)"),
            QuoteError::UnexpectedCertType { expected, found } => {
                write!(f, "certification data type {found}, expected {expected}")
            }
            QuoteError::LengthMismatch { at } => write!(f, "length field at offset {at} overruns its block"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for QuoteError {}

/// Bounded little-endian reader over a byte slice that tracks the absolute offset for errors.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Self {
        Self { bytes, pos: 0, base }
    }
    fn at(&self) -> usize {
        self.base.saturating_add(self.pos)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], QuoteError> {
        let end = self.pos.checked_add(n).ok_or(QuoteError::Truncated { at: self.at() })?;
        let out = self.bytes.get(self.pos..end).ok_or(QuoteError::Truncated { at: self.at() })?;
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], QuoteError> {
        let at = self.at();
        self.take(N)?.try_into().map_err(|_| QuoteError::Truncated { at })
    }
    fn u16(&mut self) -> Result<u16, QuoteError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, QuoteError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }
}

/// Quote header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct QuoteHeader {
    pub version: u16,
    pub attestation_key_type: u16,
    pub tee_type: u32,
    pub qe_svn: u16,
    pub pce_svn: u16,
    pub qe_vendor_id: [u8; 16],
    pub user_data: [u8; 20],
}

impl QuoteHeader {
    /// Encoded header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut w = Writer::new(&mut out);
        w.put(&self.version.to_le_bytes());
        w.put(&self.attestation_key_type.to_le_bytes());
        w.put(&self.tee_type.to_le_bytes());
        w.put(&self.qe_svn.to_le_bytes());
        w.put(&self.pce_svn.to_le_bytes());
        w.put(&self.qe_vendor_id);
        w.put(&self.user_data);
        out
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, QuoteError> {
        Ok(Self {
            version: r.u16()?,
            attestation_key_type: r.u16()?,
            tee_type: r.u32()?,
            qe_svn: r.u16()?,
            pce_svn: r.u16()?,
            qe_vendor_id: r.array()?,
            user_data: r.array()?,
        })
    }
}

/// Sequential writer into a fixed buffer (sizes are fixed by construction).
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut [u8]) -> Self {
        Self { out, pos: 0 }
    }
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

/// The TD 1.0 report body as it appears in a quote (TDREPORT's TDINFO and TEE_TCB_INFO parts).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TdReportBody {
    pub tee_tcb_svn: [u8; 16],
    pub mr_seam: [u8; 48],
    pub mr_signer_seam: [u8; 48],
    pub seam_attributes: [u8; 8],
    pub td_attributes: [u8; 8],
    pub xfam: [u8; 8],
    pub mr_td: [u8; 48],
    pub mr_config_id: [u8; 48],
    pub mr_owner: [u8; 48],
    pub mr_owner_config: [u8; 48],
    pub rtmr: [[u8; 48]; 4],
    pub report_data: [u8; 64],
}

impl TdReportBody {
    /// Encoded body (584 bytes).
    pub fn to_bytes(&self) -> [u8; TD_REPORT_BODY_LEN] {
        let mut out = [0u8; TD_REPORT_BODY_LEN];
        let mut w = Writer::new(&mut out);
        w.put(&self.tee_tcb_svn);
        w.put(&self.mr_seam);
        w.put(&self.mr_signer_seam);
        w.put(&self.seam_attributes);
        w.put(&self.td_attributes);
        w.put(&self.xfam);
        w.put(&self.mr_td);
        w.put(&self.mr_config_id);
        w.put(&self.mr_owner);
        w.put(&self.mr_owner_config);
        for r in &self.rtmr {
            w.put(r);
        }
        w.put(&self.report_data);
        out
    }

    /// Decodes a 584-byte body.
    pub fn from_bytes(bytes: &[u8; TD_REPORT_BODY_LEN]) -> Self {
        let mut r = Reader::new(bytes, 0);
        // Every read below is within the fixed 584 bytes, so the fallbacks are unreachable.
        Self::read(&mut r).unwrap_or(Self::zeroed())
    }

    /// All fields zero.
    pub const fn zeroed() -> Self {
        Self {
            tee_tcb_svn: [0; 16],
            mr_seam: [0; 48],
            mr_signer_seam: [0; 48],
            seam_attributes: [0; 8],
            td_attributes: [0; 8],
            xfam: [0; 8],
            mr_td: [0; 48],
            mr_config_id: [0; 48],
            mr_owner: [0; 48],
            mr_owner_config: [0; 48],
            rtmr: [[0; 48]; 4],
            report_data: [0; 64],
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, QuoteError> {
        Ok(Self {
            tee_tcb_svn: r.array()?,
            mr_seam: r.array()?,
            mr_signer_seam: r.array()?,
            seam_attributes: r.array()?,
            td_attributes: r.array()?,
            xfam: r.array()?,
            mr_td: r.array()?,
            mr_config_id: r.array()?,
            mr_owner: r.array()?,
            mr_owner_config: r.array()?,
            rtmr: [r.array()?, r.array()?, r.array()?, r.array()?],
            report_data: r.array()?,
        })
    }
}

/// The SGX report body of the quoting enclave (384 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EnclaveReport {
    pub cpu_svn: [u8; 16],
    pub misc_select: u32,
    pub reserved1: [u8; 28],
    pub attributes: [u8; 16],
    pub mr_enclave: [u8; 32],
    pub reserved2: [u8; 32],
    pub mr_signer: [u8; 32],
    pub reserved3: [u8; 96],
    pub isv_prod_id: u16,
    pub isv_svn: u16,
    pub reserved4: [u8; 60],
    pub report_data: [u8; 64],
}

impl EnclaveReport {
    /// Encoded report (384 bytes).
    pub fn to_bytes(&self) -> [u8; ENCLAVE_REPORT_LEN] {
        let mut out = [0u8; ENCLAVE_REPORT_LEN];
        let mut w = Writer::new(&mut out);
        w.put(&self.cpu_svn);
        w.put(&self.misc_select.to_le_bytes());
        w.put(&self.reserved1);
        w.put(&self.attributes);
        w.put(&self.mr_enclave);
        w.put(&self.reserved2);
        w.put(&self.mr_signer);
        w.put(&self.reserved3);
        w.put(&self.isv_prod_id.to_le_bytes());
        w.put(&self.isv_svn.to_le_bytes());
        w.put(&self.reserved4);
        w.put(&self.report_data);
        out
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, QuoteError> {
        Ok(Self {
            cpu_svn: r.array()?,
            misc_select: r.u32()?,
            reserved1: r.array()?,
            attributes: r.array()?,
            mr_enclave: r.array()?,
            reserved2: r.array()?,
            mr_signer: r.array()?,
            reserved3: r.array()?,
            isv_prod_id: r.u16()?,
            isv_svn: r.u16()?,
            reserved4: r.array()?,
            report_data: r.array()?,
        })
    }
}

/// The quoting enclave's certification of the attestation key, the same in TD and SGX
/// quotes: QE report, its PCK signature, QE auth data, and a PEM PCK chain (type 5) that
/// fills the rest of the reader.
struct QeCertification<'a> {
    qe_report: EnclaveReport,
    qe_report_bytes: &'a [u8],
    qe_report_signature: [u8; 64],
    qe_auth_data: &'a [u8],
    pck_chain_pem: &'a [u8],
}

impl<'a> QeCertification<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, QuoteError> {
        let qe_base = r.at();
        let qe_report_bytes = r.take(ENCLAVE_REPORT_LEN)?;
        let qe_report = EnclaveReport::read(&mut Reader::new(qe_report_bytes, qe_base))?;
        let qe_report_signature = r.array()?;
        let auth_len = usize::from(r.u16()?);
        let qe_auth_data = r.take(auth_len)?;
        let cert_type = r.u16()?;
        if cert_type != CERT_TYPE_PCK_CHAIN {
            return Err(QuoteError::UnexpectedCertType { expected: CERT_TYPE_PCK_CHAIN, found: cert_type });
        }
        let chain_len_at = r.at();
        let chain_len = usize::try_from(r.u32()?).map_err(|_| QuoteError::LengthMismatch { at: chain_len_at })?;
        if chain_len != r.remaining() {
            return Err(QuoteError::LengthMismatch { at: chain_len_at });
        }
        let pck_chain_pem = r.take(chain_len)?;
        Ok(Self { qe_report, qe_report_bytes, qe_report_signature, qe_auth_data, pck_chain_pem })
    }
}

/// A parsed TD quote v4. Byte slices borrow from the input.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Quote<'a> {
    pub header: QuoteHeader,
    pub body: TdReportBody,
    /// TD 1.5 extension (v5 body type 3): tee_tcb_svn2 and mr_servicetd.
    pub td15: Option<([u8; 16], [u8; 48])>,
    /// The bytes the attestation key signs: header ‖ (v5 descriptor ‖) body.
    pub signed_bytes: &'a [u8],
    pub signature: [u8; 64],
    pub attestation_public_key: [u8; 64],
    pub qe_report: EnclaveReport,
    /// The 384 bytes the PCK key signs.
    pub qe_report_bytes: &'a [u8],
    pub qe_report_signature: [u8; 64],
    pub qe_auth_data: &'a [u8],
    /// PEM PCK certificate chain, leaf first.
    pub pck_chain_pem: &'a [u8],
}

impl<'a> Quote<'a> {
    /// Parses a TDX quote v4 with ECDSA-P256 attestation key and QE-report certification data
    /// carrying a PEM PCK chain. Checks structure only; signatures are the verifier's job.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, QuoteError> {
        if bytes.len() > MAX_QUOTE_LEN {
            return Err(QuoteError::TooLong(bytes.len()));
        }
        let mut r = Reader::new(bytes, 0);
        let header = QuoteHeader::read(&mut r)?;
        if header.version != QUOTE_VERSION_4 && header.version != QUOTE_VERSION_5 {
            return Err(QuoteError::UnsupportedVersion(header.version));
        }
        if header.attestation_key_type != ATTESTATION_KEY_TYPE_ECDSA_P256 {
            return Err(QuoteError::UnsupportedKeyType(header.attestation_key_type));
        }
        if header.tee_type != TEE_TYPE_TDX {
            return Err(QuoteError::NotTdx(header.tee_type));
        }
        let mut td15_body = false;
        if header.version == QUOTE_VERSION_5 {
            let body_type = r.u16()?;
            let size = r.u32()?;
            td15_body = match (body_type, usize::try_from(size)) {
                (2, Ok(TD_REPORT_BODY_LEN)) => false,
                (3, Ok(TD15_REPORT_BODY_LEN)) => true,
                _ => return Err(QuoteError::BadBodyDescriptor { body_type, size }),
            };
        }
        let body = TdReportBody::read(&mut r)?;
        let td15 = if td15_body { Some((r.array()?, r.array()?)) } else { None };
        let signed_bytes = bytes.get(..r.at()).ok_or(QuoteError::Truncated { at: HEADER_LEN })?;
        let sig_len_at = r.at();
        let sig_len = usize::try_from(r.u32()?).map_err(|_| QuoteError::LengthMismatch { at: sig_len_at })?;
        if sig_len > r.remaining() {
            return Err(QuoteError::LengthMismatch { at: sig_len_at });
        }
        let sig_base = r.at();
        let mut s = Reader::new(r.take(sig_len)?, sig_base);
        // Quote-generation services hand out fixed-size buffers: real quotes carry zero padding
        // after the signature data. Accept zeros there, nothing else.
        let padding = r.take(r.remaining())?;
        if padding.iter().any(|&b| b != 0) {
            return Err(QuoteError::TrailingBytes(padding.len()));
        }
        let signature = s.array()?;
        let attestation_public_key = s.array()?;
        let cert_type = s.u16()?;
        if cert_type != CERT_TYPE_QE_REPORT {
            return Err(QuoteError::UnexpectedCertType { expected: CERT_TYPE_QE_REPORT, found: cert_type });
        }
        let cert_len_at = s.at();
        let cert_len = usize::try_from(s.u32()?).map_err(|_| QuoteError::LengthMismatch { at: cert_len_at })?;
        if cert_len != s.remaining() {
            return Err(QuoteError::LengthMismatch { at: cert_len_at });
        }
        let qe_base = s.at();
        let QeCertification { qe_report, qe_report_bytes, qe_report_signature, qe_auth_data, pck_chain_pem } =
            QeCertification::read(&mut Reader::new(s.take(cert_len)?, qe_base))?;
        Ok(Self {
            header,
            body,
            td15,
            signed_bytes,
            signature,
            attestation_public_key,
            qe_report,
            qe_report_bytes,
            qe_report_signature,
            qe_auth_data,
            pck_chain_pem,
        })
    }
}

/// SGX quote version.
pub const SGX_QUOTE_VERSION: u16 = 3;
/// TEE type of SGX.
pub const TEE_TYPE_SGX: u32 = 0;

/// A parsed SGX DCAP quote v3 with ECDSA-P256 attestation key and a PEM PCK
/// chain. Byte slices borrow from the input.
///
/// ```text
/// header (48)        version u16 = 3, attestation_key_type u16 = 2, tee_type u32 = 0 (SGX),
///                    qe_svn u16, pce_svn u16, qe_vendor_id [16], user_data [20]
/// enclave report (384)
/// sig_data_len u32
/// sig_data           isv_signature [64] (attestation key, over header ‖ enclave report)
///                    attestation_public_key [64]
///                    qe_report [384], qe_report_signature [64] (PCK key, over qe_report)
///                    qe_auth_data: size u16, data
///                    certification data: type u16 = 5, size u32, PEM PCK chain (leaf first)
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SgxQuote<'a> {
    pub header: QuoteHeader,
    /// The quoted enclave's report body.
    pub report: EnclaveReport,
    /// header ‖ enclave report: what the attestation key signs.
    pub signed_bytes: &'a [u8],
    pub isv_signature: [u8; 64],
    pub attestation_public_key: [u8; 64],
    pub qe_report: EnclaveReport,
    /// The 384 bytes the PCK key signs.
    pub qe_report_bytes: &'a [u8],
    pub qe_report_signature: [u8; 64],
    pub qe_auth_data: &'a [u8],
    /// PEM PCK certificate chain, leaf first.
    pub pck_chain_pem: &'a [u8],
}

impl<'a> SgxQuote<'a> {
    /// Parses an SGX quote v3 (structure only; signatures are the verifier's job).
    /// Zero padding after the signature data is accepted, as for TD quotes.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, QuoteError> {
        if bytes.len() > MAX_QUOTE_LEN {
            return Err(QuoteError::TooLong(bytes.len()));
        }
        let mut r = Reader::new(bytes, 0);
        let header = QuoteHeader::read(&mut r)?;
        if header.version != SGX_QUOTE_VERSION {
            return Err(QuoteError::UnsupportedVersion(header.version));
        }
        if header.attestation_key_type != ATTESTATION_KEY_TYPE_ECDSA_P256 {
            return Err(QuoteError::UnsupportedKeyType(header.attestation_key_type));
        }
        if header.tee_type != TEE_TYPE_SGX {
            return Err(QuoteError::NotSgx(header.tee_type));
        }
        let report = EnclaveReport::read(&mut r)?;
        let signed_bytes = bytes.get(..r.at()).ok_or(QuoteError::Truncated { at: HEADER_LEN })?;
        let sig_len_at = r.at();
        let sig_len = usize::try_from(r.u32()?).map_err(|_| QuoteError::LengthMismatch { at: sig_len_at })?;
        if sig_len > r.remaining() {
            return Err(QuoteError::LengthMismatch { at: sig_len_at });
        }
        let sig_base = r.at();
        let mut s = Reader::new(r.take(sig_len)?, sig_base);
        let padding = r.take(r.remaining())?;
        if padding.iter().any(|&b| b != 0) {
            return Err(QuoteError::TrailingBytes(padding.len()));
        }
        let isv_signature = s.array()?;
        let attestation_public_key = s.array()?;
        let QeCertification { qe_report, qe_report_bytes, qe_report_signature, qe_auth_data, pck_chain_pem } =
            QeCertification::read(&mut s)?;
        Ok(Self {
            header,
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

/// Assembles a quote from its parts (the signature must already cover `header ‖ body`).
#[allow(clippy::too_many_arguments)]
pub fn encode_quote(
    header: &QuoteHeader,
    body: &TdReportBody,
    signature: &[u8; 64],
    attestation_public_key: &[u8; 64],
    qe_report: &[u8; ENCLAVE_REPORT_LEN],
    qe_report_signature: &[u8; 64],
    qe_auth_data: &[u8],
    pck_chain_pem: &[u8],
) -> Result<Vec<u8>, QuoteError> {
    let auth_len = u16::try_from(qe_auth_data.len()).map_err(|_| QuoteError::LengthMismatch { at: 0 })?;
    let chain_len = u32::try_from(pck_chain_pem.len()).map_err(|_| QuoteError::LengthMismatch { at: 0 })?;
    let qe_block_len = ENCLAVE_REPORT_LEN + 64 + 2 + qe_auth_data.len() + 2 + 4 + pck_chain_pem.len();
    let qe_block_len_u32 = u32::try_from(qe_block_len).map_err(|_| QuoteError::LengthMismatch { at: 0 })?;
    let sig_len = 64 + 64 + 2 + 4 + qe_block_len;
    let sig_len_u32 = u32::try_from(sig_len).map_err(|_| QuoteError::LengthMismatch { at: 0 })?;
    let total = HEADER_LEN + TD_REPORT_BODY_LEN + 4 + sig_len;
    if total > MAX_QUOTE_LEN {
        return Err(QuoteError::TooLong(total));
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&body.to_bytes());
    out.extend_from_slice(&sig_len_u32.to_le_bytes());
    out.extend_from_slice(signature);
    out.extend_from_slice(attestation_public_key);
    out.extend_from_slice(&CERT_TYPE_QE_REPORT.to_le_bytes());
    out.extend_from_slice(&qe_block_len_u32.to_le_bytes());
    out.extend_from_slice(qe_report);
    out.extend_from_slice(qe_report_signature);
    out.extend_from_slice(&auth_len.to_le_bytes());
    out.extend_from_slice(qe_auth_data);
    out.extend_from_slice(&CERT_TYPE_PCK_CHAIN.to_le_bytes());
    out.extend_from_slice(&chain_len.to_le_bytes());
    out.extend_from_slice(pck_chain_pem);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip() {
        let mut body = TdReportBody::zeroed();
        body.mr_td = [7; 48];
        body.rtmr[3] = [9; 48];
        body.report_data[63] = 1;
        let bytes = body.to_bytes();
        assert_eq!(bytes[136..184], [7u8; 48]);
        assert_eq!(bytes[472..520], [9u8; 48]);
        assert_eq!(TdReportBody::from_bytes(&bytes), body);
    }

    #[test]
    fn encode_parse_round_trip_and_truncation() {
        let header = QuoteHeader {
            version: 4,
            attestation_key_type: 2,
            tee_type: TEE_TYPE_TDX,
            qe_svn: 1,
            pce_svn: 2,
            qe_vendor_id: INTEL_QE_VENDOR_ID,
            user_data: [3; 20],
        };
        let body = TdReportBody::zeroed();
        let q = encode_quote(&header, &body, &[1; 64], &[2; 64], &[4; 384], &[5; 64], &[6; 32], b"PEM")
            .unwrap_or_default();
        let parsed = Quote::parse(&q).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.header, header);
        assert_eq!(parsed.qe_auth_data, &[6; 32]);
        assert_eq!(parsed.pck_chain_pem, b"PEM");
        assert_eq!(parsed.signed_bytes.len(), 632);
        for cut in 0..q.len() {
            assert!(Quote::parse(&q[..cut]).is_err(), "cut {cut}");
        }
        let mut padded = q.clone();
        padded.extend_from_slice(&[0; 70]);
        assert!(Quote::parse(&padded).is_ok());
        padded.push(1);
        assert_eq!(Quote::parse(&padded).map(|_| ()), Err(QuoteError::TrailingBytes(71)));
    }
}
