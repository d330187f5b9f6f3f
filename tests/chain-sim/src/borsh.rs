//! The borsh subset the simulator writes (headers, stakes, outcomes) and
//! reads (transactions from the network). The reader bounds every length and
//! returns typed errors; nothing here panics on input.

use std::fmt;

/// Appends borsh encodings.
#[derive(Default)]
pub struct Encoder {
    pub bytes: Vec<u8>,
}

impl Encoder {
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
    /// Fixed-size arrays: no length prefix.
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(v);
        self
    }
    /// A sequence length. Everything the simulator encodes is bounded far
    /// below u32::MAX, so saturation cannot happen in practice.
    pub fn len(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.len(v.len()).raw(v)
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
    /// `wanted` more bytes were needed at `offset`.
    Truncated { offset: usize, wanted: usize },
    /// A length above the caller's bound.
    TooLong { offset: usize, len: u32, max: u32 },
    /// An enum tag, option tag or bool that is not defined.
    BadTag { offset: usize, tag: u8 },
    NotUtf8 { offset: usize },
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

/// Reads borsh from a slice.
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }
    pub fn offset(&self) -> usize {
        self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let err = DecodeError::Truncated { offset: self.pos, wanted: n };
        let end = self.pos.checked_add(n).ok_or(err.clone())?;
        let s = self.data.get(self.pos..end).ok_or(err)?;
        self.pos = end;
        Ok(s)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let [b] = self.array::<1>()?;
        Ok(b)
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
    pub fn len(&mut self, max: u32) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let len = self.u32()?;
        if len > max {
            return Err(DecodeError::TooLong { offset, len, max });
        }
        usize::try_from(len).map_err(|_| DecodeError::TooLong { offset, len, max })
    }
    pub fn bytes(&mut self, max: u32) -> Result<&'a [u8], DecodeError> {
        let n = self.len(max)?;
        self.take(n)
    }
    pub fn string(&mut self, max: u32) -> Result<String, DecodeError> {
        let offset = self.pos;
        let b = self.bytes(max)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| DecodeError::NotUtf8 { offset })
    }
    /// An enum tag in `0..=max_tag`.
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
    pub fn finish(self) -> Result<(), DecodeError> {
        let rest = self.data.len().saturating_sub(self.pos);
        if rest != 0 {
            return Err(DecodeError::TrailingBytes { count: rest });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut e = Encoder::new();
        e.u8(7).u32(9).u64(11).u128(13).string("hé").bool(true);
        let b = e.finish();
        let mut d = Decoder::new(&b);
        assert_eq!(d.u8().unwrap(), 7);
        assert_eq!(d.u32().unwrap(), 9);
        assert_eq!(d.u64().unwrap(), 11);
        assert_eq!(d.u128().unwrap(), 13);
        assert_eq!(d.string(10).unwrap(), "hé");
        assert!(d.bool().unwrap());
        d.finish().unwrap();
        let mut d = Decoder::new(&[5, 0, 0, 0, 1]);
        assert!(matches!(d.bytes(4), Err(DecodeError::TooLong { .. })));
        let mut d = Decoder::new(&[3, 0, 0, 0, 1]);
        assert!(matches!(d.bytes(4), Err(DecodeError::Truncated { .. })));
        let mut d = Decoder::new(&[2]);
        assert!(matches!(d.bool(), Err(DecodeError::BadTag { .. })));
    }
}
