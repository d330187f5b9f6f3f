//! The log scanner behind `Store::open`, on a valid store image corrupted by fuzzer-chosen edits
//! (each edit: 4-byte offset, 1 byte XOR mask). Opening must never panic; if it succeeds, every
//! record must be readable and a further write and reopen must work.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tdsigner_store::device::MemDevice;
use tdsigner_store::{Change, FormatOptions, OpenOptions, RecordKind, SealingKey, Store};

struct Counter(u64);
impl rand_core::RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for Counter {}

const SECTORS: u64 = 64;

fn key() -> SealingKey {
    SealingKey::from_bytes([9; 32])
}

/// A store with a few blocks, a compaction, and more blocks after it.
fn base_image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let mut s = Store::format(
            MemDevice::new(SECTORS),
            &key(),
            b"node",
            FormatOptions::default(),
            &mut Counter(1),
        )
        .unwrap();
        for i in 0..6u8 {
            s.put(RecordKind(1), &[i], &vec![i; 100 * i as usize])
                .unwrap();
        }
        s.compact().unwrap();
        s.commit(&[
            Change::Put {
                kind: RecordKind(2),
                id: b"x",
                value: b"y",
            },
            Change::Delete {
                kind: RecordKind(1),
                id: &[0],
            },
        ])
        .unwrap();
        s.put(RecordKind(1), &[9], &[9; 700]).unwrap();
        s.into_device().durable_image().to_vec()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut image = base_image().to_vec();
    for edit in data.chunks_exact(5) {
        let offset =
            u32::from_le_bytes([edit[0], edit[1], edit[2], edit[3]]) as usize % image.len();
        image[offset] ^= edit[4];
    }
    // Odd trailing bytes shorten the device.
    let cut = data.len() % 5;
    if cut == 4 {
        image.truncate(image.len() / 2);
    }
    let dev = MemDevice::from_image(image);
    if let Ok((mut store, _)) = Store::open(
        dev,
        &key(),
        b"node",
        OpenOptions::default(),
        &mut Counter(2),
    ) {
        let ids: Vec<Vec<u8>> = store.ids(RecordKind(1)).map(<[u8]>::to_vec).collect();
        for id in ids {
            assert!(store.get(RecordKind(1), &id).is_some());
        }
        if store.put(RecordKind(3), b"after", b"fuzz").is_ok() {
            let dev = store.into_device();
            let (again, _) = Store::open(
                dev,
                &key(),
                b"node",
                OpenOptions::default(),
                &mut Counter(3),
            )
            .expect("a store we just wrote must reopen");
            assert_eq!(
                again
                    .get(RecordKind(3), b"after")
                    .map(|v| v.expose().to_vec()),
                Some(b"fuzz".to_vec())
            );
        }
    }
});
