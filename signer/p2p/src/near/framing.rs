//! near/mpc's frames: a `u32` big-endian payload length, then the payload (one borsh `Packet`).
//!
//! Owns only the byte stream inside TLS after the handshake. near's limit is 100 MiB per
//! payload; the reader takes its own limit so a node can bound what one peer may make it
//! buffer (a longer frame closes the connection, as near's codec does past its limit).
use alloc::vec::Vec;

/// near's `MAX_MESSAGE_SIZE_BYTES`: the largest payload near sends or accepts.
pub const NEAR_MAX_PAYLOAD: usize = 100 * 1024 * 1024;

/// A frame longer than the reader's limit; the connection must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTooLong {
    pub len: u64,
    pub max: usize,
}

impl core::fmt::Display for FrameTooLong {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "frame of {} bytes exceeds the limit of {} bytes", self.len, self.max)
    }
}

/// Frames one payload: header and payload in one buffer (one TLS write).
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameTooLong> {
    if payload.len() > NEAR_MAX_PAYLOAD {
        return Err(FrameTooLong { len: payload.len() as u64, max: NEAR_MAX_PAYLOAD });
    }
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Streaming frame reader: bytes in any split, whole payloads out.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    max: usize,
    failed: bool,
}

impl FrameReader {
    /// `max` is capped at near's own limit.
    pub fn new(max: usize) -> Self {
        Self { buf: Vec::new(), max: max.min(NEAR_MAX_PAYLOAD), failed: false }
    }

    /// Bytes waiting for the rest of their frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends received bytes and returns every payload now complete. After an error the
    /// reader stays failed: the stream has lost its framing.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, FrameTooLong> {
        if self.failed {
            return Err(FrameTooLong { len: 0, max: self.max });
        }
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut at = 0;
        while let Some(header) = self.buf.get(at..at + 4) {
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            if len > self.max {
                self.failed = true;
                self.buf.clear();
                return Err(FrameTooLong { len: len as u64, max: self.max });
            }
            let Some(payload) = self.buf.get(at + 4..at + 4 + len) else { break };
            frames.push(payload.to_vec());
            at += 4 + len;
        }
        self.buf.drain(..at);
        Ok(frames)
    }
}
