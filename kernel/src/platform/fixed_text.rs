//! A fixed-capacity text buffer for messages that must be built without the
//! heap (the fatal path: the heap may be what failed).

use core::fmt;

/// Up to `N` bytes of UTF-8; writes past the end are cut at a character
/// boundary and dropped, never an error.
pub struct FixedText<const N: usize> {
    bytes: [u8; N],
    len: usize,
    /// Set once something was dropped: nothing after it is kept either.
    cut: bool,
}

impl<const N: usize> FixedText<N> {
    pub const fn new() -> Self {
        FixedText { bytes: [0; N], len: 0, cut: false }
    }

    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so this cannot fail.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FixedText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.cut {
                break;
            }
            let mut utf8 = [0u8; 4];
            let encoded = c.encode_utf8(&mut utf8).as_bytes();
            if self.len + encoded.len() > N {
                self.cut = true;
                break;
            }
            self.bytes[self.len..self.len + encoded.len()].copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn keeps_what_fits_and_cuts_at_characters() {
        let mut t = FixedText::<8>::new();
        write!(t, "abc{}", 12345678).unwrap();
        assert_eq!(t.as_str(), "abc12345");
        let mut t = FixedText::<4>::new();
        write!(t, "aé€").unwrap(); // 1 + 2 + 3 bytes: the euro sign does not fit
        assert_eq!(t.as_str(), "aé");
        write!(t, "b").unwrap(); // fits, but follows a cut: dropped
        assert_eq!(t.as_str(), "aé");
        assert_eq!(FixedText::<0>::new().as_str(), "");
    }
}
