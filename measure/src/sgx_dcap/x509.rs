//! The X.509 part of DCAP: PEM chains, certificate and CRL signatures
//! (ECDSA P-256 with SHA-256 only, which is all Intel's SGX PKI uses),
//! validity windows, the CA flag and key usage of issuers (keyCertSign to
//! issue certificates, cRLSign to issue CRLs), leaves that must not be CAs,
//! critical extensions, and revocation. Decoding is x509-cert's; signatures
//! are checked over the *received* signed bytes ([`super::tlv`]). Path length
//! is not read: every chain here has a fixed shape (leaf, at most one CA, root).

use alloc::vec::Vec;

use base64ct::Encoding;
use der::asn1::ObjectIdentifier;
use der::Decode;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use x509_cert::certificate::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

use super::{tlv, DcapError};

/// Most certificates in one PEM chain.
pub const MAX_CHAIN_LEN: usize = 4;
const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// Critical extensions this verifier understands; any other critical one is refused.
const KNOWN_CRITICAL: [ObjectIdentifier; 2] = [OID_BASIC_CONSTRAINTS, OID_KEY_USAGE];
const OID_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
const OID_AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// CRL extensions that may be critical; any other critical CRL or entry extension is refused.
const KNOWN_CRITICAL_CRL: [ObjectIdentifier; 2] = [OID_CRL_NUMBER, OID_AUTHORITY_KEY_ID];

/// Decodes a PEM chain of certificates (leaf first). Only whitespace and NUL
/// bytes (real quotes end the chain with one) may surround the blocks.
pub fn pem_chain(pem: &[u8], what: &'static str) -> Result<Vec<Vec<u8>>, DcapError> {
    let bad = |reason: &'static str| DcapError::Pem { what, reason };
    let text = core::str::from_utf8(pem).map_err(|_| bad("not UTF-8"))?;
    let mut rest = text;
    let mut out = Vec::new();
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
        if trimmed.is_empty() {
            break;
        }
        let body = trimmed.strip_prefix(PEM_BEGIN).ok_or(bad("text outside a CERTIFICATE block"))?;
        let end = body.find(PEM_END).ok_or(bad("unterminated CERTIFICATE block"))?;
        let b64: Vec<u8> = body.get(..end).unwrap_or("").bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let der = base64ct::Base64::decode_vec(core::str::from_utf8(&b64).map_err(|_| bad("not base64"))?)
            .map_err(|_| bad("not base64"))?;
        if out.len() == MAX_CHAIN_LEN {
            return Err(bad("more than 4 certificates"));
        }
        out.push(der);
        rest = body.get(end + PEM_END.len()..).unwrap_or("");
    }
    if out.is_empty() {
        return Err(bad("no certificate"));
    }
    Ok(out)
}

/// A decoded certificate with the facts the chain check needs.
pub struct Cert {
    pub der: Vec<u8>,
    pub cert: Certificate,
    tbs: Vec<u8>,
}

impl Cert {
    /// Decodes `der`; `what` names it in errors.
    pub fn parse(der: &[u8], what: &'static str) -> Result<Cert, DcapError> {
        let cert = Certificate::from_der(der).map_err(|_| DcapError::Certificate { what, reason: "does not decode" })?;
        let tbs = tlv::signed_part(der).ok_or(DcapError::Certificate { what, reason: "does not decode" })?.to_vec();
        Ok(Cert { der: der.to_vec(), cert, tbs })
    }

    /// The subject's P-256 key.
    pub fn public_key(&self, what: &'static str) -> Result<VerifyingKey, DcapError> {
        let spki = &self.cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(DcapError::Certificate { what, reason: "key is not an EC key" });
        }
        let bits = spki.subject_public_key.as_bytes().ok_or(DcapError::Certificate { what, reason: "key bits" })?;
        VerifyingKey::from_sec1_bytes(bits).map_err(|_| DcapError::Certificate { what, reason: "key is not on P-256" })
    }

    fn subject_der(&self, what: &'static str) -> Result<Vec<u8>, DcapError> {
        der::Encode::to_der(&self.cert.tbs_certificate.subject).map_err(|_| DcapError::Certificate { what, reason: "subject" })
    }

    fn issuer_der(&self, what: &'static str) -> Result<Vec<u8>, DcapError> {
        der::Encode::to_der(&self.cert.tbs_certificate.issuer).map_err(|_| DcapError::Certificate { what, reason: "issuer" })
    }

    /// The serial number's content bytes.
    pub fn serial(&self) -> &[u8] {
        self.cert.tbs_certificate.serial_number.as_bytes()
    }

    /// Whether basicConstraints says CA.
    pub fn is_ca(&self) -> bool {
        self.cert.tbs_certificate.extensions.iter().flatten().any(|e| {
            e.extn_id == OID_BASIC_CONSTRAINTS
                && BasicConstraints::from_der(e.extn_value.as_bytes()).map(|b| b.ca).unwrap_or(false)
        })
    }

    /// Whether keyUsage is present and grants `usage`.
    fn may(&self, usage: KeyUsages) -> bool {
        self.extension(OID_KEY_USAGE)
            .and_then(|v| KeyUsage::from_der(v).ok())
            .map(|k| k.0.contains(usage))
            .unwrap_or(false)
    }

    /// The value of extension `oid`, if present.
    pub fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// Checks this certificate was issued by `issuer` (name, CA flag,
    /// signature), is inside its validity at `now`, and has no critical
    /// extension this verifier does not understand.
    pub fn check_issued_by(&self, issuer: &Cert, now: u64, what: &'static str) -> Result<(), DcapError> {
        let fail = |reason: &'static str| DcapError::Certificate { what, reason };
        if self.issuer_der(what)? != issuer.subject_der(what)? {
            return Err(fail("issuer name is not the issuing certificate's subject"));
        }
        if !issuer.is_ca() {
            return Err(fail("issuing certificate is not a CA"));
        }
        if !issuer.may(KeyUsages::KeyCertSign) {
            return Err(fail("issuing certificate's key usage lacks keyCertSign"));
        }
        if self.cert.signature_algorithm.oid != OID_ECDSA_SHA256
            || self.cert.tbs_certificate.signature.oid != OID_ECDSA_SHA256
        {
            return Err(fail("signature algorithm is not ecdsa-with-SHA256"));
        }
        let sig_der = self.cert.signature.as_bytes().ok_or(fail("signature bits"))?;
        let sig = Signature::from_der(sig_der).map_err(|_| fail("signature is not DER ECDSA"))?;
        issuer.public_key(what)?.verify(&self.tbs, &sig).map_err(|_| fail("signature does not verify"))?;
        let validity = &self.cert.tbs_certificate.validity;
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        if now < not_before {
            return Err(DcapError::NotYetValid { what, from: not_before, now });
        }
        if now > not_after {
            return Err(DcapError::Expired { what, until: not_after, now });
        }
        for ext in self.cert.tbs_certificate.extensions.iter().flatten() {
            if ext.critical && !KNOWN_CRITICAL.contains(&ext.extn_id) {
                return Err(fail("unknown critical extension"));
            }
        }
        Ok(())
    }
}

impl Cert {
    /// [`Cert::check_issued_by`] for an end-entity certificate: it must not be a CA.
    pub fn check_leaf_issued_by(&self, issuer: &Cert, now: u64, what: &'static str) -> Result<(), DcapError> {
        self.check_issued_by(issuer, now, what)?;
        if self.is_ca() {
            return Err(DcapError::Certificate { what, reason: "is a CA certificate" });
        }
        Ok(())
    }
}

/// A CRL whose signature, issuer and validity were checked.
pub struct Crl {
    revoked: Vec<Vec<u8>>,
    pub next_update: u64,
}

impl Crl {
    /// Decodes `der` and checks it was issued and signed by `issuer` and is
    /// current at `now` (`thisUpdate <= now <= nextUpdate`; a CRL without
    /// `nextUpdate` is refused).
    pub fn parse_checked(der: &[u8], issuer: &Cert, now: u64, what: &'static str) -> Result<Crl, DcapError> {
        let fail = |reason: &'static str| DcapError::Crl { what, reason };
        let crl = CertificateList::from_der(der).map_err(|_| fail("does not decode"))?;
        let tbs = tlv::signed_part(der).ok_or(fail("does not decode"))?;
        let issuer_name = der::Encode::to_der(&crl.tbs_cert_list.issuer).map_err(|_| fail("issuer"))?;
        if issuer_name != issuer.subject_der(what)? {
            return Err(fail("not issued by the expected CA"));
        }
        if !issuer.may(KeyUsages::CRLSign) {
            return Err(fail("issuer's key usage lacks cRLSign"));
        }
        let mut entry_extensions = crl.tbs_cert_list.revoked_certificates.iter().flatten().flat_map(|r| r.crl_entry_extensions.iter().flatten());
        let unknown_critical = |e: &x509_cert::ext::Extension| e.critical && !KNOWN_CRITICAL_CRL.contains(&e.extn_id);
        if crl.tbs_cert_list.crl_extensions.iter().flatten().any(unknown_critical) || entry_extensions.any(|e| e.critical) {
            return Err(fail("unknown critical extension"));
        }
        if crl.signature_algorithm.oid != OID_ECDSA_SHA256 {
            return Err(fail("signature algorithm is not ecdsa-with-SHA256"));
        }
        let sig = Signature::from_der(crl.signature.as_bytes().ok_or(fail("signature bits"))?)
            .map_err(|_| fail("signature is not DER ECDSA"))?;
        issuer.public_key(what)?.verify(tbs, &sig).map_err(|_| fail("signature does not verify"))?;
        let this_update = crl.tbs_cert_list.this_update.to_unix_duration().as_secs();
        let next_update = crl.tbs_cert_list.next_update.ok_or(fail("has no nextUpdate"))?.to_unix_duration().as_secs();
        if now < this_update {
            return Err(DcapError::NotYetValid { what, from: this_update, now });
        }
        if now > next_update {
            return Err(DcapError::Expired { what, until: next_update, now });
        }
        let revoked = crl
            .tbs_cert_list
            .revoked_certificates
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.serial_number.as_bytes().to_vec())
            .collect();
        Ok(Crl { revoked, next_update })
    }

    /// Refuses `cert` if its serial is listed.
    pub fn check_not_revoked(&self, cert: &Cert, what: &'static str) -> Result<(), DcapError> {
        if self.revoked.iter().any(|s| s.as_slice() == cert.serial()) {
            return Err(DcapError::Revoked { what });
        }
        Ok(())
    }
}

/// Splits a PEM chain `[leaf, intermediates.., root]` whose last certificate
/// must be byte-for-byte the pinned root; returns the certificates before it.
pub fn chain_to_root(pem: &[u8], root_der: &[u8], what: &'static str) -> Result<Vec<Cert>, DcapError> {
    let mut ders = pem_chain(pem, what)?;
    if ders.last().map(Vec::as_slice) != Some(root_der) {
        return Err(DcapError::Certificate { what, reason: "chain does not end at the pinned root" });
    }
    ders.pop();
    ders.iter().map(|d| Cert::parse(d, what)).collect()
}
