//! The EMULATED test PKI and collateral (host side): a root CA, PCK CA, PCK certificate and TCB
//! signing certificate, their CRLs, and signed TCB info / QE identity for the emulated TDX
//! platform, all derived deterministically from [`crate::emulated::SEED`].
//!
//! Every subject says "EMULATED ... not Intel". The output verifies with dcap-qvl when the
//! verifier's root is [`EmulatedPki::root_der`] and fails against Intel's root.
//!
//! Fixed dates make the output byte-for-byte reproducible: certificates, CRLs and collateral are
//! valid from 2025-01-01T00:00:00Z to 2049-12-31T23:59:59Z (UTCTime's last year).
//!
//! Files written by [`EmulatedPki::write_to`] (`tdsigner measure emulated-pki --out DIR`):
//! `root_ca.der`, `root_ca.pem`, `pck_chain.pem` (leaf, PCK CA, root: what emulated quotes
//! carry; committed as `measure/emulated/pck_chain.pem`), `collateral.json` (dcap-qvl's
//! QuoteCollateralV3 JSON), `sgx_collateral.json` (the same for EMULATED SGX quotes of the
//! `local-sgx` test provider: TCB info id "SGX", QE identity id "QE").

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use der::asn1::{BitString, OctetString, UtcTime};
use der::oid::ObjectIdentifier;
use der::{Any, Encode};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::crl::{CertificateList, TbsCertList};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::emulated::{self, derive_signing_key, sign_raw, KeyRole};
use crate::hex;

/// Not-before of everything emulated (2025-01-01T00:00:00Z).
pub const NOT_BEFORE_UNIX: u64 = 1_735_689_600;
/// Not-after of everything emulated (2049-12-31T23:59:59Z).
pub const NOT_AFTER_UNIX: u64 = 2_524_607_999;
const ISSUE_DATE: &str = "2025-01-01T00:00:00Z";
const NEXT_UPDATE: &str = "2049-12-31T00:00:00Z";

pub const ROOT_SUBJECT: &str = "CN=tdsigner EMULATED TDX test root \u{2014} not Intel,O=tdsigner EMULATED";
pub const PCK_CA_SUBJECT: &str = "CN=tdsigner EMULATED PCK Platform CA \u{2014} not Intel,O=tdsigner EMULATED";
pub const PCK_SUBJECT: &str = "CN=tdsigner EMULATED PCK Certificate \u{2014} not Intel,O=tdsigner EMULATED";
pub const TCB_SIGNING_SUBJECT: &str = "CN=tdsigner EMULATED TCB Signing \u{2014} not Intel,O=tdsigner EMULATED";

const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
const OID_SGX_EXTENSION: &str = "1.2.840.113741.1.13.1";

/// Why the PKI could not be built or written.
#[derive(Debug)]
pub enum PkiError {
    Der(der::Error),
    Emulated(emulated::EmulatedError),
    Io(std::io::Error),
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiError::Der(e) => write!(f, "DER: {e}"),
            PkiError::Emulated(e) => write!(f, "{e}"),
            PkiError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PkiError {}

impl From<der::Error> for PkiError {
    fn from(e: der::Error) -> Self {
        PkiError::Der(e)
    }
}

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: OID_ECDSA_SHA256, parameters: None }
}

fn spki_of(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
    let point = key.verifying_key().to_encoded_point(false);
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned { oid: OID_EC_PUBLIC_KEY, parameters: Some(Any::from(&OID_P256)) },
        subject_public_key: BitString::from_bytes(point.as_bytes())?,
    })
}

/// Key identifier: the first 20 bytes of SHA-256 of the public key (RFC 7093 method 1).
fn key_id(key: &SigningKey) -> Vec<u8> {
    let point = key.verifying_key().to_encoded_point(false);
    Sha256::digest(point.as_bytes()).iter().take(20).copied().collect()
}

fn utc(unix: u64) -> Result<Time, PkiError> {
    Ok(Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(unix))?))
}

fn extension(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Result<Extension, PkiError> {
    Ok(Extension { extn_id: oid, critical, extn_value: OctetString::new(value)? })
}

/// Minimal DER TLV writer for the Intel SGX extension (definite lengths).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn oid_tlv(dotted: &str) -> Result<Vec<u8>, PkiError> {
    Ok(ObjectIdentifier::new(dotted).map_err(der::Error::from)?.to_der()?)
}

fn der_uint(v: u16) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut content: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    if content.first().is_none_or(|b| b & 0x80 != 0) {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

fn pair(oid: &str, value: Vec<u8>) -> Result<Vec<u8>, PkiError> {
    let mut content = oid_tlv(oid)?;
    content.extend(value);
    Ok(tlv(0x30, &content))
}

/// The Intel SGX PCK extension (1.2.840.113741.1.13.1) with the emulated platform's values:
/// PPID, TCB (16 CPU SVN components, PCE SVN, CPU SVN), PCE-ID, FMSPC, SGX type 0 (standard).
fn sgx_extension_value() -> Result<Vec<u8>, PkiError> {
    let base = OID_SGX_EXTENSION;
    let mut tcb = Vec::new();
    for (i, svn) in emulated::CPU_SVN.iter().enumerate() {
        tcb.extend(pair(&format!("{base}.2.{}", i + 1), der_uint(u16::from(*svn)))?);
    }
    tcb.extend(pair(&format!("{base}.2.17"), der_uint(emulated::PCE_SVN))?);
    tcb.extend(pair(&format!("{base}.2.18"), tlv(0x04, &emulated::CPU_SVN))?);
    let mut all = Vec::new();
    all.extend(pair(&format!("{base}.1"), tlv(0x04, &emulated::ppid()))?);
    all.extend(pair(&format!("{base}.2"), tlv(0x30, &tcb))?);
    all.extend(pair(&format!("{base}.3"), tlv(0x04, &emulated::PCE_ID))?);
    all.extend(pair(&format!("{base}.4"), tlv(0x04, &emulated::FMSPC))?);
    all.extend(pair(&format!("{base}.5"), tlv(0x0a, &[0]))?);
    Ok(tlv(0x30, &all))
}

struct Party {
    key: SigningKey,
    name: Name,
}

impl Party {
    fn new(role: KeyRole, subject: &str) -> Result<Self, PkiError> {
        Ok(Self {
            key: derive_signing_key(role).map_err(PkiError::Emulated)?,
            name: Name::from_str(subject)?,
        })
    }
}

fn certificate(
    subject: &Party,
    issuer: &Party,
    serial: u8,
    ca: Option<Option<u8>>,
    extra: Vec<Extension>,
) -> Result<Certificate, PkiError> {
    let mut extensions = Vec::new();
    let (basic, usage) = match ca {
        Some(path_len) => (
            BasicConstraints { ca: true, path_len_constraint: path_len },
            KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        ),
        None => (
            BasicConstraints { ca: false, path_len_constraint: None },
            KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
        ),
    };
    extensions.push(extension(OID_BASIC_CONSTRAINTS, true, basic.to_der()?)?);
    extensions.push(extension(OID_KEY_USAGE, true, usage.to_der()?)?);
    extensions.push(extension(OID_SKI, false, SubjectKeyIdentifier(OctetString::new(key_id(&subject.key))?).to_der()?)?);
    if !std::ptr::eq(subject, issuer) {
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(key_id(&issuer.key))?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        extensions.push(extension(OID_AKI, false, aki.to_der()?)?);
    }
    extensions.extend(extra);
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[serial])?,
        signature: ecdsa_sha256(),
        issuer: issuer.name.clone(),
        validity: Validity { not_before: utc(NOT_BEFORE_UNIX)?, not_after: utc(NOT_AFTER_UNIX)? },
        subject: subject.name.clone(),
        subject_public_key_info: spki_of(&subject.key)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature: DerSignature = issuer.key.sign(&tbs.to_der()?);
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(signature.as_bytes())?,
    })
}

fn crl(issuer: &Party) -> Result<CertificateList, PkiError> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_id(&issuer.key))?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let crl_number = der::asn1::Uint::new(&[1])?;
    let tbs = TbsCertList {
        version: Version::V2,
        signature: ecdsa_sha256(),
        issuer: issuer.name.clone(),
        this_update: utc(NOT_BEFORE_UNIX)?,
        next_update: Some(utc(NOT_AFTER_UNIX)?),
        revoked_certificates: None,
        crl_extensions: Some(vec![
            extension(OID_CRL_NUMBER, false, crl_number.to_der()?)?,
            extension(OID_AKI, false, aki.to_der()?)?,
        ]),
    };
    let signature: DerSignature = issuer.key.sign(&tbs.to_der()?);
    Ok(CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(signature.as_bytes())?,
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64ct::{Base64, Encoding};
    let b64 = Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn svn_components(svns: &[u8]) -> String {
    let parts: Vec<String> = svns.iter().map(|s| format!("{{\"svn\":{s}}}")).collect();
    format!("[{}]", parts.join(","))
}

/// The emulated TDX TCB info JSON (the signed string).
pub fn tcb_info_json() -> String {
    let up_to_date = emulated::TEE_TCB_SVN;
    let mut older = emulated::TEE_TCB_SVN;
    older[0] = 2;
    let level = |tdx: &[u8], status: &str, date: &str| {
        format!(
            "{{\"tcb\":{{\"sgxtcbcomponents\":{},\"pcesvn\":{},\"tdxtcbcomponents\":{}}},\"tcbDate\":\"{date}\",\"tcbStatus\":\"{status}\"}}",
            svn_components(&emulated::CPU_SVN),
            emulated::PCE_SVN,
            svn_components(tdx),
        )
    };
    let signer = hex::encode(&emulated::tdx_module_mr_signer()).to_uppercase();
    format!(
        concat!(
            "{{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"{issue}\",\"nextUpdate\":\"{next}\",",
            "\"fmspc\":\"{fmspc}\",\"pceId\":\"{pce}\",\"tcbType\":0,\"tcbEvaluationDataNumber\":1,",
            "\"tdxModule\":{{\"mrsigner\":\"{signer}\",\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\"}},",
            "\"tdxModuleIdentities\":[{{\"id\":\"TDX_01\",\"mrsigner\":\"{signer}\",\"attributes\":\"0000000000000000\",",
            "\"attributesMask\":\"FFFFFFFFFFFFFFFF\",\"tcbLevels\":[",
            "{{\"tcb\":{{\"isvsvn\":{svn}}},\"tcbDate\":\"{issue}\",\"tcbStatus\":\"UpToDate\"}},",
            "{{\"tcb\":{{\"isvsvn\":2}},\"tcbDate\":\"{issue}\",\"tcbStatus\":\"OutOfDate\"}}]}}],",
            "\"tcbLevels\":[{up},{old}]}}"
        ),
        issue = ISSUE_DATE,
        next = NEXT_UPDATE,
        fmspc = hex::encode(&emulated::FMSPC).to_uppercase(),
        pce = hex::encode(&emulated::PCE_ID).to_uppercase(),
        signer = signer,
        svn = emulated::TEE_TCB_SVN[0],
        up = level(&up_to_date, "UpToDate", ISSUE_DATE),
        old = level(&older, "OutOfDate", ISSUE_DATE),
    )
}

/// The emulated TD_QE identity JSON (the signed string).
pub fn qe_identity_json() -> String {
    format!(
        concat!(
            "{{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"{issue}\",\"nextUpdate\":\"{next}\",",
            "\"tcbEvaluationDataNumber\":1,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\",",
            "\"attributes\":\"{attrs}\",\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",",
            "\"mrsigner\":\"{signer}\",\"isvprodid\":{prod},",
            "\"tcbLevels\":[{{\"tcb\":{{\"isvsvn\":{svn}}},\"tcbDate\":\"{issue}\",\"tcbStatus\":\"UpToDate\"}}]}}"
        ),
        issue = ISSUE_DATE,
        next = NEXT_UPDATE,
        attrs = hex::encode(&emulated::QE_ATTRIBUTES).to_uppercase(),
        signer = hex::encode(&emulated::qe_mr_signer()).to_uppercase(),
        prod = emulated::QE_ISV_PROD_ID,
        svn = emulated::QE_ISV_SVN,
    )
}

/// The emulated SGX TCB info JSON (`id` "SGX", version 3; the signed string) for the
/// emulated PCK certificate's platform: its CPUSVN/PCESVN are `UpToDate`, one level
/// below is `OutOfDate`.
pub fn sgx_tcb_info_json() -> String {
    let mut older = emulated::CPU_SVN;
    older[0] = 1;
    let level = |svns: &[u8], pce: u16, status: &str| {
        format!(
            "{{\"tcb\":{{\"sgxtcbcomponents\":{},\"pcesvn\":{pce}}},\"tcbDate\":\"{ISSUE_DATE}\",\"tcbStatus\":\"{status}\"}}",
            svn_components(svns)
        )
    };
    format!(
        concat!(
            "{{\"id\":\"SGX\",\"version\":3,\"issueDate\":\"{issue}\",\"nextUpdate\":\"{next}\",",
            "\"fmspc\":\"{fmspc}\",\"pceId\":\"{pce}\",\"tcbType\":0,\"tcbEvaluationDataNumber\":1,",
            "\"tcbLevels\":[{up},{old}]}}"
        ),
        issue = ISSUE_DATE,
        next = NEXT_UPDATE,
        fmspc = hex::encode(&emulated::FMSPC).to_uppercase(),
        pce = hex::encode(&emulated::PCE_ID).to_uppercase(),
        up = level(&emulated::CPU_SVN, emulated::PCE_SVN, "UpToDate"),
        old = level(&older, 1, "OutOfDate"),
    )
}

/// The emulated SGX quoting enclave's identity JSON (`id` "QE", version 2; the signed
/// string): the QE3 the emulated provider quotes name (ISVPRODID 1).
pub fn sgx_qe_identity_json() -> String {
    format!(
        concat!(
            "{{\"id\":\"QE\",\"version\":2,\"issueDate\":\"{issue}\",\"nextUpdate\":\"{next}\",",
            "\"tcbEvaluationDataNumber\":1,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\",",
            "\"attributes\":\"{attrs}\",\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",",
            "\"mrsigner\":\"{signer}\",\"isvprodid\":1,",
            "\"tcbLevels\":[{{\"tcb\":{{\"isvsvn\":{svn}}},\"tcbDate\":\"{issue}\",\"tcbStatus\":\"UpToDate\"}}]}}"
        ),
        issue = ISSUE_DATE,
        next = NEXT_UPDATE,
        attrs = hex::encode(&emulated::QE_ATTRIBUTES).to_uppercase(),
        signer = hex::encode(&emulated::qe_mr_signer()).to_uppercase(),
        svn = emulated::QE_ISV_SVN,
    )
}

/// The whole emulated PKI.
pub struct EmulatedPki {
    pub root_der: Vec<u8>,
    pub pck_ca_der: Vec<u8>,
    pub pck_der: Vec<u8>,
    pub tcb_signing_der: Vec<u8>,
    pub root_crl_der: Vec<u8>,
    pub pck_crl_der: Vec<u8>,
    pub collateral: dcap_qvl::QuoteCollateralV3,
    /// Collateral for EMULATED SGX quotes (the `local-sgx` test provider's).
    pub sgx_collateral: dcap_qvl::QuoteCollateralV3,
}

impl EmulatedPki {
    /// Builds everything from the seed (deterministic).
    pub fn generate() -> Result<Self, PkiError> {
        let root = Party::new(KeyRole::RootCa, ROOT_SUBJECT)?;
        let pck_ca = Party::new(KeyRole::PckCa, PCK_CA_SUBJECT)?;
        let pck = Party::new(KeyRole::Pck, PCK_SUBJECT)?;
        let tcb = Party::new(KeyRole::TcbSigning, TCB_SIGNING_SUBJECT)?;
        let root_cert = certificate(&root, &root, 1, Some(Some(1)), vec![])?;
        let pck_ca_cert = certificate(&pck_ca, &root, 2, Some(Some(0)), vec![])?;
        let tcb_cert = certificate(&tcb, &root, 3, None, vec![])?;
        let sgx = extension(ObjectIdentifier::new_unwrap(OID_SGX_EXTENSION), false, sgx_extension_value()?)?;
        let pck_cert = certificate(&pck, &pck_ca, 4, None, vec![sgx])?;
        let root_crl = crl(&root)?;
        let pck_crl = crl(&pck_ca)?;

        let root_der = root_cert.to_der()?;
        let pck_ca_der = pck_ca_cert.to_der()?;
        let pck_der = pck_cert.to_der()?;
        let tcb_signing_der = tcb_cert.to_der()?;
        let tcb_info = tcb_info_json();
        let qe_identity = qe_identity_json();
        let tcb_chain = format!("{}{}", pem("CERTIFICATE", &tcb_signing_der), pem("CERTIFICATE", &root_der));
        let collateral = dcap_qvl::QuoteCollateralV3 {
            pck_crl_issuer_chain: format!("{}{}", pem("CERTIFICATE", &pck_ca_der), pem("CERTIFICATE", &root_der)),
            root_ca_crl: root_crl.to_der()?,
            pck_crl: pck_crl.to_der()?,
            tcb_info_issuer_chain: tcb_chain.clone(),
            tcb_info_signature: sign_raw(&tcb.key, tcb_info.as_bytes()).to_vec(),
            tcb_info,
            qe_identity_issuer_chain: tcb_chain,
            qe_identity_signature: sign_raw(&tcb.key, qe_identity.as_bytes()).to_vec(),
            qe_identity,
            pck_certificate_chain: None,
        };
        let sgx_tcb_info = sgx_tcb_info_json();
        let sgx_qe_identity = sgx_qe_identity_json();
        let sgx_collateral = dcap_qvl::QuoteCollateralV3 {
            tcb_info_signature: sign_raw(&tcb.key, sgx_tcb_info.as_bytes()).to_vec(),
            tcb_info: sgx_tcb_info,
            qe_identity_signature: sign_raw(&tcb.key, sgx_qe_identity.as_bytes()).to_vec(),
            qe_identity: sgx_qe_identity,
            ..collateral.clone()
        };
        Ok(Self {
            sgx_collateral,
            root_crl_der: collateral.root_ca_crl.clone(),
            pck_crl_der: collateral.pck_crl.clone(),
            root_der,
            pck_ca_der,
            pck_der,
            tcb_signing_der,
            collateral,
        })
    }

    /// PEM chain carried in emulated quotes: PCK leaf, PCK CA, root.
    pub fn pck_chain_pem(&self) -> String {
        format!(
            "{}{}{}",
            pem("CERTIFICATE", &self.pck_der),
            pem("CERTIFICATE", &self.pck_ca_der),
            pem("CERTIFICATE", &self.root_der)
        )
    }

    /// Collateral as dcap-qvl's JSON.
    pub fn collateral_json(&self) -> String {
        serde_json::to_string_pretty(&self.collateral).unwrap_or_default()
    }

    /// SGX collateral as dcap-qvl's JSON (what the image's `local-sgx` source fetches).
    pub fn sgx_collateral_json(&self) -> String {
        serde_json::to_string_pretty(&self.sgx_collateral).unwrap_or_default()
    }

    /// Writes `root_ca.der`, `root_ca.pem`, `pck_chain.pem`, `collateral.json` into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<(), PkiError> {
        std::fs::create_dir_all(dir).map_err(PkiError::Io)?;
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).map_err(PkiError::Io);
        write("root_ca.der", &self.root_der)?;
        write("root_ca.pem", pem("CERTIFICATE", &self.root_der).as_bytes())?;
        write("pck_chain.pem", self.pck_chain_pem().as_bytes())?;
        write("collateral.json", self.collateral_json().as_bytes())?;
        write("sgx_collateral.json", self.sgx_collateral_json().as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sgx_dcap::{parse_collateral_json, verify_sgx_quote, DcapError, Policy, TcbStatusSet};

    /// A PCK certificate that is itself a CA must not pass as a leaf, even when every
    /// signature in its chain verifies to the pinned root.
    #[test]
    fn a_ca_certificate_is_refused_as_the_pck_leaf() {
        let pki = EmulatedPki::generate().unwrap();
        let pck_ca = Party::new(KeyRole::PckCa, PCK_CA_SUBJECT).unwrap();
        let pck = Party::new(KeyRole::Pck, PCK_SUBJECT).unwrap();
        let sgx = extension(ObjectIdentifier::new_unwrap(OID_SGX_EXTENSION), false, sgx_extension_value().unwrap()).unwrap();
        let pck_as_ca = certificate(&pck, &pck_ca, 4, Some(Some(0)), vec![sgx]).unwrap().to_der().unwrap();
        let chain = format!("{}{}{}", pem("CERTIFICATE", &pck_as_ca), pem("CERTIFICATE", &pki.pck_ca_der), pem("CERTIFICATE", &pki.root_der));
        let quote = emulated::sgx_quote_with_chain([1; 32], [2; 32], [3; 64], chain.as_bytes()).unwrap();
        let collateral = parse_collateral_json(pki.sgx_collateral_json().as_bytes()).unwrap();
        let policy = Policy { root_ca_der: &pki.root_der, now_secs: 1_767_225_600, min_tcb_evaluation_data_number: 1, accept: TcbStatusSet::UP_TO_DATE_ONLY };
        match verify_sgx_quote(&quote, &collateral, &policy) {
            Err(DcapError::Certificate { what: "PCK certificate", reason }) => assert_eq!(reason, "is a CA certificate"),
            other => panic!("{other:?}"),
        }
        // The same quote with the real leaf verifies: only the CA flag differs.
        let good = emulated::sgx_quote_with_chain([1; 32], [2; 32], [3; 64], pki.pck_chain_pem().as_bytes()).unwrap();
        assert!(verify_sgx_quote(&good, &collateral, &policy).is_ok());
    }
}
