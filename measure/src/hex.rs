//! Lower-case hex encoding and strict decoding (no_std), with serde helpers for the JSON shapes
//! this crate reads and writes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a hex string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    /// Odd number of hex digits.
    OddLength(usize),
    /// A character that is not a hex digit, at this byte offset.
    InvalidDigit(usize),
    /// Decoded length differs from the one required.
    WrongLength { expected: usize, found: usize },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::OddLength(n) => write!(f, "odd number of hex digits ({n})"),
            HexError::InvalidDigit(i) => write!(f, "invalid hex digit at offset {i}"),
            HexError::WrongLength { expected, found } => {
                write!(f, "expected {expected} bytes, found {found}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HexError {}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble & 0x0f), 16).unwrap_or('0')
}

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case). The empty string decodes to no bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let raw = text.as_bytes();
    if !raw.len().is_multiple_of(2) {
        return Err(HexError::OddLength(raw.len()));
    }
    let mut out = Vec::with_capacity(raw.len() / 2);
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        let (hi, lo) = match pair {
            [hi, lo] => (*hi, *lo),
            _ => return Err(HexError::OddLength(raw.len())),
        };
        let hi = nibble(hi).ok_or(HexError::InvalidDigit(i * 2))?;
        let lo = nibble(lo).ok_or(HexError::InvalidDigit(i * 2 + 1))?;
        out.push((hi << 4) | lo);
    }
    Ok(out)
}

/// Decodes hex into exactly `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let bytes = decode(text)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| HexError::WrongLength { expected: N, found: bytes.len() })
}

/// serde adapter: `Vec<u8>` as a hex string.
pub mod serde_bytes_hex {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <alloc::borrow::Cow<'de, str>>::deserialize(d)?;
        decode(&text).map_err(serde::de::Error::custom)
    }
}

/// serde adapter: a 48-byte digest as a hex string.
pub mod serde_digest_hex {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 48], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 48], D::Error> {
        let text = <alloc::borrow::Cow<'de, str>>::deserialize(d)?;
        decode_array::<48>(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(decode("00ABff").as_deref(), Ok(&[0x00, 0xab, 0xff][..]));
        assert_eq!(decode("abc"), Err(HexError::OddLength(3)));
        assert_eq!(decode("zz"), Err(HexError::InvalidDigit(0)));
        assert_eq!(decode_array::<2>("aabbcc"), Err(HexError::WrongLength { expected: 2, found: 3 }));
        assert_eq!(decode("").as_deref(), Ok(&[][..]));
    }
}
