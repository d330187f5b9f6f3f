//! A host that rolls the disk back to an old image rewinds the nonce counter reservation. The
//! block nonce may then repeat; the (key, nonce) pair must not, because every open draws a fresh
//! 128-bit session id and seals its blocks under a key derived from it.

mod common;

use common::{key, KIND, NODE};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tdsigner_store::device::MemDevice;
use tdsigner_store::format::{BlockHeader, BLOCK_HEADER_LEN, FORMAT_VERSION, SESSION_ID_LEN};
use tdsigner_store::{OpenOptions, Store, SECTOR_SIZE};

/// An RNG whose 4-byte draws (the per-open nonce salt) are always the same, as in the worst case
/// of the old 32-bit salt, while other draws stay random.
struct SameSalt(StdRng);
impl RngCore for SameSalt {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if dest.len() == 4 {
            dest.copy_from_slice(&[7, 7, 7, 7]);
        } else {
            self.0.fill_bytes(dest);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand::CryptoRng for SameSalt {}

/// (nonce, session id) of every format-2 block in an image.
fn sealed_blocks(image: &[u8]) -> Vec<([u8; 12], [u8; SESSION_ID_LEN])> {
    image
        .chunks(SECTOR_SIZE)
        .enumerate()
        .filter_map(|(i, sector)| {
            let h = BlockHeader::parse(sector).ok()?;
            (h.format_version == FORMAT_VERSION).then_some(())?;
            let at = i * SECTOR_SIZE + BLOCK_HEADER_LEN;
            let mut sid = [0u8; SESSION_ID_LEN];
            sid.copy_from_slice(&image[at..at + SESSION_ID_LEN]);
            Some((h.nonce, sid))
        })
        .collect()
}

#[test]
fn rolled_back_disk_repeats_nonces_but_never_key_and_nonce() {
    let mut s = Store::format(MemDevice::new(512), &key(), NODE, Default::default(), &mut SameSalt(StdRng::seed_from_u64(1))).unwrap();
    s.put(KIND, b"a", b"1").unwrap();
    let snapshot = s.into_device().durable_image().to_vec();
    let mut seen = Vec::new();
    for session in 0..20u64 {
        // Every session starts from the same old image: same reservation, same salt.
        let dev = MemDevice::from_image(snapshot.clone());
        let (mut s, _) =
            Store::open(dev, &key(), NODE, OpenOptions::default(), &mut SameSalt(StdRng::seed_from_u64(100 + session))).unwrap();
        for i in 0..5u8 {
            s.put(KIND, &[b'k', i], &[i; 40]).unwrap();
        }
        let image = s.into_device().durable_image().to_vec();
        let new: Vec<_> = sealed_blocks(&image).into_iter().filter(|b| !seen.contains(b)).collect();
        assert!(new.len() >= 5, "session {session} wrote {} new blocks", new.len());
        seen.extend(new);
        // And the rolled-back-then-written store still opens with every value.
        let (s, _) = Store::open(MemDevice::from_image(image), &key(), NODE, OpenOptions::default(), &mut StdRng::seed_from_u64(9)).unwrap();
        assert_eq!(s.get(KIND, &[b'k', 4]).unwrap().expose(), &[4; 40]);
    }
    // The nonce field alone repeats across the rolled-back sessions (the old scheme's failure)...
    let mut nonces: Vec<_> = seen.iter().map(|(n, _)| *n).collect();
    nonces.sort();
    nonces.dedup();
    assert!(nonces.len() < seen.len(), "expected the nonce field to repeat across rollbacks");
    // ...but no (session key, nonce) pair does: the session ids differ per open.
    let mut pairs = seen.clone();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), seen.len());
    let mut sessions: Vec<_> = seen.iter().map(|(_, s)| *s).collect();
    sessions.sort();
    sessions.dedup();
    assert!(sessions.len() >= 20);
}
