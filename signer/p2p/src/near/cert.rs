//! The X.509 formality of near/mpc's P2P TLS: certificates for node keys, and reading a peer's.
//!
//! Owns the certificate bytes near's nodes present and expect. Peer identity is the raw
//! ed25519 key (checked against the contract's participant list); the certificate only carries
//! it. near issues every node a leaf signed by a fixed "dummy" CA whose private key is a public
//! constant of the protocol, with rcgen's defaults: serial = first 20 bytes of SHA-256 of the
//! raw key (top bit cleared), issuer = subject = `CN=rcgen self signed cert`, validity
//! 1975-01-01 to 4096-01-01, a single SAN extension. Ed25519 signatures are deterministic, so a
//! key always yields the same bytes; the tests pin them to near's golden vectors.
//! Reading a peer certificate uses the RustCrypto `x509-cert` parser.
use alloc::vec::Vec;
use der::Decode;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The dummy CA's Ed25519 seed, hard-coded in near/mpc's `crates/tls` and so public: it
/// protects nothing, it only makes the certificates chain the way rustls/webpki expects.
pub const DUMMY_CA_SEED: [u8; 32] = [
    0x69, 0x0c, 0x3d, 0x01, 0x1b, 0xd0, 0x65, 0xf1, 0x80, 0x55, 0xdb, 0x82, 0x88, 0xcb, 0x79, 0xb9,
    0x87, 0x9c, 0x25, 0x29, 0x4b, 0x74, 0x18, 0xa8, 0x9a, 0xd8, 0x71, 0xfc, 0x85, 0xa8, 0x7b, 0x56,
];
/// The SNI every near dialer sends, and the DNS name in every node certificate.
pub const SERVER_NAME: &str = "dummy";
const CA_NAME: &str = "root";
const COMMON_NAME: &[u8] = b"rcgen self signed cert";
const ED25519_OID: [u8; 3] = [0x2b, 0x65, 0x70];
const SAN_OID: [u8; 3] = [0x55, 0x1d, 0x11];
const CN_OID: [u8; 3] = [0x55, 0x04, 0x03];

/// Why a peer's certificate chain does not name a usable key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertError {
    /// near accepts exactly one certificate (the leaf).
    ChainLength(usize),
    NotDer,
    NotEd25519,
    BadKey,
    /// Not signed by the dummy CA.
    BadSignature,
    /// A server certificate without the `dummy` DNS name.
    MissingServerName,
}

impl core::fmt::Display for CertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ChainLength(n) => write!(f, "peer presented {n} certificates, expected exactly 1"),
            Self::NotDer => f.write_str("peer certificate is not a DER X.509 certificate"),
            Self::NotEd25519 => f.write_str("peer certificate key is not Ed25519"),
            Self::BadKey => f.write_str("peer certificate key is not a valid Ed25519 point"),
            Self::BadSignature => f.write_str("peer certificate is not signed by near's dummy CA"),
            Self::MissingServerName => f.write_str("peer server certificate lacks the name 'dummy'"),
        }
    }
}

fn dummy_ca_key() -> SigningKey {
    SigningKey::from_bytes(&DUMMY_CA_SEED)
}

/// The dummy CA's certificate (self-signed, SAN `root`), as every near node builds it.
pub fn ca_certificate() -> Vec<u8> {
    let ca = dummy_ca_key();
    issue(&ca.verifying_key(), CA_NAME, &ca)
}

/// The certificate near issues for a node's P2P key (SAN `dummy`, signed by the dummy CA).
pub fn node_certificate(node_key: &VerifyingKey) -> Vec<u8> {
    issue(node_key, SERVER_NAME, &dummy_ca_key())
}

fn issue(subject: &VerifyingKey, dns_name: &str, issuer: &SigningKey) -> Vec<u8> {
    let ed25519 = tlv(0x30, &tlv(0x06, &ED25519_OID));
    let tbs = tlv(
        0x30,
        &[
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &positive_integer(&serial(subject))),
            ed25519.clone(),
            name(),
            validity(),
            name(),
            spki(subject),
            extensions(dns_name),
        ]
        .concat(),
    );
    let signature = issuer.sign(&tbs).to_bytes();
    let mut bit_string = Vec::with_capacity(65);
    bit_string.push(0);
    bit_string.extend_from_slice(&signature);
    tlv(0x30, &[tbs, ed25519, tlv(0x03, &bit_string)].concat())
}

/// rcgen's serial: SHA-256 of the raw public key, first 20 bytes, top bit cleared.
fn serial(key: &VerifyingKey) -> [u8; 20] {
    let digest = Sha256::digest(key.as_bytes());
    let mut serial = [0u8; 20];
    serial.copy_from_slice(&digest[..20]);
    serial[0] &= 0x7f;
    serial
}

fn name() -> Vec<u8> {
    let attribute = tlv(0x30, &[tlv(0x06, &CN_OID), tlv(0x0c, COMMON_NAME)].concat());
    tlv(0x30, &tlv(0x31, &attribute))
}

fn validity() -> Vec<u8> {
    tlv(0x30, &[tlv(0x17, b"750101000000Z"), tlv(0x18, b"40960101000000Z")].concat())
}

fn spki(key: &VerifyingKey) -> Vec<u8> {
    let mut bits = Vec::with_capacity(33);
    bits.push(0);
    bits.extend_from_slice(key.as_bytes());
    tlv(0x30, &[tlv(0x30, &tlv(0x06, &ED25519_OID)), tlv(0x03, &bits)].concat())
}

fn extensions(dns_name: &str) -> Vec<u8> {
    let general_names = tlv(0x30, &tlv(0x82, dns_name.as_bytes()));
    let san = tlv(0x30, &[tlv(0x06, &SAN_OID), tlv(0x04, &general_names)].concat());
    tlv(0xa3, &tlv(0x30, &san))
}

/// DER INTEGER contents for a non-negative big-endian number: minimal, sign bit clear.
fn positive_integer(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
    let digits = &bytes[first..];
    let mut out = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// The role a certificate is presented in: a server certificate must also carry the name
/// `dummy` (the dialer's SNI), a client certificate need not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRole {
    Server,
    Client,
}

/// The peer's Ed25519 key from its presented chain, checked as near's nodes check it: exactly
/// one certificate, an Ed25519 key that is a valid point, signed by the dummy CA; a server's
/// certificate names `dummy`. Validity dates are not checked: near's are fixed (1975–4096)
/// and the image has no clock a peer could not argue with.
pub fn peer_key(chain: &[&[u8]], role: PeerRole) -> Result<VerifyingKey, CertError> {
    let [leaf] = chain else { return Err(CertError::ChainLength(chain.len())) };
    let cert = x509_cert::Certificate::from_der(leaf).map_err(|_| CertError::NotDer)?;
    let tbs = &cert.tbs_certificate;
    let spki = &tbs.subject_public_key_info;
    if spki.algorithm.oid.as_bytes() != ED25519_OID || cert.signature_algorithm.oid.as_bytes() != ED25519_OID {
        return Err(CertError::NotEd25519);
    }
    let key_bytes: [u8; 32] =
        spki.subject_public_key.as_bytes().and_then(|b| b.try_into().ok()).ok_or(CertError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| CertError::BadKey)?;
    let signature = cert
        .signature
        .as_bytes()
        .and_then(|b| Signature::from_slice(b).ok())
        .ok_or(CertError::BadSignature)?;
    let tbs_der = der::Encode::to_der(tbs).map_err(|_| CertError::NotDer)?;
    dummy_ca_key().verifying_key().verify(&tbs_der, &signature).map_err(|_| CertError::BadSignature)?;
    if role == PeerRole::Server && !names_server(tbs) {
        return Err(CertError::MissingServerName);
    }
    Ok(key)
}

fn names_server(tbs: &x509_cert::TbsCertificate) -> bool {
    use x509_cert::ext::pkix::{name::GeneralName, SubjectAltName};
    let Some(extensions) = &tbs.extensions else { return false };
    extensions.iter().filter(|e| e.extn_id.as_bytes() == SAN_OID).any(|e| {
        SubjectAltName::from_der(e.extn_value.as_bytes()).is_ok_and(|san| {
            san.0.iter().any(|n| matches!(n, GeneralName::DnsName(d) if d.as_str() == SERVER_NAME))
        })
    })
}
