//! Frames: the unit of the byte stream inside a TLS connection, and the control messages.
//!
//! This module owns the wire layout and a streaming, bounded decoder. Layout (little-endian):
//!
//! ```text
//! body_len u32 | channel u8 | session [u8; 32] | seq u64 | payload (body_len - 41 bytes)
//! ```
//!
//! `body_len` counts everything after itself. Channel 0 carries the connection's control
//! messages ([`Control`]: hello, acknowledgement, ping), with session all zero and sequence 0;
//! channels `1..MAX_CHANNELS` carry application messages, numbered per peer and channel from 1.
//! A length prefix above the configured limit is refused as soon as its four bytes arrive,
//! before anything is buffered for it.

use alloc::vec::Vec;
use core::fmt;

use tdsigner_tss::{ParticipantId, SessionId};

/// Bytes of the length prefix.
pub const LEN_BYTES: usize = 4;
/// Bytes of the header after the length prefix: channel, session, sequence number.
pub const HEADER_BYTES: usize = 1 + 32 + 8;
/// Number of channels, the control channel 0 included. Per-peer state is kept per channel, so
/// this bounds it.
pub const MAX_CHANNELS: usize = 16;
/// The default payload limit: the threshold engine's largest message.
pub const DEFAULT_MAX_PAYLOAD: usize = tdsigner_tss::wire::MAX_MESSAGE_BYTES;
/// Control channel number.
pub(crate) const CONTROL: u8 = 0;

/// An application channel: one per protocol, so that a slow or misbehaving protocol's messages
/// are numbered (and counted) apart from the others'.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Channel(u8);

impl Channel {
    /// Distributed key generation, resharing and refresh (tss `ProtocolKind::Dkg`).
    pub const DKG: Channel = Channel(1);
    /// Beaver triple generation (tss `ProtocolKind::Triples`).
    pub const TRIPLES: Channel = Channel(2);
    /// Presignatures (tss `ProtocolKind::Presign`).
    pub const PRESIGN: Channel = Channel(3);
    /// Signatures (tss `ProtocolKind::Sign`).
    pub const SIGN: Channel = Channel(4);
    /// Node coordination (e.g. the leader announcing a computation); not bound to sessions by
    /// default.
    pub const COORDINATION: Channel = Channel(5);

    /// Channel `n`; `None` for the control channel 0 and for `n >= MAX_CHANNELS`.
    pub const fn new(n: u8) -> Option<Channel> {
        if n == CONTROL || n as usize >= MAX_CHANNELS {
            None
        } else {
            Some(Channel(n))
        }
    }

    /// The channel of a threshold protocol kind (the tss wire's `kind` byte).
    pub fn for_protocol(kind: tdsigner_tss::wire::ProtocolKind) -> Channel {
        Channel(kind as u8)
    }

    pub const fn number(self) -> u8 {
        self.0
    }
}

/// Why bytes could not be read as frames. A stream that produced one of these cannot be
/// resynchronised: the connection is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix announces a payload over the limit.
    TooLarge { payload_len: u64, max: usize },
    /// The length prefix is shorter than the header.
    TooShort { body_len: u32 },
    /// The decoder failed before and refuses further input.
    Poisoned,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { payload_len, max } => {
                write!(f, "frame payload of {payload_len} bytes, limit {max}")
            }
            FrameError::TooShort { body_len } => write!(
                f,
                "frame body of {body_len} bytes is shorter than the header"
            ),
            FrameError::Poisoned => write!(f, "frame stream already failed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FrameError {}

/// A decoded frame.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Channel number; 0 is control (not validated further here).
    pub channel: u8,
    pub session: SessionId,
    pub seq: u64,
    pub payload: Vec<u8>,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Payloads can carry private protocol shares: print their length only.
        f.debug_struct("Frame")
            .field("channel", &self.channel)
            .field("seq", &self.seq)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// Encoded length of a frame with `payload_len` payload bytes.
pub const fn encoded_len(payload_len: usize) -> usize {
    LEN_BYTES + HEADER_BYTES + payload_len
}

/// Appends one frame to `out`. The caller checks the payload limit; a payload too long for the
/// `u32` length prefix is refused here.
pub fn encode_frame(
    out: &mut Vec<u8>,
    channel: u8,
    session: &SessionId,
    seq: u64,
    payload: &[u8],
) -> Result<(), FrameError> {
    let body = HEADER_BYTES
        .checked_add(payload.len())
        .and_then(|b| u32::try_from(b).ok())
        .ok_or(FrameError::TooLarge {
            payload_len: payload.len() as u64,
            max: u32::MAX as usize - HEADER_BYTES,
        })?;
    out.reserve(LEN_BYTES + body as usize);
    out.extend_from_slice(&body.to_le_bytes());
    out.push(channel);
    out.extend_from_slice(session);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// A streaming frame decoder with a payload limit. Input arrives in arbitrary pieces.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf` (compacted lazily).
    start: usize,
    max_payload: usize,
    failed: bool,
}

impl FrameDecoder {
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_payload,
            failed: false,
        }
    }

    /// Bytes received and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Adds input. Fails (and poisons the decoder) as soon as a length prefix over the limit is
    /// visible, so an oversize frame is never buffered.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if self.failed {
            return Err(FrameError::Poisoned);
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        // Check every complete length prefix now visible, without consuming.
        let mut pos = self.start;
        while let Some(body_len) = self
            .buf
            .get(pos..pos.saturating_add(LEN_BYTES))
            .map(read_u32)
        {
            self.check_len(body_len)?;
            pos = pos.saturating_add(LEN_BYTES + body_len as usize);
        }
        Ok(())
    }

    fn check_len(&mut self, body_len: u32) -> Result<(), FrameError> {
        let err = if (body_len as usize) < HEADER_BYTES {
            Some(FrameError::TooShort { body_len })
        } else if body_len as usize - HEADER_BYTES > self.max_payload {
            Some(FrameError::TooLarge {
                payload_len: (body_len as usize - HEADER_BYTES) as u64,
                max: self.max_payload,
            })
        } else {
            None
        };
        match err {
            Some(e) => {
                self.failed = true;
                self.buf = Vec::new();
                self.start = 0;
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// Decodes `input` into `out`: completes the buffered frame first, then parses whole frames
    /// straight from `input` (no copy into the buffer), then buffers the incomplete rest. The
    /// same frames as `push` + `next_frame`, with one copy fewer for most bytes.
    pub fn decode(&mut self, mut input: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameError> {
        if self.failed {
            return Err(FrameError::Poisoned);
        }
        while self.buffered() > 0 && !input.is_empty() {
            let unread = self.buf.get(self.start..).unwrap_or(&[]);
            let need = match unread.get(..LEN_BYTES).map(read_u32) {
                None => LEN_BYTES - unread.len(),
                Some(body_len) => (LEN_BYTES + body_len as usize)
                    .saturating_sub(unread.len())
                    .max(1),
            };
            let (head, tail) = input.split_at(need.min(input.len()));
            input = tail;
            self.push(head)?;
            while let Some(f) = self.next_frame()? {
                out.push(f);
            }
        }
        while let Some(body_len) = input.get(..LEN_BYTES).map(read_u32) {
            self.check_len(body_len)?;
            let total = LEN_BYTES + body_len as usize;
            let (Some(body), Some(rest)) = (input.get(LEN_BYTES..total), input.get(total..)) else {
                break;
            };
            out.push(parse_body(body, body_len)?);
            input = rest;
        }
        self.push(input)
    }

    /// The next complete frame, if any.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.failed {
            return Err(FrameError::Poisoned);
        }
        let Some(body_len) = self
            .buf
            .get(self.start..self.start + LEN_BYTES)
            .map(read_u32)
        else {
            return Ok(None);
        };
        self.check_len(body_len)?;
        let unread = self.buf.get(self.start..).unwrap_or(&[]);
        let total = LEN_BYTES + body_len as usize;
        let Some(frame) = unread.get(LEN_BYTES..total) else {
            return Ok(None);
        };
        let out = parse_body(frame, body_len)?;
        self.start += total;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(out))
    }
}

/// A frame from its body (everything after the length prefix; at least the header, checked by
/// the caller through `check_len`).
fn parse_body(body: &[u8], body_len: u32) -> Result<Frame, FrameError> {
    let short = FrameError::TooShort { body_len };
    let (channel, rest) = body.split_first().ok_or(short.clone())?;
    let (session, rest) = rest.split_at_checked(32).ok_or(short.clone())?;
    let (seq, payload) = rest.split_at_checked(8).ok_or(short.clone())?;
    Ok(Frame {
        channel: *channel,
        session: session.try_into().map_err(|_| short.clone())?,
        seq: u64::from_le_bytes(seq.try_into().map_err(|_| short)?),
        payload: payload.to_vec(),
    })
}

fn read_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
    u32::from_le_bytes(a)
}

/// Version of the hello exchange; a peer speaking another is refused.
pub const PROTOCOL_VERSION: u16 = 1;

const TAG_HELLO: u8 = 1;
const TAG_ACK: u8 = 2;
const TAG_PING: u8 = 3;

/// Highest sequence number received, per channel.
pub type AckList = Vec<(Channel, u64)>;

/// A control message (channel 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// First frame each side sends on a new connection.
    Hello(Hello),
    /// Highest sequence numbers received so far on each channel from the other side.
    Ack(AckList),
    /// Keeps an idle connection observably alive.
    Ping,
}

/// The hello: who the sender claims to be and where the two message streams resume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    /// The participant the sender claims to be; must be the one its TLS key is registered for.
    pub claimed: ParticipantId,
    /// Random per process start; a new value means the sender restarted.
    pub incarnation: u64,
    /// The receiver's incarnation as the sender knows it (0: unknown). The acks below refer to
    /// that incarnation's stream.
    pub peer_incarnation: u64,
    /// Highest sequence numbers the sender has received from `peer_incarnation`, per channel.
    pub acks: AckList,
}

/// Why a control message was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlError {
    Empty,
    UnknownTag(u8),
    Truncated {
        what: &'static str,
    },
    TrailingBytes,
    /// Too many ack entries, a control/unknown channel in one, or a channel listed twice.
    BadAck,
}

impl Control {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Control::Hello(h) => {
                out.push(TAG_HELLO);
                out.extend_from_slice(&h.version.to_le_bytes());
                out.extend_from_slice(&h.claimed.0.to_le_bytes());
                out.extend_from_slice(&h.incarnation.to_le_bytes());
                out.extend_from_slice(&h.peer_incarnation.to_le_bytes());
                encode_acks(&mut out, &h.acks);
            }
            Control::Ack(acks) => {
                out.push(TAG_ACK);
                encode_acks(&mut out, acks);
            }
            Control::Ping => out.push(TAG_PING),
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ControlError> {
        let (tag, mut r) = bytes.split_first().ok_or(ControlError::Empty)?;
        let msg = match *tag {
            TAG_HELLO => {
                let version = u16::from_le_bytes(take::<2>(&mut r, "version")?);
                let claimed = ParticipantId(u32::from_le_bytes(take::<4>(&mut r, "claimed id")?));
                let incarnation = u64::from_le_bytes(take::<8>(&mut r, "incarnation")?);
                let peer_incarnation = u64::from_le_bytes(take::<8>(&mut r, "peer incarnation")?);
                let acks = decode_acks(&mut r)?;
                Control::Hello(Hello {
                    version,
                    claimed,
                    incarnation,
                    peer_incarnation,
                    acks,
                })
            }
            TAG_ACK => Control::Ack(decode_acks(&mut r)?),
            TAG_PING => Control::Ping,
            t => return Err(ControlError::UnknownTag(t)),
        };
        if !r.is_empty() {
            return Err(ControlError::TrailingBytes);
        }
        Ok(msg)
    }
}

fn encode_acks(out: &mut Vec<u8>, acks: &[(Channel, u64)]) {
    out.push(acks.len() as u8);
    for (c, seq) in acks {
        out.push(c.number());
        out.extend_from_slice(&seq.to_le_bytes());
    }
}

fn decode_acks(r: &mut &[u8]) -> Result<AckList, ControlError> {
    let [n] = take::<1>(r, "ack count")?;
    if n as usize >= MAX_CHANNELS {
        return Err(ControlError::BadAck);
    }
    let mut out: AckList = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let [c] = take::<1>(r, "ack channel")?;
        let seq = u64::from_le_bytes(take::<8>(r, "ack seq")?);
        let ch = Channel::new(c).ok_or(ControlError::BadAck)?;
        if out.iter().any(|(x, _)| *x == ch) {
            return Err(ControlError::BadAck);
        }
        out.push((ch, seq));
    }
    Ok(out)
}

fn take<const N: usize>(r: &mut &[u8], what: &'static str) -> Result<[u8; N], ControlError> {
    let (head, tail) = r
        .split_at_checked(N)
        .ok_or(ControlError::Truncated { what })?;
    let out: [u8; N] = head
        .try_into()
        .map_err(|_| ControlError::Truncated { what })?;
    *r = tail;
    Ok(out)
}

/// The channel and session of a threshold-engine message, read from its envelope, so a node can
/// route tss `Action`s without parsing them itself.
pub fn route_of_tss_message(msg: &[u8]) -> Result<(Channel, SessionId), tdsigner_tss::DecodeError> {
    let env = tdsigner_tss::wire::Envelope::decode(msg)?;
    let ch = Channel::new(env.kind).ok_or(tdsigner_tss::DecodeError::BadValue {
        what: "protocol kind",
    })?;
    Ok((ch, env.session))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut bytes = Vec::new();
        encode_frame(&mut bytes, 3, &[7; 32], 42, b"hello").unwrap();
        encode_frame(&mut bytes, 1, &[0; 32], 1, b"").unwrap();
        assert_eq!(bytes.len(), encoded_len(5) + encoded_len(0));
        let mut d = FrameDecoder::new(16);
        let mut got = Vec::new();
        for b in &bytes {
            d.push(core::slice::from_ref(b)).unwrap();
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(
            (
                got[0].channel,
                got[0].seq,
                got[0].session,
                &got[0].payload[..]
            ),
            (3, 42, [7; 32], &b"hello"[..])
        );
        assert_eq!((got[1].channel, got[1].payload.len()), (1, 0));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn oversize_prefix_is_refused_before_the_body_arrives() {
        let mut d = FrameDecoder::new(100);
        let body = (HEADER_BYTES + 101) as u32;
        assert_eq!(
            d.push(&body.to_le_bytes()),
            Err(FrameError::TooLarge {
                payload_len: 101,
                max: 100
            })
        );
        assert_eq!(d.push(b"x"), Err(FrameError::Poisoned));
        assert_eq!(d.next_frame(), Err(FrameError::Poisoned));
        let mut d = FrameDecoder::new(100);
        assert_eq!(
            d.push(&[3, 0, 0, 0]),
            Err(FrameError::TooShort { body_len: 3 })
        );
        // Exactly at the limit is fine.
        let mut d = FrameDecoder::new(100);
        let mut bytes = Vec::new();
        encode_frame(&mut bytes, 1, &[0; 32], 1, &[9; 100]).unwrap();
        d.push(&bytes).unwrap();
        assert_eq!(d.next_frame().unwrap().unwrap().payload.len(), 100);
    }

    #[test]
    fn control_messages_round_trip_and_refuse_junk() {
        let h = Control::Hello(Hello {
            version: PROTOCOL_VERSION,
            claimed: ParticipantId(3),
            incarnation: 9,
            peer_incarnation: 0,
            acks: vec![(Channel::SIGN, 5), (Channel::DKG, 1)],
        });
        assert_eq!(Control::decode(&h.encode()), Ok(h.clone()));
        assert_eq!(Control::decode(&Control::Ping.encode()), Ok(Control::Ping));
        let a = Control::Ack(vec![(Channel::TRIPLES, u64::MAX)]);
        assert_eq!(Control::decode(&a.encode()), Ok(a));
        assert_eq!(Control::decode(&[]), Err(ControlError::Empty));
        assert_eq!(Control::decode(&[9]), Err(ControlError::UnknownTag(9)));
        assert_eq!(
            Control::decode(&[TAG_PING, 0]),
            Err(ControlError::TrailingBytes)
        );
        assert_eq!(
            Control::decode(&[TAG_ACK, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(ControlError::BadAck)
        );
        assert_eq!(
            Control::decode(&[TAG_ACK, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(ControlError::BadAck)
        );
        assert!(matches!(
            Control::decode(&h.encode()[..10]),
            Err(ControlError::Truncated { .. })
        ));
    }

    #[test]
    fn tss_messages_route_to_their_channel() {
        let env = tdsigner_tss::wire::Envelope {
            kind: tdsigner_tss::wire::ProtocolKind::Presign as u8,
            session: [4; 32],
            round: 1,
            from: ParticipantId(0),
            to: None,
            payload: b"x",
        };
        assert_eq!(
            route_of_tss_message(&env.encode()).unwrap(),
            (Channel::PRESIGN, [4; 32])
        );
        assert!(route_of_tss_message(b"junk").is_err());
    }
}
