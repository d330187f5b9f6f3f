//! The SHA-384 extend rule shared by TDX's run-time measurement registers (RTMR0-3).
//!
//! An RTMR starts at 48 zero bytes and every extend replaces it with
//! `SHA-384(current ‖ digest)`. Replaying an event log is the same fold over the logged digests.

use sha2::{Digest, Sha384};

/// Length of a SHA-384 digest and of every TDX measurement register.
pub const DIGEST_LEN: usize = 48;

/// A SHA-384 digest (the unit every TDX measurement register is made of).
pub type Sha384Digest = [u8; DIGEST_LEN];

/// SHA-384 of `data`.
pub fn sha384(data: &[u8]) -> Sha384Digest {
    Sha384::digest(data).into()
}

/// SHA-384 over the concatenation of `parts` (without building the concatenation).
pub fn sha384_parts(parts: &[&[u8]]) -> Sha384Digest {
    let mut hasher = Sha384::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// One run-time measurement register, as software mirrors it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rtmr {
    value: Sha384Digest,
}

impl Default for Rtmr {
    fn default() -> Self {
        Self::new()
    }
}

impl Rtmr {
    /// A register in its reset state (48 zero bytes).
    pub const fn new() -> Self {
        Self { value: [0; DIGEST_LEN] }
    }

    /// A register holding `value` (e.g. read from a TD report).
    pub const fn from_value(value: Sha384Digest) -> Self {
        Self { value }
    }

    /// `self = SHA-384(self ‖ digest)`.
    pub fn extend(&mut self, digest: &Sha384Digest) {
        self.value = sha384_parts(&[&self.value, digest]);
    }

    /// The current value.
    pub const fn value(&self) -> Sha384Digest {
        self.value
    }
}

/// The register value after extending a reset register with `digests` in order.
pub fn fold<'a>(digests: impl IntoIterator<Item = &'a Sha384Digest>) -> Sha384Digest {
    let mut register = Rtmr::new();
    for digest in digests {
        register.extend(digest);
    }
    register.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fold_is_zero() {
        assert_eq!(fold([]), [0u8; 48]);
    }

    #[test]
    fn fold_is_sequential_hash_chain() {
        let a = sha384(b"a");
        let b = sha384(b"b");
        let mut concat = [0u8; 96];
        concat[48..].copy_from_slice(&a);
        let after_a = sha384(&concat);
        let mut concat2 = [0u8; 96];
        concat2[..48].copy_from_slice(&after_a);
        concat2[48..].copy_from_slice(&b);
        assert_eq!(fold([&a, &b]), sha384(&concat2));
        assert_ne!(fold([&a, &b]), fold([&b, &a]));
    }
}
