//! Decoding the UEFI load options, which carry the kernel command line as
//! UCS-2/UTF-16LE, usually NUL-terminated.
//!
//! The exact bytes are measured (RTMR2) before decoding; decoding only has to
//! be strict: an odd length, unpaired surrogates or text after the first NUL
//! are errors, never silently dropped.

/// Why load options could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadOptionsError {
    /// Odd number of bytes.
    OddLength,
    /// An unpaired surrogate at this UTF-16 unit index.
    BadUtf16 { unit: usize },
    /// Non-NUL units after the first NUL.
    DataAfterNul,
    /// The output buffer is too small.
    TooLong,
}

/// Decodes UTF-16LE `bytes` into `out`, stopping at the first NUL. Returns
/// the number of bytes written (UTF-8).
pub fn decode_load_options(bytes: &[u8], out: &mut [u8]) -> Result<usize, LoadOptionsError> {
    if bytes.len() % 2 != 0 {
        return Err(LoadOptionsError::OddLength);
    }
    let units = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    let nul = units.clone().position(|u| u == 0);
    let text_units = nul.unwrap_or(bytes.len() / 2);
    if let Some(n) = nul {
        if units.clone().skip(n).any(|u| u != 0) {
            return Err(LoadOptionsError::DataAfterNul);
        }
    }
    let mut written = 0;
    for (unit, decoded) in char::decode_utf16(units.take(text_units)).enumerate() {
        let c = decoded.map_err(|_| LoadOptionsError::BadUtf16 { unit })?;
        let mut buf = [0u8; 4];
        let s = c.encode_utf8(&mut buf);
        let end = written + s.len();
        if end > out.len() {
            return Err(LoadOptionsError::TooLong);
        }
        out[written..end].copy_from_slice(s.as_bytes());
        written = end;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn decodes_with_and_without_nul() {
        let mut out = [0u8; 64];
        let n = decode_load_options(&utf16("net=dhcp http=80\0"), &mut out).unwrap();
        assert_eq!(&out[..n], b"net=dhcp http=80");
        let n = decode_load_options(&utf16("a=b"), &mut out).unwrap();
        assert_eq!(&out[..n], b"a=b");
        let n = decode_load_options(&utf16("x\0\0\0"), &mut out).unwrap();
        assert_eq!(&out[..n], b"x");
        assert_eq!(decode_load_options(&[], &mut out), Ok(0));
    }

    #[test]
    fn refuses_malformed() {
        let mut out = [0u8; 8];
        assert_eq!(decode_load_options(&[0x41], &mut out), Err(LoadOptionsError::OddLength));
        assert_eq!(
            decode_load_options(&utf16("a\0b"), &mut out),
            Err(LoadOptionsError::DataAfterNul)
        );
        assert_eq!(
            decode_load_options(&[0x00, 0xd8, 0x41, 0x00], &mut out),
            Err(LoadOptionsError::BadUtf16 { unit: 0 })
        );
        assert_eq!(
            decode_load_options(&utf16("123456789"), &mut out),
            Err(LoadOptionsError::TooLong)
        );
    }
}
