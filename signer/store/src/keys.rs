//! Per-purpose subkeys of the sealing key (HKDF-SHA256, one `info` label per purpose) and the
//! record-block cipher with its nonce layout.
//!
//! Subkeys:
//! - `superblock-mac`: HMAC-SHA256 key authenticating the two superblock slots. It does not depend
//!   on the store id, because the store id is read from the superblock it authenticates.
//! - `block-aead-session/<store id ‖ session id>`: AES-256-GCM key for the log blocks written in
//!   one open session (format 2). The 128-bit session id is drawn at random at every open and
//!   written at the head of each block body, so a disk rolled back to an old nonce reservation
//!   still never repeats a (key, nonce) pair: see docs/DESIGN.md, "Nonces".
//! - `block-aead/<store id>`: the format-1 block key, only for reading blocks written before.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::SealingKey;

/// HKDF salt: names the scheme and its version so keys never collide with another use of the
/// same sealing key.
const HKDF_SALT: &[u8] = b"tdsigner-store/v1";

/// Derives a 32-byte subkey for `label` (‖ `context`) from the sealing key.
pub(crate) fn derive_subkey(
    sealing: &SealingKey,
    label: &[u8],
    context: &[u8],
) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), sealing.expose());
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 255*32 output limit, so expand cannot fail.
    let _ = hk.expand_multi_info(&[label, b"/", context], out.as_mut());
    out
}

/// Key for the superblock MAC.
pub(crate) struct SuperblockMac {
    key: Zeroizing<[u8; 32]>,
}

impl SuperblockMac {
    pub(crate) fn new(sealing: &SealingKey) -> Self {
        Self {
            key: derive_subkey(sealing, b"superblock-mac", b""),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        match <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref()) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        }
    }

    pub(crate) fn tag(&self, data: &[u8]) -> [u8; 32] {
        let mut m = self.mac();
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Constant-time check of `tag` over `data`.
    pub(crate) fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut m = self.mac();
        m.update(data);
        m.verify_slice(tag).is_ok()
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // Hmac::new_from_slice only fails for fixed-key-size MACs; HMAC has none.
    panic!("HMAC-SHA256 rejected a 32-byte key")
}

/// AES-256-GCM for log blocks. The 96-bit nonce is the 64-bit block counter (big-endian, persisted
/// and reserved ahead on disk) followed by a 32-bit salt drawn at random when the store is opened.
/// The counter makes nonces unique across crashes within one key; since format 2 the key itself is
/// fresh per open session ([`BlockCipher::for_session`]), which is what keeps a host that rolls the
/// disk back to an older counter reservation from causing a repeat (see docs/DESIGN.md).
pub(crate) struct BlockCipher {
    aead: Aes256Gcm,
}

pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

pub(crate) fn block_nonce(counter: u64, salt: [u8; 4]) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..8].copy_from_slice(&counter.to_be_bytes());
    n[8..].copy_from_slice(&salt);
    n
}

impl BlockCipher {
    /// The key of one open session (format 2).
    pub(crate) fn for_session(sealing: &SealingKey, store_id: &[u8; 16], session_id: &[u8; 16]) -> Self {
        let mut context = [0u8; 32];
        context[..16].copy_from_slice(store_id);
        context[16..].copy_from_slice(session_id);
        let key = derive_subkey(sealing, b"block-aead-session", &context);
        Self {
            aead: Aes256Gcm::new(key.as_ref().into()),
        }
    }

    /// The format-1 key (one per store), for reading old blocks.
    pub(crate) fn legacy(sealing: &SealingKey, store_id: &[u8; 16]) -> Self {
        let key = derive_subkey(sealing, b"block-aead", store_id);
        Self {
            aead: Aes256Gcm::new(key.as_ref().into()),
        }
    }

    /// Encrypts `buf` in place; returns the tag (`None` only for inputs over GCM's 64 GiB limit,
    /// which block size caps rule out).
    pub(crate) fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Option<[u8; TAG_LEN]> {
        self.aead
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
            .ok()
            .map(Into::into)
    }

    /// Decrypts `buf` in place if `tag` authenticates it with `aad`.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> bool {
        self.aead
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(tag))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_are_separated_by_label_and_context() {
        let k = SealingKey::from_bytes([1; 32]);
        let a = derive_subkey(&k, b"superblock-mac", b"");
        let b = derive_subkey(&k, b"block-aead", &[0; 16]);
        let c = derive_subkey(&k, b"block-aead", &[1; 16]);
        assert_ne!(*a, *b);
        assert_ne!(*b, *c);
        // Same inputs, same key (the store must re-derive identical keys after a reboot).
        assert_eq!(*b, *derive_subkey(&k, b"block-aead", &[0; 16]));
    }

    #[test]
    fn hkdf_matches_rfc5869_shape() {
        // Pin the derivation: HKDF-SHA256(salt="tdsigner-store/v1", ikm=0x00*32, info="superblock-mac/").
        let k = SealingKey::from_bytes([0; 32]);
        let ours = derive_subkey(&k, b"superblock-mac", b"");
        let hk = Hkdf::<Sha256>::new(Some(b"tdsigner-store/v1"), &[0u8; 32]);
        let mut expect = [0u8; 32];
        hk.expand(b"superblock-mac/", &mut expect).unwrap();
        assert_eq!(*ours, expect);
    }

    #[test]
    fn session_keys_differ_per_session_and_from_the_legacy_key() {
        let k = SealingKey::from_bytes([5; 32]);
        let nonce = block_nonce(1, [0; 4]);
        let seal = |c: &BlockCipher| {
            let mut buf = *b"same plaintext";
            let tag = c.seal(&nonce, b"aad", &mut buf).unwrap();
            (buf, tag)
        };
        let a = seal(&BlockCipher::for_session(&k, &[3; 16], &[1; 16]));
        let b = seal(&BlockCipher::for_session(&k, &[3; 16], &[2; 16]));
        let legacy = seal(&BlockCipher::legacy(&k, &[3; 16]));
        assert_ne!(a, b, "same nonce, different sessions: different keystreams");
        assert_ne!(a, legacy);
        assert_eq!(a, seal(&BlockCipher::for_session(&k, &[3; 16], &[1; 16])));
    }

    #[test]
    fn block_cipher_round_trip_and_aad_binding() {
        let k = SealingKey::from_bytes([2; 32]);
        let c = BlockCipher::legacy(&k, &[3; 16]);
        let nonce = block_nonce(5, [9, 9, 9, 9]);
        let mut buf = *b"plaintext";
        let tag = c.seal(&nonce, b"aad", &mut buf).unwrap();
        let mut wrong = buf;
        assert!(!c.open(&nonce, b"other aad", &mut wrong, &tag));
        assert!(c.open(&nonce, b"aad", &mut buf, &tag));
        assert_eq!(&buf, b"plaintext");
    }
}
