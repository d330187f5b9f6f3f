//! A bounded DER TLV reader: the raw bytes of a certificate's or CRL's signed
//! part (the signature covers those exact bytes, not a re-encoding), and the
//! walk over Intel's SGX extension (nested `SEQUENCE { OID, value }` pairs).
//! Only definite lengths up to 4 length bytes; anything else is refused.

/// One DER element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet (single-byte tags only).
    pub tag: u8,
    /// The contents.
    pub value: &'a [u8],
    /// Tag, length and contents together.
    pub raw: &'a [u8],
}

pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_OID: u8 = 0x06;
pub const TAG_ENUMERATED: u8 = 0x0a;
pub const TAG_SEQUENCE: u8 = 0x30;

/// Reads the element at the start of `bytes`; returns it and the rest.
pub fn read(bytes: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tag: not used by anything parsed here
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (len_bytes, rest) = (rest.get(..n)?, rest.get(n..)?);
        if len_bytes.first() == Some(&0) {
            return None; // non-minimal
        }
        let len = len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return None; // non-minimal
        }
        (len, rest)
    };
    let value = rest.get(..len)?;
    let header = bytes.len() - rest.len();
    let raw = bytes.get(..header + len)?;
    Some((Tlv { tag, value, raw }, rest.get(len..)?))
}

/// Reads exactly one element filling `bytes`.
pub fn read_all(bytes: &[u8]) -> Option<Tlv<'_>> {
    match read(bytes)? {
        (tlv, []) => Some(tlv),
        _ => None,
    }
}

/// The elements inside a constructed value, in order (bounded by the input).
pub fn children(value: &[u8]) -> Children<'_> {
    Children { rest: value, failed: false }
}

/// Iterator over the elements of a constructed value; yields `None` as an
/// item (`Some(None)`) once if the bytes do not parse, then stops.
pub struct Children<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Option<Tlv<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match read(self.rest) {
            Some((tlv, rest)) => {
                self.rest = rest;
                Some(Some(tlv))
            }
            None => {
                self.failed = true;
                Some(None)
            }
        }
    }
}

/// The raw bytes of the first element inside the outer SEQUENCE of a signed
/// structure (`Certificate` → `tbsCertificate`, `CertificateList` → `tbsCertList`).
pub fn signed_part(der: &[u8]) -> Option<&[u8]> {
    let outer = read_all(der)?;
    if outer.tag != TAG_SEQUENCE {
        return None;
    }
    let (first, _) = read(outer.value)?;
    (first.tag == TAG_SEQUENCE).then_some(first.raw)
}

/// A small unsigned DER INTEGER (SVNs): at most 2 value bytes after an
/// optional leading zero; negative values refused.
pub fn small_unsigned(value: &[u8]) -> Option<u16> {
    let digits = match value {
        [0, rest @ ..] if !rest.is_empty() => rest,
        [first, ..] if first & 0x80 != 0 => return None,
        _ => value,
    };
    if digits.is_empty() || digits.len() > 2 {
        return None;
    }
    Some(digits.iter().fold(0u16, |acc, b| (acc << 8) | u16::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths() {
        let (t, rest) = read(&[0x04, 2, 9, 8, 7]).unwrap();
        assert_eq!((t.tag, t.value, rest), (0x04, &[9u8, 8][..], &[7u8][..]));
        let mut long = alloc::vec![0x04, 0x81, 0x80];
        long.extend(core::iter::repeat(1).take(0x80));
        assert_eq!(read_all(&long).unwrap().value.len(), 0x80);
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert!(read(&[0x04, 3, 1]).is_none(), "longer than input");
        assert!(read(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_none(), "non-minimal long form");
        assert!(read(&[0x04, 0x80]).is_none(), "indefinite");
        assert!(read(&[0x04, 0x85, 1, 1, 1, 1, 1]).is_none(), "5 length bytes");
        assert!(read(&[0x1f, 0x01, 0]).is_none(), "multi-byte tag");
        assert!(read_all(&[0x04, 1, 1, 0]).is_none(), "trailing byte");
    }

    #[test]
    fn children_stop_on_garbage() {
        let items: alloc::vec::Vec<_> = children(&[0x02, 1, 5, 0x04, 9]).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_some() && items[1].is_none());
    }

    #[test]
    fn small_integers() {
        assert_eq!(small_unsigned(&[5]), Some(5));
        assert_eq!(small_unsigned(&[0, 0xff]), Some(255));
        assert_eq!(small_unsigned(&[1, 0]), Some(256));
        assert_eq!(small_unsigned(&[0x80]), None);
        assert_eq!(small_unsigned(&[1, 2, 3]), None);
        assert_eq!(small_unsigned(&[]), None);
    }
}
