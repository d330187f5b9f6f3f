//! A tiny bounded byte codec for the node's own formats (coordination messages, stored
//! records). Every read checks the remaining length; errors say what was being read.

use alloc::vec::Vec;
use core::fmt;

/// Why bytes did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// Ran out of bytes while reading `what`.
    Truncated { what: &'static str },
    /// A value outside its allowed range or set.
    BadValue { what: &'static str },
    /// Bytes left after the last field.
    TrailingBytes,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what } => write!(f, "truncated while reading {what}"),
            Self::BadValue { what } => write!(f, "invalid {what}"),
            Self::TrailingBytes => f.write_str("trailing bytes"),
        }
    }
}

/// Reads fields from a byte slice.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(CodecError::Truncated { what })?;
        self.rest = tail;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CodecError> {
        let b = self.bytes(N, what)?;
        b.try_into().map_err(|_| CodecError::Truncated { what })
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A `u32` length prefix then that many bytes, at most `max`.
    pub fn var_bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(CodecError::BadValue { what });
        }
        self.bytes(n, what)
    }

    pub fn finish(self) -> Result<(), CodecError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CodecError::TrailingBytes)
        }
    }
}

/// Appends fields to a buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
    /// `u32` length then the bytes (callers keep lengths far below `u32::MAX`).
    pub fn var_bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.raw(b)
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}
