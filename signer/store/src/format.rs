//! On-disk layout: the two superblock slots and the log blocks, with their parsers.
//!
//! ```text
//! sector 0, 1           superblock slots A and B (written alternately; the valid one with the
//!                       highest generation is the committed state)
//! sector 2 ..           region 0  (log blocks, sector-aligned)
//! sector 2+R ..         region 1  (compaction writes the live records here, then flips)
//! ```
//!
//! Superblock sector: `magic(8) ‖ body_len u16 LE ‖ postcard(Superblock) ‖ HMAC-SHA256(32) ‖
//! CRC32 u32 LE ‖ zeros`. The CRC tells a torn or decayed sector from a forged one (valid CRC,
//! bad MAC).
//!
//! Log block: a 64-byte cleartext header, then (format 2) the 16-byte id of the session whose key
//! sealed it, then the AES-256-GCM ciphertext of `postcard(Vec<Op>)` with its 16-byte tag,
//! zero-padded to whole sectors. Format-1 blocks lack the session id and are still read. The header carries
//! format version, epoch, sequence number, nonce, body length and the previous block's tag; the AAD
//! is the header (minus its CRCs) ‖ store id ‖ SHA-256(node identity). Record kind and id travel
//! inside the ciphertext, so they are authenticated by the same tag as the AAD and stay hidden
//! from the host.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::device::SECTOR_SIZE;
use crate::keys::{SuperblockMac, NONCE_LEN, TAG_LEN};
use crate::secret::SealingKey;

/// Version of the on-disk format written now; bound into every block's AAD and every superblock.
/// Version 2 seals each block under a per-open session key whose 16-byte id leads the block body.
pub const FORMAT_VERSION: u16 = 2;
/// Version 1: blocks sealed directly under the store's block key (still read, never written).
pub const LEGACY_FORMAT_VERSION: u16 = 1;
/// Length of the session id that leads a version-2 block body.
pub const SESSION_ID_LEN: usize = 16;

/// Whether `v` is a format version this code reads.
pub fn is_readable_version(v: u16) -> bool {
    v == FORMAT_VERSION || v == LEGACY_FORMAT_VERSION
}

/// Smallest valid body of a block of format `v`: the tag, after the session id in version 2.
pub fn min_body_len(v: u16) -> u32 {
    if v == LEGACY_FORMAT_VERSION {
        TAG_LEN as u32
    } else {
        (SESSION_ID_LEN + TAG_LEN) as u32
    }
}
/// Sectors taken by the superblock slots at the start of the device.
pub const SUPERBLOCK_SECTORS: u64 = 2;
/// Largest block body (ciphertext + tag) the scanner accepts; bounds allocation on hostile input.
pub const MAX_BLOCK_BODY: u32 = 2 * 1024 * 1024;

const SB_MAGIC: &[u8; 8] = b"TDSSTORE";
const SB_MAC_LEN: usize = 32;
const SB_FIXED: usize = 8 + 2 + SB_MAC_LEN + 4;
/// Largest superblock body that fits a sector.
const SB_MAX_BODY: usize = SECTOR_SIZE - SB_FIXED;

/// The committed state of the store, one copy per slot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub format_version: u16,
    /// Monotonic: +1 on every superblock write. This is the number the node attests and publishes.
    pub generation: u64,
    /// Random id drawn when the store was formatted; bound into the block key and every AAD.
    pub store_id: [u8; 16],
    /// SHA-256 of the node identity the store belongs to.
    pub node_digest: [u8; 32],
    /// Sectors per region (both regions are the same size).
    pub region_sectors: u64,
    /// Region holding the live log (0 or 1).
    pub active_region: u8,
    /// +1 on every compaction; bound into every block's AAD.
    pub epoch: u64,
    /// Committed length of the active log, in sectors.
    pub log_end: u64,
    /// Committed number of blocks in the active log.
    pub block_count: u64,
    /// Tag of the last committed block (all zero when the log is empty).
    pub last_tag: [u8; TAG_LEN],
    /// Block nonce counters below this value may have been used; the next session starts here.
    pub nonce_reserved: u64,
}

impl Superblock {
    /// First sector of region `r`.
    pub fn region_start(&self, r: u8) -> u64 {
        SUPERBLOCK_SECTORS + u64::from(r) * self.region_sectors
    }
}

/// Why a superblock slot could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotFault {
    /// Not a superblock at all (garbage or another format).
    BadMagic,
    /// Length field larger than a sector allows.
    BadLength,
    /// CRC mismatch: torn write or decayed/flipped bits.
    Checksum,
    /// CRC fine but MAC wrong: written with another sealing key (another node or image), or forged.
    Authentication,
    /// Authenticated but not decodable (format bug or unsupported future layout).
    Encoding,
    /// Bytes after the CRC are not zero.
    NonZeroPadding,
}

/// What a superblock slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    /// All zero: never written.
    Blank,
    Valid(Superblock),
    Damaged(SlotFault),
}

pub(crate) fn encode_superblock(sb: &Superblock, mac: &SuperblockMac) -> Option<[u8; SECTOR_SIZE]> {
    let mut body = [0u8; SB_MAX_BODY];
    let used = postcard::to_slice(sb, &mut body).ok()?.len();
    let mut out = [0u8; SECTOR_SIZE];
    out[..8].copy_from_slice(SB_MAGIC);
    out[8..10].copy_from_slice(&(used as u16).to_le_bytes());
    out[10..10 + used].copy_from_slice(&body[..used]);
    let mac_at = 10 + used;
    let tag = mac.tag(&out[..mac_at]);
    out[mac_at..mac_at + SB_MAC_LEN].copy_from_slice(&tag);
    let crc_at = mac_at + SB_MAC_LEN;
    let crc = crc32fast::hash(&out[..crc_at]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    Some(out)
}

/// Decodes one superblock slot (hostile bytes: every length is checked).
pub fn decode_superblock(sector: &[u8], key: &SealingKey) -> SlotState {
    decode_superblock_with(sector, &SuperblockMac::new(key))
}

pub(crate) fn decode_superblock_with(sector: &[u8], mac: &SuperblockMac) -> SlotState {
    if sector.iter().all(|&b| b == 0) {
        return SlotState::Blank;
    }
    if sector.len() != SECTOR_SIZE || sector.get(..8) != Some(&SB_MAGIC[..]) {
        return SlotState::Damaged(SlotFault::BadMagic);
    }
    let used = u16::from_le_bytes([sector[8], sector[9]]) as usize;
    if used > SB_MAX_BODY {
        return SlotState::Damaged(SlotFault::BadLength);
    }
    let mac_at = 10 + used;
    let crc_at = mac_at + SB_MAC_LEN;
    let end = crc_at + 4;
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(&sector[crc_at..end]);
    if crc32fast::hash(&sector[..crc_at]) != u32::from_le_bytes(crc_bytes) {
        return SlotState::Damaged(SlotFault::Checksum);
    }
    if !mac.verify(&sector[..mac_at], &sector[mac_at..crc_at]) {
        return SlotState::Damaged(SlotFault::Authentication);
    }
    if sector[end..].iter().any(|&b| b != 0) {
        return SlotState::Damaged(SlotFault::NonZeroPadding);
    }
    match postcard::take_from_bytes::<Superblock>(&sector[10..mac_at]) {
        Ok((sb, [])) => SlotState::Valid(sb),
        _ => SlotState::Damaged(SlotFault::Encoding),
    }
}

/// Size of a log block header.
pub const BLOCK_HEADER_LEN: usize = 64;
/// Header bytes covered by the header CRC and the AAD.
const HEADER_AUTH_LEN: usize = 56;
const BLOCK_MAGIC: &[u8; 4] = b"TDSB";

/// Cleartext header of a log block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    pub format_version: u16,
    pub epoch: u64,
    pub seq: u64,
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext length including the 16-byte GCM tag.
    pub body_len: u32,
    pub prev_tag: [u8; TAG_LEN],
    /// CRC32 of the body (ciphertext ‖ tag).
    pub body_crc: u32,
}

/// Why bytes are not a valid block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFault {
    /// Fewer than [`BLOCK_HEADER_LEN`] bytes.
    Short,
    /// All zero: nothing was ever written here (or it was wiped).
    Blank,
    BadMagic,
    /// Header CRC mismatch (torn write, flipped bit).
    Checksum,
    UnsupportedVersion(u16),
    NonZeroFlags,
    /// Body length outside `TAG_LEN..=MAX_BLOCK_BODY`.
    BadLength(u32),
}

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

impl BlockHeader {
    /// Parses and checks a header from the first [`BLOCK_HEADER_LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, HeaderFault> {
        let b = bytes.get(..BLOCK_HEADER_LEN).ok_or(HeaderFault::Short)?;
        if b.iter().all(|&x| x == 0) {
            return Err(HeaderFault::Blank);
        }
        if &b[..4] != BLOCK_MAGIC {
            return Err(HeaderFault::BadMagic);
        }
        if crc32fast::hash(&b[..HEADER_AUTH_LEN]) != u32::from_le_bytes(arr(b, 56)) {
            return Err(HeaderFault::Checksum);
        }
        let format_version = u16::from_le_bytes(arr(b, 4));
        if !is_readable_version(format_version) {
            return Err(HeaderFault::UnsupportedVersion(format_version));
        }
        if b[6] != 0 || b[7] != 0 {
            return Err(HeaderFault::NonZeroFlags);
        }
        let body_len = u32::from_le_bytes(arr(b, 36));
        if !(min_body_len(format_version)..=MAX_BLOCK_BODY).contains(&body_len) {
            return Err(HeaderFault::BadLength(body_len));
        }
        Ok(Self {
            format_version,
            epoch: u64::from_le_bytes(arr(b, 8)),
            seq: u64::from_le_bytes(arr(b, 16)),
            nonce: arr(b, 24),
            body_len,
            prev_tag: arr(b, 40),
            body_crc: u32::from_le_bytes(arr(b, 60)),
        })
    }

    /// The header bytes covered by the header CRC and the AAD.
    pub fn auth_bytes(&self) -> [u8; HEADER_AUTH_LEN] {
        let mut b = [0u8; HEADER_AUTH_LEN];
        b[..4].copy_from_slice(BLOCK_MAGIC);
        b[4..6].copy_from_slice(&self.format_version.to_le_bytes());
        // 6..8: flags, zero.
        b[8..16].copy_from_slice(&self.epoch.to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..36].copy_from_slice(&self.nonce);
        b[36..40].copy_from_slice(&self.body_len.to_le_bytes());
        b[40..56].copy_from_slice(&self.prev_tag);
        b
    }

    pub fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        let auth = self.auth_bytes();
        b[..HEADER_AUTH_LEN].copy_from_slice(&auth);
        b[56..60].copy_from_slice(&crc32fast::hash(&auth).to_le_bytes());
        b[60..64].copy_from_slice(&self.body_crc.to_le_bytes());
        b
    }

    /// Sectors the whole block (header + body + padding) occupies.
    pub fn block_sectors(&self) -> u64 {
        block_sectors_for(self.body_len as usize)
    }
}

/// Sectors a block with a `body_len`-byte body occupies.
pub fn block_sectors_for(body_len: usize) -> u64 {
    (BLOCK_HEADER_LEN + body_len).div_ceil(SECTOR_SIZE) as u64
}

/// AAD of a block: header ‖ store id ‖ node digest.
pub(crate) fn block_aad(
    header: &BlockHeader,
    store_id: &[u8; 16],
    node_digest: &[u8; 32],
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_AUTH_LEN + 16 + 32);
    aad.extend_from_slice(&header.auth_bytes());
    aad.extend_from_slice(store_id);
    aad.extend_from_slice(node_digest);
    aad
}

/// One operation inside a block's plaintext. Byte strings are postcard `bytes` (varint length ‖
/// raw bytes) and decode borrowed from the plaintext buffer, so values are not copied twice.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    Put {
        kind: u16,
        #[serde(borrow, serialize_with = "as_bytes")]
        id: &'a [u8],
        #[serde(borrow, serialize_with = "as_bytes")]
        value: &'a [u8],
    },
    Delete {
        kind: u16,
        #[serde(borrow, serialize_with = "as_bytes")]
        id: &'a [u8],
    },
}

/// Serializes a slice as one byte string rather than element by element (same postcard wire
/// format, far fewer calls).
fn as_bytes<S: serde::Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> BlockHeader {
        BlockHeader {
            format_version: FORMAT_VERSION,
            epoch: 3,
            seq: 9,
            nonce: [1; 12],
            body_len: 100,
            prev_tag: [2; 16],
            body_crc: 0xdead_beef,
        }
    }

    #[test]
    fn header_round_trips_and_rejects_each_fault() {
        let h = sample_header();
        let enc = h.encode();
        assert_eq!(BlockHeader::parse(&enc), Ok(h.clone()));
        assert_eq!(BlockHeader::parse(&enc[..63]), Err(HeaderFault::Short));
        assert_eq!(BlockHeader::parse(&[0u8; 64]), Err(HeaderFault::Blank));
        let mut bad = enc;
        bad[0] ^= 1;
        assert_eq!(BlockHeader::parse(&bad), Err(HeaderFault::BadMagic));
        let mut bad = enc;
        bad[20] ^= 1;
        assert_eq!(BlockHeader::parse(&bad), Err(HeaderFault::Checksum));
        let mut big = h.clone();
        big.body_len = MAX_BLOCK_BODY + 1;
        assert_eq!(
            BlockHeader::parse(&big.encode()),
            Err(HeaderFault::BadLength(MAX_BLOCK_BODY + 1))
        );
    }

    #[test]
    fn superblock_round_trips_and_classifies_faults() {
        let key = SealingKey::from_bytes([5; 32]);
        let mac = SuperblockMac::new(&key);
        let sb = Superblock {
            format_version: FORMAT_VERSION,
            generation: u64::MAX,
            store_id: [7; 16],
            node_digest: [8; 32],
            region_sectors: u64::MAX,
            active_region: 1,
            epoch: u64::MAX,
            log_end: u64::MAX,
            block_count: u64::MAX,
            last_tag: [9; 16],
            nonce_reserved: u64::MAX,
        };
        let sector = encode_superblock(&sb, &mac).unwrap();
        assert_eq!(decode_superblock(&sector, &key), SlotState::Valid(sb));
        assert_eq!(
            decode_superblock(&[0u8; SECTOR_SIZE], &key),
            SlotState::Blank
        );
        let mut flipped = sector;
        flipped[40] ^= 4;
        assert_eq!(
            decode_superblock(&flipped, &key),
            SlotState::Damaged(SlotFault::Checksum)
        );
        assert_eq!(
            decode_superblock(&sector, &SealingKey::from_bytes([6; 32])),
            SlotState::Damaged(SlotFault::Authentication)
        );
        let mut padded = sector;
        padded[SECTOR_SIZE - 1] = 1;
        assert_eq!(
            decode_superblock(&padded, &key),
            SlotState::Damaged(SlotFault::NonZeroPadding)
        );
        let mut long = sector;
        long[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(
            decode_superblock(&long, &key),
            SlotState::Damaged(SlotFault::BadLength)
        );
    }

    #[test]
    fn ops_encode_as_postcard() {
        let ops = alloc::vec![
            Op::Put {
                kind: 1,
                id: b"a",
                value: b"xyz"
            },
            Op::Delete { kind: 2, id: b"b" }
        ];
        let bytes = postcard::to_allocvec(&ops).unwrap();
        // len 2 ‖ Put(0) kind 1 ‖ id len 1 'a' ‖ value len 3 'xyz' ‖ Delete(1) kind 2 ‖ id len 1 'b'
        assert_eq!(
            bytes,
            [2, 0, 1, 1, b'a', 3, b'x', b'y', b'z', 1, 2, 1, b'b']
        );
        let back: Vec<Op<'_>> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, ops);
    }
}
