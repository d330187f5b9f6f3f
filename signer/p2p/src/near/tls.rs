//! rustls configurations that speak near/mpc's P2P TLS: X.509 leaves under near's dummy CA.
//!
//! Owns only the configuration; sessions are [`crate::tls::TlsSession`]s (sans-IO, unbuffered
//! rustls, RustCrypto provider), started with [`crate::tls::TlsSession::client_near`] so the
//! dialer sends near's fixed SNI `dummy`. What near checks, these verifiers check too: TLS 1.3
//! only, mandatory client certificates, exactly one certificate, an Ed25519 key signed by the
//! dummy CA, a server certificate naming `dummy`, CertificateVerify by that key. Then, stricter
//! than near's TLS layer (which defers it to the node): the dialer accepts only the key of the
//! participant it dialed, the listener only registered keys other than its own.
//! Resumption is off on both sides (near offers tickets; a peer that gets none does a full
//! handshake, which near handles).
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::NoServerSessionStorage;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, Error as RustlsError,
    PeerIncompatible, ServerConfig, SignatureScheme,
};

use super::cert::{self, PeerRole};
use crate::identity::{NodeKey, TlsPublicKey};
use crate::tls::{provider, verify_ed25519, ConstantClock, NodeSigningKey, TlsError};

/// near's dummy CA subject, the one name the listener's CertificateRequest hints.
const CA_SUBJECT_DER: [u8; 35] = [
    0x30, 0x21, 0x31, 0x1f, 0x30, 0x1d, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x16, b'r', b'c', b'g',
    b'e', b'n', b' ', b's', b'e', b'l', b'f', b' ', b's', b'i', b'g', b'n', b'e', b'd', b' ', b'c',
    b'e', b'r', b't',
];

fn refused(_: cert::CertError) -> RustlsError {
    RustlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
}

/// The key a verified near certificate carries, as our identity type.
fn key_of(der: &[u8], role: PeerRole) -> Result<TlsPublicKey, RustlsError> {
    let key = cert::peer_key(&[der], role).map_err(refused)?;
    TlsPublicKey::from_bytes(key.to_bytes()).map_err(|_| refused(cert::CertError::BadKey))
}

/// The dialer's check of the listener: near's certificate rules, and exactly the key dialed.
#[derive(Debug)]
struct DialedNearPeer {
    expected: TlsPublicKey,
}

impl ServerCertVerifier for DialedNearPeer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, RustlsError> {
        if !intermediates.is_empty() {
            return Err(refused(cert::CertError::ChainLength(1 + intermediates.len())));
        }
        match key_of(end_entity, PeerRole::Server)? {
            k if k == self.expected => Ok(ServerCertVerified::assertion()),
            _ => Err(RustlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure)),
        }
    }

    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        Err(PeerIncompatible::Tls12NotOffered.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        verify_ed25519(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The listener's check of a dialer: near's certificate rules, and a registered key.
#[derive(Debug)]
struct RegisteredNearPeers {
    /// Sorted, without our own key.
    keys: Vec<TlsPublicKey>,
    hints: [DistinguishedName; 1],
}

impl ClientCertVerifier for RegisteredNearPeers {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, RustlsError> {
        if !intermediates.is_empty() {
            return Err(refused(cert::CertError::ChainLength(1 + intermediates.len())));
        }
        let key = key_of(end_entity, PeerRole::Client)?;
        if self.keys.binary_search(&key).is_err() {
            return Err(RustlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        Err(PeerIncompatible::Tls12NotOffered.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        verify_ed25519(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// This node's near certificate with its Ed25519 signer.
fn certified_key(me: &Arc<NodeKey>) -> Result<Arc<CertifiedKey>, TlsError> {
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(me.public_key().as_bytes())
        .map_err(|_| TlsError::Config(RustlsError::General("node key".into())))?;
    let chain = vec![CertificateDer::from(cert::node_certificate(&verifying))];
    Ok(Arc::new(CertifiedKey::new(chain, Arc::new(NodeSigningKey(me.clone())))))
}

/// A dialer's configuration: presents `me`'s near certificate, accepts only `peer`.
pub fn client_config(me: &Arc<NodeKey>, peer: TlsPublicKey) -> Result<Arc<ClientConfig>, TlsError> {
    let mut cfg = ClientConfig::builder_with_details(provider(), Arc::new(ConstantClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(DialedNearPeer { expected: peer }))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified_key(me)?)));
    cfg.resumption = Resumption::disabled();
    cfg.enable_early_data = false;
    Ok(Arc::new(cfg))
}

/// A listener's configuration: presents `me`'s near certificate, accepts clients with any of
/// `accepted` (our own key removed).
pub fn server_config(
    me: &Arc<NodeKey>,
    accepted: impl IntoIterator<Item = TlsPublicKey>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let own = me.public_key();
    let mut keys: Vec<TlsPublicKey> = accepted.into_iter().filter(|k| *k != own).collect();
    keys.sort();
    keys.dedup();
    let hints = [DistinguishedName::from(CA_SUBJECT_DER.to_vec())];
    let mut cfg = ServerConfig::builder_with_details(provider(), Arc::new(ConstantClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .with_client_cert_verifier(Arc::new(RegisteredNearPeers { keys, hints }))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified_key(me)?)));
    cfg.session_storage = Arc::new(NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    cfg.max_early_data_size = 0;
    Ok(Arc::new(cfg))
}
