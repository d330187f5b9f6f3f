//! Every way the disk can disagree with what the store committed is detected with its own error.

mod common;
use common::*;

use tdsigner_store::device::MemDevice;
use tdsigner_store::format::{BlockHeader, SlotFault, BLOCK_HEADER_LEN};
use tdsigner_store::{FormatOptions, OpenOptions, SealingKey, Store, StoreError, SECTOR_SIZE};

/// A store with three committed single-record blocks of equal size; returns its durable image.
fn three_blocks() -> Vec<u8> {
    let mut s = fresh(128);
    for i in 0..3u8 {
        s.put(KIND, &[b'k', i], &[i; 40]).unwrap();
    }
    s.into_device().durable_image().to_vec()
}

fn open_image(
    image: Vec<u8>,
) -> Result<(Store<MemDevice>, tdsigner_store::OpenReport), StoreError> {
    reopen(MemDevice::from_image(image))
}

/// Region 0 starts at sector 2 on a fresh store.
const REGION0: u64 = 2;

fn block_list(image: &[u8]) -> Vec<(u64, u64)> {
    let (s, _) = open_image(image.to_vec()).unwrap();
    blocks(image, REGION0, s.stats().log_sectors)
}

#[test]
fn intact_store_opens_with_all_records() {
    let (s, report) = open_image(three_blocks()).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s.get(KIND, b"k\x01").unwrap().expose(), &[1u8; 40]);
    assert_eq!(report.other_slot_fault, None);
    assert!(!report.uncommitted_tail);
}

#[test]
fn flipped_bit_in_body_is_a_checksum_error() {
    let image = three_blocks();
    let (sector, _) = block_list(&image)[1];
    let mut dev = MemDevice::from_image(image);
    dev.flip_bit(sector as usize * SECTOR_SIZE + BLOCK_HEADER_LEN + 5, 3);
    match reopen(dev) {
        Err(StoreError::BodyChecksum { at }) => assert_eq!((at.seq, at.sector), (1, sector)),
        other => panic!("expected BodyChecksum, got {other:?}"),
    }
}

#[test]
fn flipped_bit_in_header_is_a_header_checksum_error() {
    let image = three_blocks();
    let (sector, _) = block_list(&image)[2];
    let mut dev = MemDevice::from_image(image);
    dev.flip_bit(sector as usize * SECTOR_SIZE + 20, 0);
    assert!(matches!(
        reopen(dev),
        Err(StoreError::CorruptHeader { at, fault: tdsigner_store::format::HeaderFault::Checksum }) if at.seq == 2
    ));
}

#[test]
fn flipped_bit_in_padding_is_reported() {
    let image = three_blocks();
    let (sector, sectors) = block_list(&image)[0];
    let mut dev = MemDevice::from_image(image);
    dev.flip_bit(((sector + sectors) as usize) * SECTOR_SIZE - 1, 7);
    assert!(matches!(reopen(dev), Err(StoreError::CorruptPadding { at }) if at.seq == 0));
}

#[test]
fn tampered_body_with_fixed_checksum_fails_authentication() {
    let mut image = three_blocks();
    let (sector, _) = block_list(&image)[1];
    let at = sector as usize * SECTOR_SIZE;
    let mut h = BlockHeader::parse(&image[at..at + BLOCK_HEADER_LEN]).unwrap();
    let body = at + BLOCK_HEADER_LEN..at + BLOCK_HEADER_LEN + h.body_len as usize;
    image[body.start + 3] ^= 0x10;
    h.body_crc = crc32fast::hash(&image[body]);
    image[at..at + BLOCK_HEADER_LEN].copy_from_slice(&h.encode());
    assert!(matches!(open_image(image), Err(StoreError::Authentication { at }) if at.seq == 1));
}

fn swap_blocks(image: &mut [u8], a: (u64, u64), b: (u64, u64)) {
    assert_eq!(a.1, b.1, "test blocks must be the same size");
    let len = a.1 as usize * SECTOR_SIZE;
    let (x, y) = (a.0 as usize * SECTOR_SIZE, b.0 as usize * SECTOR_SIZE);
    let tmp = image[x..x + len].to_vec();
    image.copy_within(y..y + len, x);
    image[y..y + len].copy_from_slice(&tmp);
}

#[test]
fn swapped_blocks_are_out_of_order() {
    let mut image = three_blocks();
    let list = block_list(&image);
    swap_blocks(&mut image, list[0], list[1]);
    assert!(
        matches!(open_image(image), Err(StoreError::OutOfOrder { at, found: 1 }) if at.seq == 0)
    );
}

#[test]
fn swapped_blocks_with_rewritten_headers_fail_authentication() {
    // The attacker also rewrites sequence numbers and chain links and fixes the CRCs: the AAD
    // binds them, so the first moved block no longer authenticates.
    let mut image = three_blocks();
    let list = block_list(&image);
    let hdr = |img: &[u8], s: u64| BlockHeader::parse(&img[s as usize * SECTOR_SIZE..]).unwrap();
    let (h0, h1) = (hdr(&image, list[0].0), hdr(&image, list[1].0));
    swap_blocks(&mut image, list[0], list[1]);
    let mut new0 = hdr(&image, list[0].0);
    new0.seq = 0;
    new0.prev_tag = h0.prev_tag;
    let mut new1 = hdr(&image, list[1].0);
    new1.seq = 1;
    new1.prev_tag = h1.prev_tag;
    image[list[0].0 as usize * SECTOR_SIZE..][..BLOCK_HEADER_LEN].copy_from_slice(&new0.encode());
    image[list[1].0 as usize * SECTOR_SIZE..][..BLOCK_HEADER_LEN].copy_from_slice(&new1.encode());
    assert!(matches!(open_image(image), Err(StoreError::Authentication { at }) if at.seq == 0));
}

#[test]
fn removed_middle_block_is_detected() {
    let mut image = three_blocks();
    let list = block_list(&image);
    // Slide block 2 over block 1: the log is now one block short of what was committed.
    let len = list[2].1 as usize * SECTOR_SIZE;
    let (dst, src) = (
        list[1].0 as usize * SECTOR_SIZE,
        list[2].0 as usize * SECTOR_SIZE,
    );
    image.copy_within(src..src + len, dst);
    image[src..src + len].fill(0);
    assert!(
        matches!(open_image(image), Err(StoreError::OutOfOrder { at, found: 2 }) if at.seq == 1)
    );
}

#[test]
fn zeroed_tail_is_truncation() {
    let mut image = three_blocks();
    let list = block_list(&image);
    let (sector, sectors) = list[2];
    image[sector as usize * SECTOR_SIZE..(sector + sectors) as usize * SECTOR_SIZE].fill(0);
    match open_image(image) {
        Err(StoreError::Truncated {
            at,
            committed_end,
            found_end,
        }) => {
            assert_eq!(at.seq, 2);
            assert_eq!(found_end, sector - REGION0);
            assert_eq!(committed_end, sector + sectors - REGION0);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn shortened_device_is_truncation() {
    let image = three_blocks();
    let (sector, _) = block_list(&image)[2];
    let mut dev = MemDevice::from_image(image);
    dev.truncate(sector);
    assert!(matches!(reopen(dev), Err(StoreError::Truncated { at, .. }) if at.seq == 2));
}

#[test]
fn old_copy_of_the_disk_is_a_rollback_given_the_anchor() {
    let mut s = fresh(128);
    s.put(KIND, b"share", b"epoch-1 share").unwrap();
    let old = s.device_mut().durable_image().to_vec();
    s.put(KIND, b"share", b"epoch-2 share").unwrap();
    let published = s.generation();
    // Without an anchor the old copy is self-consistent: nothing on the disk can tell.
    let (old_store, _) = open_image(old.clone()).unwrap();
    assert_eq!(
        old_store.get(KIND, b"share").unwrap().expose(),
        b"epoch-1 share"
    );
    assert!(old_store.generation() < published);
    // With the generation the node published, it is refused.
    let err = Store::open(
        MemDevice::from_image(old),
        &key(),
        NODE,
        OpenOptions {
            min_generation: Some(published),
        },
        &mut rng(3),
    );
    assert!(
        matches!(err, Err(StoreError::Rollback { found, minimum }) if minimum == published && found < published)
    );
    // The current disk passes the same check.
    let dev = s.into_device();
    assert!(Store::open(
        dev,
        &key(),
        NODE,
        OpenOptions {
            min_generation: Some(published)
        },
        &mut rng(3)
    )
    .is_ok());
}

#[test]
fn destroyed_newest_superblock_falls_back_and_says_so() {
    let mut s = fresh(128);
    s.put(KIND, b"a", b"1").unwrap();
    s.put(KIND, b"a", b"2").unwrap();
    let newest = s.generation();
    let mut dev = s.into_device();
    // Find the slot with the newest generation and flip a bit in it.
    let (_, report) = reopen(dev.clone()).unwrap();
    assert_eq!(report.generation, newest);
    let slot = (0..2)
        .find(|&i| {
            let mut d = MemDevice::from_image(dev.durable_image().to_vec());
            d.flip_bit(i * SECTOR_SIZE + 20, 1);
            reopen(d)
                .map(|(s, _)| s.generation() < newest)
                .unwrap_or(false)
        })
        .expect("one slot holds the newest state");
    dev.flip_bit(slot * SECTOR_SIZE + 20, 1);
    let (older, report) = reopen(dev.clone()).unwrap();
    assert_eq!(report.other_slot_fault, Some(SlotFault::Checksum));
    assert!(older.generation() < newest);
    assert!(matches!(
        Store::open(
            dev,
            &key(),
            NODE,
            OpenOptions {
                min_generation: Some(newest)
            },
            &mut rng(4)
        ),
        Err(StoreError::Rollback { .. })
    ));
}

#[test]
fn store_from_another_node_does_not_open() {
    let image = three_blocks();
    // Another node: another sealing key. Neither superblock authenticates.
    let other_key = SealingKey::from_bytes([0x43; 32]);
    let err = Store::open(
        MemDevice::from_image(image.clone()),
        &other_key,
        NODE,
        OpenOptions::default(),
        &mut rng(5),
    );
    assert!(matches!(
        err,
        Err(StoreError::NoValidSuperblock {
            slot_a: Some(SlotFault::Authentication),
            slot_b: _
        })
    ));
    // Same key, another identity.
    let err = Store::open(
        MemDevice::from_image(image),
        &key(),
        b"node-b.near",
        OpenOptions::default(),
        &mut rng(5),
    );
    assert!(matches!(err, Err(StoreError::NodeMismatch)));
}

#[test]
fn block_copied_from_another_store_fails_authentication() {
    // Two stores under the same key and identity (e.g. a re-format): a block from one, put at the
    // right place with the right sequence number in the other, does not authenticate, because the
    // store id is bound into both the block key and the AAD.
    let mut a = fresh(128);
    a.put(KIND, b"x", &[1; 40]).unwrap();
    let mut b = Store::format(
        MemDevice::new(128),
        &key(),
        NODE,
        FormatOptions::default(),
        &mut rng(99),
    )
    .unwrap();
    b.put(KIND, b"x", &[2; 40]).unwrap();
    let mut image = a.into_device().durable_image().to_vec();
    let other = b.into_device().durable_image().to_vec();
    let (sector, sectors) = blocks(&other, REGION0, 1)[0];
    let r = sector as usize * SECTOR_SIZE..(sector + sectors) as usize * SECTOR_SIZE;
    image[r.clone()].copy_from_slice(&other[r]);
    assert!(matches!(open_image(image), Err(StoreError::Authentication { at }) if at.seq == 0));
}

#[test]
fn block_from_before_compaction_is_an_epoch_mismatch() {
    let mut s = fresh(128);
    s.put(KIND, b"a", &[1; 40]).unwrap();
    let before = s.device_mut().durable_image().to_vec();
    s.compact().unwrap();
    assert_eq!(s.stats().epoch, 1);
    let mut image = s.into_device().durable_image().to_vec();
    // Region 1 now holds the log; replay region 0's (epoch 0) first block over it.
    let region_sectors = (128 - 2) / 2;
    let (src, sectors) = blocks(&before, REGION0, 1)[0];
    let dst = REGION0 + region_sectors;
    let len = sectors as usize * SECTOR_SIZE;
    image[dst as usize * SECTOR_SIZE..][..len]
        .copy_from_slice(&before[src as usize * SECTOR_SIZE..][..len]);
    assert!(matches!(
        open_image(image),
        Err(StoreError::EpochMismatch {
            expected: 1,
            found: 0,
            ..
        })
    ));
}

#[test]
fn blank_and_foreign_devices() {
    assert!(matches!(reopen(MemDevice::new(64)), Err(StoreError::Blank)));
    let mut garbage = vec![0u8; 64 * SECTOR_SIZE];
    garbage[..4].copy_from_slice(b"junk");
    assert!(matches!(
        reopen(MemDevice::from_image(garbage.clone())),
        Err(StoreError::NoValidSuperblock {
            slot_a: Some(SlotFault::BadMagic),
            slot_b: None
        })
    ));
    // Formatting refuses a non-blank device unless told to overwrite.
    assert!(matches!(
        Store::format(
            MemDevice::from_image(garbage.clone()),
            &key(),
            NODE,
            FormatOptions::default(),
            &mut rng(1)
        ),
        Err(StoreError::NotBlank)
    ));
    assert!(Store::format(
        MemDevice::from_image(garbage),
        &key(),
        NODE,
        FormatOptions {
            overwrite_existing: true
        },
        &mut rng(1)
    )
    .is_ok());
    assert!(matches!(
        Store::format(
            MemDevice::new(4),
            &key(),
            NODE,
            FormatOptions::default(),
            &mut rng(1)
        ),
        Err(StoreError::DeviceTooSmall { .. })
    ));
}
