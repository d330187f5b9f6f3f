//! The slice of borsh NEAR hashes and signs: a writer for the fixed layouts this
//! crate builds, and a bounded reader for bytes that come from outside (the
//! persisted light-client state). Every read is checked; nothing here panics.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Appends borsh encodings to a byte vector.
#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u128(&mut self, v: u128) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Fixed-size bytes (arrays are written without a length).
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(v);
        self
    }
    /// A length prefix for a sequence. Lengths beyond u32 cannot be borsh;
    /// callers bound their inputs far below that, so saturating is unreachable.
    pub fn len(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }
    /// `Vec<u8>` / `String`: u32 length then the bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.len(v.len());
        self.raw(v)
    }
    pub fn string(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Needed `wanted` more bytes at `offset`.
    Truncated { offset: usize, wanted: usize },
    /// A sequence longer than the caller's bound.
    TooLong { offset: usize, len: u32, max: u32 },
    /// An enum/option tag or bool that is not defined.
    BadTag { offset: usize, tag: u8 },
    /// A string that is not UTF-8.
    NotUtf8 { offset: usize },
    /// Bytes left over after the value.
    TrailingBytes { count: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { offset, wanted } => write!(f, "truncated at byte {offset} (needed {wanted} more)"),
            Self::TooLong { offset, len, max } => write!(f, "length {len} at byte {offset} exceeds {max}"),
            Self::BadTag { offset, tag } => write!(f, "undefined tag {tag} at byte {offset}"),
            Self::NotUtf8 { offset } => write!(f, "string at byte {offset} is not UTF-8"),
            Self::TrailingBytes { count } => write!(f, "{count} trailing bytes"),
        }
    }
}

/// Reads borsh from a slice with explicit bounds on every length.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }
    pub fn offset(&self) -> usize {
        self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = self.data.get(self.pos..end).ok_or(DecodeError::Truncated { offset: self.pos, wanted: n })?;
                self.pos = end;
                Ok(s)
            }
            None => Err(DecodeError::Truncated { offset: self.pos, wanted: n }),
        }
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn u128(&mut self) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array()?))
    }
    /// A sequence length, refused above `max`.
    pub fn len(&mut self, max: u32) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let len = self.u32()?;
        if len > max {
            return Err(DecodeError::TooLong { offset, len, max });
        }
        Ok(len as usize)
    }
    pub fn bytes(&mut self, max: u32) -> Result<&'a [u8], DecodeError> {
        let n = self.len(max)?;
        self.take(n)
    }
    pub fn string(&mut self, max: u32) -> Result<String, DecodeError> {
        let offset = self.pos;
        let b = self.bytes(max)?;
        core::str::from_utf8(b).map(String::from).map_err(|_| DecodeError::NotUtf8 { offset })
    }
    pub fn tag(&mut self, max_tag: u8) -> Result<u8, DecodeError> {
        let offset = self.pos;
        let t = self.u8()?;
        if t > max_tag {
            return Err(DecodeError::BadTag { offset, tag: t });
        }
        Ok(t)
    }
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.tag(1)? == 1)
    }
    /// Errors if any bytes remain.
    pub fn finish(self) -> Result<(), DecodeError> {
        let rest = self.data.len().saturating_sub(self.pos);
        if rest != 0 {
            return Err(DecodeError::TrailingBytes { count: rest });
        }
        Ok(())
    }
}
