//! The MessagePack subset near's protocols put on the wire, as `rmp_serde` (1.3 defaults) emits
//! it: structs and tuples as arrays, enums as one-entry maps `{"Variant": value}`, `Option` as
//! the value or `nil`, integers in their shortest form, and fixed byte strings (hashes, scalars,
//! compressed points) as arrays of integers. Encoding goes through `rmp`; decoding is a bounded
//! reader over a byte slice that classifies markers with `rmp::Marker` and never allocates
//! more than the input length.

use alloc::vec::Vec;
use rmp::encode::ByteBuf;
use rmp::Marker;

use super::error::DecodeError;

/// Appends MessagePack values to a byte buffer (which may start with a message header).
pub struct Writer(ByteBuf);

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    pub fn new() -> Self {
        Self(ByteBuf::new())
    }

    /// A writer whose output starts with `prefix` (the 40-byte channel/waitpoint header).
    pub fn with_prefix(prefix: &[u8]) -> Self {
        Self(ByteBuf::from_vec(prefix.to_vec()))
    }

    pub fn array(&mut self, len: usize) {
        // Infallible writer; lengths are produced by us and fit in u32.
        let _ = rmp::encode::write_array_len(&mut self.0, len as u32);
    }

    pub fn map(&mut self, len: usize) {
        let _ = rmp::encode::write_map_len(&mut self.0, len as u32);
    }

    pub fn uint(&mut self, v: u64) {
        let _ = rmp::encode::write_uint(&mut self.0, v);
    }

    pub fn bool(&mut self, v: bool) {
        let _ = rmp::encode::write_bool(&mut self.0, v);
    }

    pub fn str(&mut self, s: &str) {
        let _ = rmp::encode::write_str(&mut self.0, s);
    }

    pub fn nil(&mut self) {
        let _ = rmp::encode::write_nil(&mut self.0);
    }

    /// A fixed-size byte string, as serde serializes `[u8; N]`: an array of integers.
    pub fn byte_array(&mut self, bytes: &[u8]) {
        self.array(bytes.len());
        for b in bytes {
            self.uint(u64::from(*b));
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.0.into_vec()
    }
}

/// Reads MessagePack values from a slice; every length is checked against what remains.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { what });
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn be(&mut self, n: usize, what: &'static str) -> Result<u64, DecodeError> {
        let bytes = self.take(n, what)?;
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn marker(&mut self, what: &'static str) -> Result<(Marker, u8, usize), DecodeError> {
        let at = self.pos;
        let byte = *self
            .take(1, what)?
            .first()
            .ok_or(DecodeError::Truncated { what })?;
        Ok((Marker::from_u8(byte), byte, at))
    }

    fn peek_marker(&self) -> Option<Marker> {
        self.data.get(self.pos).map(|b| Marker::from_u8(*b))
    }

    fn unexpected(what: &'static str, marker: u8, offset: usize) -> DecodeError {
        DecodeError::UnexpectedMarker {
            what,
            marker,
            offset,
        }
    }

    /// A length that counts items of at least one byte each: bounded by the remaining input.
    fn bounded(&self, len: u64, what: &'static str) -> Result<usize, DecodeError> {
        let max = self.remaining();
        match usize::try_from(len) {
            Ok(l) if l <= max => Ok(l),
            _ => Err(DecodeError::TooLong {
                what,
                len: usize::try_from(len).unwrap_or(usize::MAX),
                max,
            }),
        }
    }

    pub fn array_len(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let (m, byte, at) = self.marker(what)?;
        let len = match m {
            Marker::FixArray(n) => u64::from(n),
            Marker::Array16 => self.be(2, what)?,
            Marker::Array32 => self.be(4, what)?,
            _ => return Err(Self::unexpected(what, byte, at)),
        };
        self.bounded(len, what)
    }

    /// An array that must have exactly `n` elements (a struct or tuple of `n` fields).
    pub fn tuple(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        let got = self.array_len(what)?;
        if got != n {
            return Err(DecodeError::WrongLength {
                what,
                expected: n,
                got,
            });
        }
        Ok(())
    }

    pub fn map_len(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let (m, byte, at) = self.marker(what)?;
        let len = match m {
            Marker::FixMap(n) => u64::from(n),
            Marker::Map16 => self.be(2, what)?,
            Marker::Map32 => self.be(4, what)?,
            _ => return Err(Self::unexpected(what, byte, at)),
        };
        // Each entry takes at least two bytes.
        self.bounded(len.saturating_mul(2), what).map(|l| l / 2)
    }

    /// A non-negative integer in any MessagePack integer form.
    pub fn uint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let (m, byte, at) = self.marker(what)?;
        let signed = |v: i64| u64::try_from(v).map_err(|_| DecodeError::IntOutOfRange { what });
        match m {
            Marker::FixPos(v) => Ok(u64::from(v)),
            Marker::U8 => self.be(1, what),
            Marker::U16 => self.be(2, what),
            Marker::U32 => self.be(4, what),
            Marker::U64 => self.be(8, what),
            Marker::I8 => signed(i64::from(self.be(1, what)? as u8 as i8)),
            Marker::I16 => signed(i64::from(self.be(2, what)? as u16 as i16)),
            Marker::I32 => signed(i64::from(self.be(4, what)? as u32 as i32)),
            Marker::I64 => signed(self.be(8, what)? as i64),
            Marker::FixNeg(_) => Err(DecodeError::IntOutOfRange { what }),
            _ => Err(Self::unexpected(what, byte, at)),
        }
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        u32::try_from(self.uint(what)?).map_err(|_| DecodeError::IntOutOfRange { what })
    }

    pub fn usize(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        usize::try_from(self.uint(what)?).map_err(|_| DecodeError::IntOutOfRange { what })
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        let (m, byte, at) = self.marker(what)?;
        match m {
            Marker::True => Ok(true),
            Marker::False => Ok(false),
            _ => Err(Self::unexpected(what, byte, at)),
        }
    }

    pub fn str(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let (m, byte, at) = self.marker(what)?;
        let len = match m {
            Marker::FixStr(n) => u64::from(n),
            Marker::Str8 => self.be(1, what)?,
            Marker::Str16 => self.be(2, what)?,
            Marker::Str32 => self.be(4, what)?,
            _ => return Err(Self::unexpected(what, byte, at)),
        };
        let len = self.bounded(len, what)?;
        self.take(len, what)
    }

    /// True (and consumed) if the next value is `nil` (a `None`).
    pub fn nil(&mut self) -> bool {
        if matches!(self.peek_marker(), Some(Marker::Null)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A fixed-size byte string: an array of `N` integers 0..=255, or a `bin` of `N` bytes.
    pub fn byte_array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        if matches!(
            self.peek_marker(),
            Some(Marker::Bin8 | Marker::Bin16 | Marker::Bin32)
        ) {
            let (m, _, _) = self.marker(what)?;
            let len = match m {
                Marker::Bin8 => self.be(1, what)?,
                Marker::Bin16 => self.be(2, what)?,
                _ => self.be(4, what)?,
            };
            let len = self.bounded(len, what)?;
            if len != N {
                return Err(DecodeError::WrongLength {
                    what,
                    expected: N,
                    got: len,
                });
            }
            out.copy_from_slice(self.take(N, what)?);
            return Ok(out);
        }
        self.tuple(N, what)?;
        for b in out.iter_mut() {
            *b = u8::try_from(self.uint(what)?).map_err(|_| DecodeError::IntOutOfRange { what })?;
        }
        Ok(out)
    }

    /// A byte string of exactly `n` bytes (a fixed array whose length is a runtime value).
    pub fn byte_vec(&mut self, n: usize, what: &'static str) -> Result<Vec<u8>, DecodeError> {
        let got = self.array_len(what)?;
        if got != n {
            return Err(DecodeError::WrongLength {
                what,
                expected: n,
                got,
            });
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(
                u8::try_from(self.uint(what)?).map_err(|_| DecodeError::IntOutOfRange { what })?,
            );
        }
        Ok(out)
    }

    /// Succeeds only if every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_arrays_are_integer_arrays_like_rmp_serde() {
        let mut w = Writer::new();
        w.byte_array(&[0x00, 0x7f, 0x80, 0xff]);
        assert_eq!(w.as_slice(), &[0x94, 0x00, 0x7f, 0xcc, 0x80, 0xcc, 0xff]);
        let mut w = Writer::new();
        w.byte_array(&[1u8; 32]);
        assert_eq!(&w.as_slice()[..3], &[0xdc, 0x00, 0x20]);
        let mut r = Reader::new(w.as_slice());
        assert_eq!(r.byte_array::<32>("x").unwrap(), [1u8; 32]);
        r.finish().unwrap();
    }

    #[test]
    fn lengths_beyond_the_input_are_refused() {
        let data = [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01];
        let err = Reader::new(&data).array_len("a").unwrap_err();
        assert!(matches!(err, DecodeError::TooLong { .. }));
    }
}
