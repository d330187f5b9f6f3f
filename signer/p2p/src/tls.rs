//! Mutual TLS 1.3 between registered ed25519 keys, as sans-IO byte-in/byte-out sessions.
//!
//! This module owns the rustls configuration and the per-connection TLS state machine.
//!
//! - **Credentials: RFC 7250 raw public keys.** Each side presents the DER
//!   `SubjectPublicKeyInfo` of its ed25519 key instead of an X.509 certificate (rustls 0.23
//!   negotiates raw public keys in TLS 1.3 without `std`). Nothing is issued or parsed beyond a
//!   44-byte exact-match encoding, there is no validity window and so no clock dependence, and
//!   the identity on the wire is exactly the key registered on chain.
//! - **Verifiers accept exactly the registered keys.** A client dialing participant P accepts
//!   only P's key; a server accepts only keys of the current set other than its own (which
//!   participant a key belongs to, and that it matches the participant the peer claims to be, is
//!   checked by the connection manager). Handshake signatures are ed25519 only, verified with
//!   ed25519-dalek's strict verification. No WebPKI, no CA.
//! - **TLS 1.3 only**, RustCrypto provider (pure Rust, builds for the UEFI image) restricted to
//!   its TLS 1.3 suites; no resumption, no tickets, no early data, no SNI.
//! - Sessions use rustls's unbuffered API: [`TlsSession::receive`] takes TCP bytes and returns
//!   decrypted bytes, [`TlsSession::write`] queues plaintext, [`TlsSession::take_outgoing`] hands
//!   back TCP bytes to transmit. No I/O, no threads, no clock.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::Signer as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    AlwaysResolvesClientRawPublicKeys, ClientConnectionData, Resumption, UnbufferedClientConnection,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    AlwaysResolvesServerRawPublicKeys, NoServerSessionStorage, ServerConnectionData,
    UnbufferedServerConnection,
};
use rustls::sign::CertifiedKey;
use rustls::time_provider::TimeProvider;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, Error as RustlsError,
    PeerIncompatible, PeerMisbehaved, ProtocolVersion, ServerConfig, SignatureAlgorithm,
    SignatureScheme, SupportedCipherSuite,
};

use crate::identity::{NodeKey, TlsPublicKey};

/// Largest TLS ciphertext buffered while waiting for the rest of a record: one maximal TLS 1.3
/// record (2^14 + 256 + 5 bytes) plus one input chunk.
const MAX_INCOMING: usize = 2 * (16 * 1024 + 512);
/// Input is fed to rustls in pieces of this size so that `MAX_INCOMING` holds.
const INPUT_CHUNK: usize = 16 * 1024;

/// Why a TLS session failed.
#[derive(Clone, Debug, PartialEq)]
pub enum TlsError {
    /// rustls refused a configuration.
    Config(RustlsError),
    /// The handshake or record layer failed (includes this crate's verifiers refusing a key:
    /// `InvalidCertificate(ApplicationVerificationFailure)`), or the peer sent an alert.
    Protocol(RustlsError),
    /// The peer sent more than a record's worth of bytes that do not complete a record.
    Oversize,
    /// The peer offered early data, which is never enabled.
    UnexpectedEarlyData,
    /// Writing after the session closed or failed.
    Closed,
}

impl TlsError {
    /// Whether this side's verifier refused the peer's key (or its handshake signature).
    pub fn is_key_refused_here(&self) -> bool {
        matches!(self, TlsError::Protocol(RustlsError::InvalidCertificate(_)))
    }

    /// Whether the failure is an authentication refusal by a verifier: ours, or the peer's as
    /// told by its alert (this crate's verifiers refuse with `access_denied`).
    pub fn is_authentication_failure(&self) -> bool {
        matches!(
            self,
            TlsError::Protocol(RustlsError::InvalidCertificate(_))
                | TlsError::Protocol(RustlsError::AlertReceived(
                    rustls::AlertDescription::AccessDenied
                        | rustls::AlertDescription::BadCertificate
                        | rustls::AlertDescription::CertificateUnknown
                        | rustls::AlertDescription::UnknownCA
                ))
        )
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Config(e) => write!(f, "TLS configuration: {e}"),
            TlsError::Protocol(e) => write!(f, "TLS: {e}"),
            TlsError::Oversize => write!(f, "TLS record larger than the input bound"),
            TlsError::UnexpectedEarlyData => write!(f, "unexpected TLS early data"),
            TlsError::Closed => write!(f, "TLS session closed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TlsError {}

/// The suite this build prefers. Where AES runs its portable code — the image: a soft-float
/// UEFI target built with `--cfg aes_force_soft` — ChaCha20-Poly1305 measured 2.4x faster than
/// AES-GCM (`BENCH.md`); with AES-NI/CLMUL on a host, AES-128-GCM is faster. Either end may
/// prefer either; both are always offered, and the client's first choice is negotiated.
pub const PREFERRED_SUITE: rustls::CipherSuite = if cfg!(any(aes_force_soft, target_os = "uefi")) {
    rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
} else {
    rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
};

/// The provider: RustCrypto's, TLS 1.3 suites only, [`PREFERRED_SUITE`] first.
pub fn provider() -> Arc<CryptoProvider> {
    let base = rustls_rustcrypto::provider();
    let mut suites: Vec<SupportedCipherSuite> = base
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .collect();
    suites.sort_by_key(|s| s.suite() != PREFERRED_SUITE);
    Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..base
    })
}

/// rustls asks for the time even when nothing time-dependent is in use. With raw public keys
/// there is no certificate validity and resumption is off, so a constant is enough; this keeps
/// the sessions independent of the image's clock.
#[derive(Debug)]
pub(crate) struct ConstantClock;

/// 2026-01-01T00:00:00Z (the build's SOURCE_DATE_EPOCH).
const CONSTANT_TIME_SECS: u64 = 1_767_225_600;

impl TimeProvider for ConstantClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            CONSTANT_TIME_SECS,
        )))
    }
}

/// This node's key as rustls's signing key (ed25519 only).
pub(crate) struct NodeSigningKey(pub(crate) Arc<NodeKey>);

impl fmt::Debug for NodeSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NodeSigningKey")
            .field(&self.0.public_key())
            .finish()
    }
}

impl rustls::sign::SigningKey for NodeSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        if offered.contains(&SignatureScheme::ED25519) {
            Some(Box::new(NodeSigner(self.0.clone())))
        } else {
            None
        }
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(
            self.0.public_key().spki_der().to_vec(),
        ))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}

struct NodeSigner(Arc<NodeKey>);

impl fmt::Debug for NodeSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeSigner")
    }
}

impl rustls::sign::Signer for NodeSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, RustlsError> {
        Ok(self.0.signing_key().sign(message).to_bytes().to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

fn certified_key(key: &Arc<NodeKey>) -> Arc<CertifiedKey> {
    let spki = CertificateDer::from(key.public_key().spki_der().to_vec());
    Arc::new(CertifiedKey::new(
        vec![spki],
        Arc::new(NodeSigningKey(key.clone())),
    ))
}

/// The key a verified peer presented: a raw public key, or the key in a near/mpc certificate
/// (the verifiers of either configuration have already checked it).
fn presented_key(der: &[u8]) -> Option<TlsPublicKey> {
    TlsPublicKey::from_spki_der(der).or_else(|| {
        let key = crate::near::cert::peer_key(&[der], crate::near::cert::PeerRole::Client).ok()?;
        TlsPublicKey::from_bytes(key.to_bytes()).ok()
    })
}

/// Refusal used by both verifiers: the presented key is not the one (or one of those) allowed.
fn key_refused() -> RustlsError {
    RustlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
}

/// Checks a TLS 1.3 `CertificateVerify` signature by the key `cert` presents (a raw key, or a
/// near/mpc certificate's).
pub(crate) fn verify_ed25519(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, RustlsError> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    }
    let key = presented_key(cert.as_ref()).ok_or_else(key_refused)?;
    let vk = key.verifying_key().ok_or_else(key_refused)?;
    let sig = ed25519_dalek::Signature::from_slice(dss.signature())
        .map_err(|_| RustlsError::InvalidCertificate(CertificateError::BadSignature))?;
    vk.verify_strict(message, &sig)
        .map_err(|_| RustlsError::InvalidCertificate(CertificateError::BadSignature))?;
    Ok(HandshakeSignatureValid::assertion())
}

/// Client side: the server must present exactly `expected`.
#[derive(Debug)]
struct ExpectedServerKey {
    expected: TlsPublicKey,
}

impl ServerCertVerifier for ExpectedServerKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, RustlsError> {
        match TlsPublicKey::from_spki_der(end_entity.as_ref()) {
            Some(k) if k == self.expected && intermediates.is_empty() => {
                Ok(ServerCertVerified::assertion())
            }
            _ => Err(key_refused()),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
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

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// Server side: the client must present one of the registered keys (not ours).
#[derive(Debug)]
struct RegisteredClientKeys {
    /// Sorted.
    keys: Vec<TlsPublicKey>,
}

impl ClientCertVerifier for RegisteredClientKeys {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, RustlsError> {
        match TlsPublicKey::from_spki_der(end_entity.as_ref()) {
            Some(k) if intermediates.is_empty() && self.keys.binary_search(&k).is_ok() => {
                Ok(ClientCertVerified::assertion())
            }
            _ => Err(key_refused()),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
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

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// A client configuration that authenticates with `me` and accepts only `peer`'s key.
pub fn client_config(me: &Arc<NodeKey>, peer: TlsPublicKey) -> Result<Arc<ClientConfig>, TlsError> {
    let mut cfg = ClientConfig::builder_with_details(provider(), Arc::new(ConstantClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ExpectedServerKey { expected: peer }))
        .with_client_cert_resolver(Arc::new(AlwaysResolvesClientRawPublicKeys::new(
            certified_key(me),
        )));
    cfg.resumption = Resumption::disabled();
    cfg.enable_sni = false;
    cfg.enable_early_data = false;
    Ok(Arc::new(cfg))
}

/// A server configuration that authenticates with `me` and accepts clients presenting any of
/// `accepted` (this node's own key is removed).
pub fn server_config(
    me: &Arc<NodeKey>,
    accepted: impl IntoIterator<Item = TlsPublicKey>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let own = me.public_key();
    let mut keys: Vec<TlsPublicKey> = accepted.into_iter().filter(|k| *k != own).collect();
    keys.sort();
    keys.dedup();
    let mut cfg = ServerConfig::builder_with_details(provider(), Arc::new(ConstantClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .with_client_cert_verifier(Arc::new(RegisteredClientKeys { keys }))
        .with_cert_resolver(Arc::new(AlwaysResolvesServerRawPublicKeys::new(
            certified_key(me),
        )));
    cfg.session_storage = Arc::new(NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    cfg.max_early_data_size = 0;
    Ok(Arc::new(cfg))
}

/// The two sides of rustls's unbuffered API behind one driver.
trait Unbuffered {
    type Data;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;
    fn common(&self) -> &rustls::CommonState;
}

impl Unbuffered for UnbufferedClientConnection {
    type Data = ClientConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn common(&self) -> &rustls::CommonState {
        self
    }
}

impl Unbuffered for UnbufferedServerConnection {
    type Data = ServerConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn common(&self) -> &rustls::CommonState {
        self
    }
}

enum Side {
    Client(Box<UnbufferedClientConnection>),
    Server(Box<UnbufferedServerConnection>),
}

/// Byte buffers around one rustls connection.
#[derive(Default)]
struct Buffers {
    /// Received TLS bytes not yet consumed by rustls.
    incoming: Vec<u8>,
    /// TLS bytes to transmit.
    outgoing: Vec<u8>,
    /// Decrypted application bytes.
    plaintext: Vec<u8>,
    /// Application bytes waiting for the handshake to finish.
    pending: Vec<u8>,
    close_requested: bool,
    close_sent: bool,
    peer_closed: bool,
    closed: bool,
}

/// One side of a mutually authenticated TLS 1.3 connection, sans-IO.
pub struct TlsSession {
    side: Side,
    io: Buffers,
    established: bool,
    peer: Option<TlsPublicKey>,
    failed: Option<TlsError>,
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("client", &matches!(self.side, Side::Client(_)))
            .field("established", &self.established)
            .field("peer", &self.peer)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl TlsSession {
    /// Starts a client session; its first flight is ready in [`TlsSession::take_outgoing`].
    pub fn client(config: &Arc<ClientConfig>) -> Result<Self, TlsError> {
        Self::client_named(config, "p2p.invalid")
    }

    /// A client session for near/mpc's wire ([`crate::near::tls::client_config`]): it sends
    /// near's fixed server name `dummy`, whoever it dials.
    pub fn client_near(config: &Arc<ClientConfig>) -> Result<Self, TlsError> {
        Self::client_named(config, crate::near::cert::SERVER_NAME)
    }

    fn client_named(config: &Arc<ClientConfig>, name: &'static str) -> Result<Self, TlsError> {
        let name = ServerName::try_from(name)
            .map_err(|_| TlsError::Config(RustlsError::General("server name".into())))?;
        let conn =
            UnbufferedClientConnection::new(config.clone(), name).map_err(TlsError::Config)?;
        let mut s = TlsSession {
            side: Side::Client(Box::new(conn)),
            io: Buffers::default(),
            established: false,
            peer: None,
            failed: None,
        };
        s.pump()?;
        Ok(s)
    }

    /// Starts a server session (it speaks once the client hello arrives).
    pub fn server(config: &Arc<ServerConfig>) -> Result<Self, TlsError> {
        let conn = UnbufferedServerConnection::new(config.clone()).map_err(TlsError::Config)?;
        Ok(TlsSession {
            side: Side::Server(Box::new(conn)),
            io: Buffers::default(),
            established: false,
            peer: None,
            failed: None,
        })
    }

    /// Feeds TCP bytes; returns the application bytes they decrypted to. After an error the
    /// session is dead; an alert for the peer may still be waiting in `take_outgoing`.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<u8>, TlsError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        // Plaintext is never longer than the ciphertext: size it once instead of growing it.
        self.io.plaintext.reserve(bytes.len());
        for chunk in bytes.chunks(INPUT_CHUNK) {
            if self.io.incoming.len() + chunk.len() > MAX_INCOMING {
                return Err(self.fail(TlsError::Oversize));
            }
            self.io.incoming.extend_from_slice(chunk);
            self.pump()?;
        }
        Ok(core::mem::take(&mut self.io.plaintext))
    }

    /// Queues application bytes; they are encrypted once the handshake is complete.
    pub fn write(&mut self, plaintext: &[u8]) -> Result<(), TlsError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.io.close_requested || self.io.closed {
            return Err(TlsError::Closed);
        }
        if !self.established {
            self.io.pending.extend_from_slice(plaintext);
            return Ok(());
        }
        // Established: encrypt straight from the caller's buffer.
        self.pump_with(Some(plaintext))
    }

    /// Queues a close_notify (after any pending data).
    pub fn close(&mut self) {
        if self.failed.is_none() && !self.io.close_requested {
            self.io.close_requested = true;
            let _ = self.pump();
        }
    }

    /// TLS bytes to transmit, in order.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.io.outgoing)
    }

    pub fn has_outgoing(&self) -> bool {
        !self.io.outgoing.is_empty()
    }

    /// Handshake complete and the peer authenticated.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// The peer's authenticated key (once established).
    pub fn peer_key(&self) -> Option<TlsPublicKey> {
        self.peer
    }

    /// The peer sent close_notify.
    pub fn peer_closed(&self) -> bool {
        self.io.peer_closed
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        let common = match &self.side {
            Side::Client(c) => c.common(),
            Side::Server(s) => s.common(),
        };
        common.negotiated_cipher_suite().map(|s| s.suite())
    }

    /// The negotiated protocol version (TLS 1.3 whenever established).
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        match &self.side {
            Side::Client(c) => c.common().protocol_version(),
            Side::Server(s) => s.common().protocol_version(),
        }
    }

    fn fail(&mut self, e: TlsError) -> TlsError {
        self.failed = Some(e.clone());
        e
    }

    fn pump(&mut self) -> Result<(), TlsError> {
        self.pump_with(None)
    }

    fn pump_with(&mut self, mut direct: Option<&[u8]>) -> Result<(), TlsError> {
        let r = match &mut self.side {
            Side::Client(c) => pump(c.as_mut(), &mut self.io, &mut direct),
            Side::Server(s) => pump(s.as_mut(), &mut self.io, &mut direct),
        };
        if let Err(e) = r {
            // rustls queued an alert for the peer (unless the peer sent one or the failure is
            // ours); encode it so it can still be sent.
            let alert_queued = matches!(&e, TlsError::Protocol(err) if !matches!(err, RustlsError::AlertReceived(_)));
            match &mut self.side {
                _ if !alert_queued => {}
                Side::Client(c) => flush_alert(c.as_mut(), &mut self.io),
                Side::Server(s) => flush_alert(s.as_mut(), &mut self.io),
            }
            return Err(self.fail(e));
        }
        if direct.is_some_and(|d| !d.is_empty()) {
            // rustls no longer accepts data (the session closed).
            return Err(TlsError::Closed);
        }
        if !self.established {
            let common = match &self.side {
                Side::Client(c) => c.common(),
                Side::Server(s) => s.common(),
            };
            if !common.is_handshaking() {
                let peer = common
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| presented_key(c.as_ref()));
                let tls13 = common.protocol_version() == Some(ProtocolVersion::TLSv1_3);
                match (peer, tls13) {
                    (Some(k), true) => {
                        self.peer = Some(k);
                        self.established = true;
                        // Application data queued before the handshake ended.
                        if !self.io.pending.is_empty() || self.io.close_requested {
                            let r = match &mut self.side {
                                Side::Client(c) => pump(c.as_mut(), &mut self.io, &mut None),
                                Side::Server(s) => pump(s.as_mut(), &mut self.io, &mut None),
                            };
                            r.map_err(|e| self.fail(e))?;
                        }
                    }
                    // Unreachable with these configs (verifiers ran, TLS 1.3 only); refuse anyway.
                    _ => return Err(self.fail(TlsError::Protocol(key_refused()))),
                }
            }
        }
        Ok(())
    }
}

/// Bound on the TLS bytes for `n` plaintext bytes: records add at most 22 bytes each (header,
/// content type, tag) per 16 KiB; generous.
fn encrypted_cap(n: usize) -> usize {
    n + (n / 4096 + 1) * 64 + 1024
}

/// Appends what `f` writes to `out`, growing the buffer to the size rustls asks for (up to `cap`).
fn append_with(
    out: &mut Vec<u8>,
    initial: usize,
    cap: usize,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<(), TlsError> {
    let used = out.len();
    let mut want = initial.min(cap);
    loop {
        out.resize(used + want, 0);
        let r = f(out.get_mut(used..).unwrap_or(&mut []));
        match r {
            Ok(n) => {
                out.truncate(used + n);
                return Ok(());
            }
            Err(Some(required)) if required > want && required <= cap => want = required,
            Err(_) => {
                out.truncate(used);
                return Err(TlsError::Protocol(RustlsError::General(
                    "TLS output buffer".into(),
                )));
            }
        }
    }
}

fn encode_err(e: EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

fn encrypt_err(e: EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

/// Runs the rustls state machine until it needs more input.
/// `direct`, if any, is encrypted after the pending bytes once writing is allowed, and taken.
fn pump<C: Unbuffered>(
    conn: &mut C,
    io: &mut Buffers,
    direct: &mut Option<&[u8]>,
) -> Result<(), TlsError> {
    loop {
        let UnbufferedStatus { discard, state } = conn.process(&mut io.incoming);
        let mut idle = false;
        let mut result = Ok(());
        match state {
            Err(e) => result = Err(TlsError::Protocol(e)),
            Ok(ConnectionState::ReadTraffic(mut rt)) => {
                while let Some(rec) = rt.next_record() {
                    match rec {
                        Ok(rec) => io.plaintext.extend_from_slice(rec.payload),
                        Err(e) => {
                            result = Err(TlsError::Protocol(e));
                            break;
                        }
                    }
                }
            }
            Ok(ConnectionState::EncodeTlsData(mut enc)) => {
                result = append_with(&mut io.outgoing, 4096, 64 * 1024, |buf| {
                    enc.encode(buf).map_err(encode_err)
                });
            }
            Ok(ConnectionState::TransmitTlsData(tx)) => tx.done(),
            Ok(ConnectionState::BlockedHandshake) => idle = true,
            Ok(ConnectionState::WriteTraffic(mut wt)) => {
                if !io.pending.is_empty() {
                    let data = core::mem::take(&mut io.pending);
                    result = append_with(
                        &mut io.outgoing,
                        encrypted_cap(data.len()),
                        encrypted_cap(data.len()),
                        |buf| wt.encrypt(&data, buf).map_err(encrypt_err),
                    );
                }
                if let (Ok(()), Some(data)) = (&result, direct.take()) {
                    result = append_with(
                        &mut io.outgoing,
                        encrypted_cap(data.len()),
                        encrypted_cap(data.len()),
                        |buf| wt.encrypt(data, buf).map_err(encrypt_err),
                    );
                }
                if result.is_ok() && io.close_requested && !io.close_sent {
                    io.close_sent = true;
                    result = append_with(&mut io.outgoing, 1024, 1024, |buf| {
                        wt.queue_close_notify(buf).map_err(encrypt_err)
                    });
                }
                idle = true;
            }
            Ok(ConnectionState::PeerClosed) => io.peer_closed = true,
            Ok(ConnectionState::Closed) => {
                io.closed = true;
                idle = true;
            }
            Ok(ConnectionState::ReadEarlyData(_)) => result = Err(TlsError::UnexpectedEarlyData),
            Ok(_) => {
                result = Err(TlsError::Protocol(RustlsError::General(
                    "unknown TLS state".into(),
                )))
            }
        }
        if discard > 0 {
            io.incoming.drain(..discard.min(io.incoming.len()));
        }
        result?;
        if idle {
            return Ok(());
        }
    }
}

/// After a failure rustls holds the fatal alert it queued for the peer (at most one: it never
/// sends a second); one more call hands it out before any further input is looked at.
fn flush_alert<C: Unbuffered>(conn: &mut C, io: &mut Buffers) {
    // rustls tracks its position in the input buffer across calls: it must see the same buffer.
    let UnbufferedStatus { discard, state } = conn.process(&mut io.incoming);
    if let Ok(ConnectionState::EncodeTlsData(mut enc)) = state {
        let _ = append_with(&mut io.outgoing, 4096, 64 * 1024, |buf| {
            enc.encode(buf).map_err(encode_err)
        });
    }
    if discard > 0 {
        io.incoming.drain(..discard.min(io.incoming.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> Arc<NodeKey> {
        Arc::new(NodeKey::from_seed(&[seed; 32]))
    }

    /// Runs both sides until neither has anything to send.
    fn run(
        client: &mut TlsSession,
        server: &mut TlsSession,
    ) -> (Result<Vec<u8>, TlsError>, Result<Vec<u8>, TlsError>) {
        let (mut to_client, mut to_server) = (Vec::new(), Vec::new());
        let (mut rc, mut rs) = (Ok(()), Ok(()));
        for _ in 0..20 {
            let c = client.take_outgoing();
            if !c.is_empty() && rs.is_ok() {
                match server.receive(&c) {
                    Ok(p) => to_server.extend(p),
                    Err(e) => rs = Err(e),
                }
            }
            let s = server.take_outgoing();
            if !s.is_empty() && rc.is_ok() {
                match client.receive(&s) {
                    Ok(p) => to_client.extend(p),
                    Err(e) => rc = Err(e),
                }
            }
            if !client.has_outgoing() && !server.has_outgoing() {
                break;
            }
        }
        (rc.map(|_| to_client), rs.map(|_| to_server))
    }

    #[test]
    fn mutual_handshake_authenticates_both_keys_and_carries_data() {
        let (a, b) = (key(1), key(2));
        let mut client = TlsSession::client(&client_config(&a, b.public_key()).unwrap()).unwrap();
        let mut server =
            TlsSession::server(&server_config(&b, [a.public_key(), key(3).public_key()]).unwrap())
                .unwrap();
        client.write(b"early queued").unwrap();
        let (c, s) = run(&mut client, &mut server);
        assert!(c.unwrap().is_empty());
        assert_eq!(s.unwrap(), b"early queued");
        assert!(client.is_established() && server.is_established());
        assert_eq!(client.peer_key(), Some(b.public_key()));
        assert_eq!(server.peer_key(), Some(a.public_key()));
        assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        assert_eq!(client.cipher_suite(), Some(PREFERRED_SUITE));
        assert_eq!(server.cipher_suite(), Some(PREFERRED_SUITE));
        let big = vec![7u8; 100_000];
        server.write(&big).unwrap();
        let (c, _) = run(&mut client, &mut server);
        assert_eq!(c.unwrap(), big);
        client.close();
        let (_, s) = run(&mut client, &mut server);
        assert!(s.unwrap().is_empty());
        assert!(server.peer_closed());
    }

    #[test]
    fn server_refuses_an_unregistered_client_key() {
        let (a, b, intruder) = (key(1), key(2), key(9));
        let mut client =
            TlsSession::client(&client_config(&intruder, b.public_key()).unwrap()).unwrap();
        let mut server = TlsSession::server(&server_config(&b, [a.public_key()]).unwrap()).unwrap();
        let (c, s) = run(&mut client, &mut server);
        let s = s.unwrap_err();
        assert_eq!(s, TlsError::Protocol(key_refused()));
        assert!(s.is_authentication_failure());
        assert!(
            c.unwrap_err().is_authentication_failure(),
            "the client hears the alert"
        );
        assert!(!server.is_established());
    }

    #[test]
    fn client_refuses_a_server_with_another_key() {
        let (a, b, c_key) = (key(1), key(2), key(3));
        // a dials b, but c answers (with a registered key, just not b's).
        let mut client = TlsSession::client(&client_config(&a, b.public_key()).unwrap()).unwrap();
        let mut server =
            TlsSession::server(&server_config(&c_key, [a.public_key()]).unwrap()).unwrap();
        let (c, _) = run(&mut client, &mut server);
        assert_eq!(c.unwrap_err(), TlsError::Protocol(key_refused()));
        assert!(!client.is_established());
    }

    #[test]
    fn server_refuses_its_own_key() {
        let b = key(2);
        let mut client = TlsSession::client(&client_config(&b, b.public_key()).unwrap()).unwrap();
        let mut server = TlsSession::server(&server_config(&b, [b.public_key()]).unwrap()).unwrap();
        let (_, s) = run(&mut client, &mut server);
        assert!(s.unwrap_err().is_authentication_failure());
    }

    #[test]
    fn garbage_is_a_typed_error_not_a_panic() {
        let b = key(2);
        let mut server =
            TlsSession::server(&server_config(&b, [key(1).public_key()]).unwrap()).unwrap();
        assert!(server
            .receive(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
            .is_err());
        assert!(server.receive(b"more").is_err(), "stays failed");
        let mut server =
            TlsSession::server(&server_config(&b, [key(1).public_key()]).unwrap()).unwrap();
        // A record header announcing more than the TLS maximum.
        assert!(server.receive(&[0x16, 0x03, 0x03, 0xff, 0xff]).is_err());
    }
}
