//! TLS as a [`ByteStream`] over any [`ByteStream`], using rustls 0.23's
//! unbuffered (no_std) client and the pure-Rust RustCrypto provider, so the
//! same code runs on the host and in the image. The caller supplies the trust
//! roots and a clock (the image has no OS clock; certificate validity needs one).

use alloc::sync::Arc;
use alloc::vec::Vec;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use rustls::{ClientConfig, RootCertStore};

use super::stream::{ByteStream, StreamError};

/// A clock for certificate validation.
#[derive(Debug)]
pub struct FixedClock(pub Option<u64>);

impl TimeProvider for FixedClock {
    fn current_time(&self) -> Option<UnixTime> {
        self.0.map(UnixTime::since_unix_epoch_secs)
    }
}

trait SinceEpoch {
    fn since_unix_epoch_secs(secs: u64) -> UnixTime;
}
impl SinceEpoch for UnixTime {
    fn since_unix_epoch_secs(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(core::time::Duration::from_secs(secs))
    }
}

/// The public web PKI roots (Mozilla's list, as shipped by webpki-roots).
pub fn web_pki_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// A client config with the RustCrypto provider, safe defaults and `roots`.
pub fn client_config(roots: RootCertStore, clock: Arc<dyn TimeProvider>) -> Result<Arc<ClientConfig>, StreamError> {
    let provider = Arc::new(rustls_rustcrypto::provider());
    let cfg = ClientConfig::builder_with_details(provider, clock)
        .with_safe_default_protocol_versions()
        .map_err(|_| StreamError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

const MAX_TLS_BUF: usize = 64 * 1024 + 2048;

/// A TLS client session over `inner`.
pub struct TlsStream<S: ByteStream> {
    inner: S,
    conn: UnbufferedClientConnection,
    incoming: Vec<u8>,
    incoming_used: usize,
    outgoing: Vec<u8>,
    plaintext: Vec<u8>,
    peer_closed: bool,
}

impl<S: ByteStream> TlsStream<S> {
    /// Starts a session and completes the handshake.
    pub fn connect(inner: S, config: Arc<ClientConfig>, server: &str) -> Result<Self, StreamError> {
        let name = ServerName::try_from(alloc::string::String::from(server)).map_err(|_| StreamError::Tls)?;
        let conn = UnbufferedClientConnection::new(config, name).map_err(|_| StreamError::Tls)?;
        let mut s = Self {
            inner,
            conn,
            incoming: alloc::vec![0u8; 16 * 1024],
            incoming_used: 0,
            outgoing: alloc::vec![0u8; 16 * 1024],
            plaintext: Vec::new(),
            peer_closed: false,
        };
        s.drive(Goal::Handshake)?;
        Ok(s)
    }

    fn read_more(&mut self) -> Result<bool, StreamError> {
        if self.incoming_used == self.incoming.len() {
            if self.incoming.len() >= MAX_TLS_BUF {
                return Err(StreamError::Tls);
            }
            let grown = (self.incoming.len() * 2).min(MAX_TLS_BUF);
            self.incoming.resize(grown, 0);
        }
        let n = self.inner.read(self.incoming.get_mut(self.incoming_used..).unwrap_or(&mut []))?;
        self.incoming_used += n;
        Ok(n > 0)
    }

    /// Runs the TLS state machine until `goal` is reached.
    fn drive(&mut self, goal: Goal<'_>) -> Result<(), StreamError> {
        let mut pending = match goal {
            Goal::Write(d) => Some(d),
            _ => None,
        };
        loop {
            let incoming = self.incoming.get_mut(..self.incoming_used).unwrap_or(&mut []);
            let status = self.conn.process_tls_records(incoming);
            let discard = status.discard;
            let state = status.state.map_err(|_| StreamError::Tls)?;
            let mut need_read = false;
            let mut done = false;
            let mut to_send: Option<usize> = None;
            match state {
                ConnectionState::ReadTraffic(mut rt) => {
                    while let Some(rec) = rt.next_record() {
                        let rec = rec.map_err(|_| StreamError::Tls)?;
                        if self.plaintext.len().saturating_add(rec.payload.len()) > crate::view::MAX_JSON_BYTES + 64 * 1024 {
                            return Err(StreamError::Tls);
                        }
                        self.plaintext.extend_from_slice(rec.payload);
                    }
                    done = matches!(goal, Goal::Read);
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    self.peer_closed = true;
                    if !matches!(goal, Goal::Read) {
                        return Err(StreamError::Io);
                    }
                    done = true;
                }
                ConnectionState::EncodeTlsData(mut enc) => {
                    loop {
                        match enc.encode(&mut self.outgoing) {
                            Ok(n) => {
                                to_send = Some(n);
                                break;
                            }
                            Err(EncodeError::InsufficientSize(e)) if e.required_size <= MAX_TLS_BUF => {
                                self.outgoing.resize(e.required_size, 0);
                            }
                            Err(_) => return Err(StreamError::Tls),
                        }
                    }
                }
                ConnectionState::TransmitTlsData(tx) => tx.done(),
                ConnectionState::BlockedHandshake => need_read = true,
                ConnectionState::WriteTraffic(mut wt) => match (&goal, pending.take()) {
                    (Goal::Write(_), Some(data)) => {
                        let mut used = 0;
                        for piece in data.chunks(8 * 1024) {
                            loop {
                                let out = self.outgoing.get_mut(used..).unwrap_or(&mut []);
                                match wt.encrypt(piece, out) {
                                    Ok(n) => {
                                        used += n;
                                        break;
                                    }
                                    Err(EncryptError::InsufficientSize(e)) if used + e.required_size <= 4 * MAX_TLS_BUF => {
                                        self.outgoing.resize(used + e.required_size, 0);
                                    }
                                    Err(_) => return Err(StreamError::Tls),
                                }
                            }
                        }
                        to_send = Some(used);
                        done = true;
                    }
                    (Goal::Read, _) if self.plaintext.is_empty() && !self.peer_closed => need_read = true,
                    _ => done = true,
                },
                _ => return Err(StreamError::Tls),
            }
            // `state` borrowed the connection and the incoming buffer; both are free again.
            if discard > 0 {
                self.incoming.copy_within(discard..self.incoming_used, 0);
                self.incoming_used -= discard;
            }
            if let Some(n) = to_send {
                let out = self.outgoing.get(..n).unwrap_or(&[]).to_vec();
                self.inner.write_all(&out)?;
            }
            if done {
                return Ok(());
            }
            if need_read && !self.read_more()? {
                if matches!(goal, Goal::Read) {
                    self.peer_closed = true;
                    return Ok(());
                }
                return Err(StreamError::Io);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Goal<'a> {
    Handshake,
    Write(&'a [u8]),
    Read,
}

impl<S: ByteStream> ByteStream for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        if self.plaintext.is_empty() && !self.peer_closed {
            self.drive(Goal::Read)?;
        }
        let n = buf.len().min(self.plaintext.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), self.plaintext.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.plaintext.drain(..n);
        Ok(n)
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), StreamError> {
        self.drive(Goal::Write(data))
    }
}
