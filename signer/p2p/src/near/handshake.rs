//! near/mpc's post-TLS handshake (protocol version 8, "Jan2026"), both roles, sans-IO.
//!
//! Owns the 5/9/4 bytes exchanged inside TLS before the first frame: the `0xCC` magic byte,
//! big-endian protocol versions and the connection ids by which a listener refuses a stale
//! redial. The caller writes what [`Handshake::take_output`] returns and feeds what it reads
//! to [`Handshake::receive`], which consumes only handshake bytes (frames may follow in the
//! same read). Version classes: 0..=6 unsupported, 7 Dec2025, 8 and above Jan2026.
use alloc::vec::Vec;

pub const MAGIC_BYTE: u8 = 0xcc;
/// near/mpc 3.14's `CURRENT_PROTOCOL_VERSION` (Jan2026).
pub const PROTOCOL_VERSION: u32 = 8;
const DEC2025: u32 = 7;

/// Which of near's protocol families the peer speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Dec2025,
    /// Version 8, or any later version (treated as 8, as near does).
    Jan2026,
}

fn class(version: u32) -> Option<Protocol> {
    match version {
        0..=6 => None,
        DEC2025 => Some(Protocol::Dec2025),
        _ => Some(Protocol::Jan2026),
    }
}

/// A finished handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub protocol: Protocol,
    /// The version number the peer wrote.
    pub peer_version: u32,
    /// The dialer's connection id (ours when dialing; 1 for a Dec2025 dialer, as near takes it).
    pub sender_connection_id: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    BadMagic(u8),
    UnsupportedVersion(u32),
    /// The dialer's id is below what the listener expects: a stale or duplicate connection.
    ConnectionIdTooLow { min_expected: u32, sender: u32 },
    /// A Dec2025 dialer while a live incoming connection exists (near closes silently).
    LegacyWhileConnected,
    /// More bytes after a failure.
    AlreadyFailed,
}

impl core::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic(b) => write!(f, "invalid magic byte {b:#04x} in handshake"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            Self::ConnectionIdTooLow { min_expected, sender } => {
                write!(f, "connection id {sender} below the expected minimum {min_expected}")
            }
            Self::LegacyWhileConnected => f.write_str("Dec2025 dialer while a connection is live"),
            Self::AlreadyFailed => f.write_str("handshake already failed"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's magic byte and version.
    Hello,
    /// Waiting for the 4-byte id (listener: the dialer's id; dialer: the minimum expected).
    ConnectionId { peer_version: u32 },
    Done,
    Failed,
}

/// One side of the handshake.
#[derive(Debug)]
pub struct Handshake {
    dialer: bool,
    /// Dialer: our id. Listener: the minimum id we accept.
    connection_id: u32,
    version: u32,
    state: State,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Handshake {
    /// The dialing side; it writes first.
    pub fn dialer(sender_connection_id: u32) -> Self {
        let mut out = Vec::with_capacity(5);
        out.push(MAGIC_BYTE);
        out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        Self::with(true, sender_connection_id, out)
    }

    /// The accepting side. `live_incoming` is the sender id of this peer's live incoming
    /// connection, if any: a new one must carry a larger id.
    pub fn listener(live_incoming: Option<u32>) -> Self {
        let min_expected = live_incoming.map_or(0, |id| id.wrapping_add(1));
        Self::with(false, min_expected, Vec::new())
    }

    fn with(dialer: bool, connection_id: u32, out: Vec<u8>) -> Self {
        Self { dialer, connection_id, version: PROTOCOL_VERSION, state: State::Hello, buf: Vec::new(), out }
    }

    /// Bytes to write now (each batch is one write, as near does).
    pub fn take_output(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.out)
    }

    /// Feeds received bytes. Returns how many were handshake bytes and, once finished, the
    /// outcome; bytes after the handshake are left to the caller.
    pub fn receive(&mut self, input: &[u8]) -> Result<(usize, Option<Accepted>), HandshakeError> {
        let mut used = 0;
        loop {
            let need = match self.state {
                State::Hello => 5,
                State::ConnectionId { .. } => 4,
                State::Done => return Ok((used, None)),
                State::Failed => return Err(HandshakeError::AlreadyFailed),
            };
            let take = (need - self.buf.len()).min(input.len() - used);
            self.buf.extend_from_slice(&input[used..used + take]);
            used += take;
            if self.buf.len() < need {
                if self.buf.first().is_some_and(|&b| b != MAGIC_BYTE) && self.state == State::Hello {
                    return self.fail(HandshakeError::BadMagic(self.buf[0]));
                }
                return Ok((used, None));
            }
            let field = core::mem::take(&mut self.buf);
            let step = match self.state {
                State::Hello => self.on_hello(&field),
                _ => self.on_connection_id(&field),
            };
            match step {
                Err(e) => return self.fail(e),
                Ok(Some(done)) => {
                    self.state = State::Done;
                    return Ok((used, Some(done)));
                }
                Ok(None) => {}
            }
        }
    }

    /// Output already queued stays: near's dialer writes its id before it reads the listener's
    /// minimum, so a listener that refuses the id still gets to see it.
    fn fail(&mut self, e: HandshakeError) -> Result<(usize, Option<Accepted>), HandshakeError> {
        self.state = State::Failed;
        Err(e)
    }

    fn on_hello(&mut self, field: &[u8]) -> Result<Option<Accepted>, HandshakeError> {
        if field[0] != MAGIC_BYTE {
            return Err(HandshakeError::BadMagic(field[0]));
        }
        let peer_version = u32::from_be_bytes([field[1], field[2], field[3], field[4]]);
        let protocol = class(peer_version).ok_or(HandshakeError::UnsupportedVersion(peer_version))?;
        match (self.dialer, protocol) {
            (true, Protocol::Dec2025) => {
                Ok(Some(Accepted { protocol, peer_version, sender_connection_id: self.connection_id }))
            }
            (true, Protocol::Jan2026) => {
                self.out.extend_from_slice(&self.connection_id.to_be_bytes());
                self.state = State::ConnectionId { peer_version };
                Ok(None)
            }
            (false, Protocol::Dec2025) => {
                if self.connection_id != 0 {
                    return Err(HandshakeError::LegacyWhileConnected);
                }
                self.push_hello();
                Ok(Some(Accepted { protocol, peer_version, sender_connection_id: 1 }))
            }
            (false, Protocol::Jan2026) => {
                self.push_hello();
                self.out.extend_from_slice(&self.connection_id.to_be_bytes());
                self.state = State::ConnectionId { peer_version };
                Ok(None)
            }
        }
    }

    fn push_hello(&mut self) {
        self.out.push(MAGIC_BYTE);
        self.out.extend_from_slice(&self.version.to_be_bytes());
    }

    fn on_connection_id(&mut self, field: &[u8]) -> Result<Option<Accepted>, HandshakeError> {
        let State::ConnectionId { peer_version } = self.state else {
            return Err(HandshakeError::AlreadyFailed);
        };
        let value = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
        let (min_expected, sender) =
            if self.dialer { (value, self.connection_id) } else { (self.connection_id, value) };
        if min_expected > sender {
            return Err(HandshakeError::ConnectionIdTooLow { min_expected, sender });
        }
        Ok(Some(Accepted { protocol: Protocol::Jan2026, peer_version, sender_connection_id: sender }))
    }
}

/// near's rule for a second accepted connection from the same peer: it replaces the live one
/// only with a strictly larger sender id.
pub fn replaces_incoming(live: Option<u32>, new_sender_id: u32) -> bool {
    live.is_none_or(|id| id < new_sender_id)
}
