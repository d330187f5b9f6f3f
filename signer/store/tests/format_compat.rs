//! Stores written by earlier format versions still open, and keep working after new writes.
//!
//! `tests/data/store_v1.json` is a store image written by the format-1 code (commit 8689eb1,
//! before per-session block keys) with `write_v1_image` below: its non-blank sectors, hex.

mod common;

use common::{key, rng, KIND, NODE};
use tdsigner_store::device::MemDevice;
use tdsigner_store::{OpenOptions, Store, SECTOR_SIZE};

const IMAGE_SECTORS: u64 = 64;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn load_v1(name: &str) -> MemDevice {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(v["format_version"], 1, "{name} must be an image written by format-1 code");
    let mut image = vec![0u8; IMAGE_SECTORS as usize * SECTOR_SIZE];
    for (sector, data) in v["sectors"].as_object().unwrap() {
        let at = sector.parse::<usize>().unwrap() * SECTOR_SIZE;
        let bytes = unhex(data.as_str().unwrap());
        image[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    MemDevice::from_image(image)
}

/// Writes the fixture when `TDSIGNER_WRITE_STORE_IMAGE` names an output path (run once, on the
/// format version the fixture is for). Otherwise does nothing.
#[test]
fn write_v1_image() {
    let Some(out) = std::env::var_os("TDSIGNER_WRITE_STORE_IMAGE") else { return };
    let mut s = Store::format(MemDevice::new(IMAGE_SECTORS), &key(), NODE, Default::default(), &mut rng(1)).unwrap();
    s.put(KIND, b"share", b"old secret share").unwrap();
    s.put(KIND, b"gone", b"deleted later").unwrap();
    s.delete(KIND, b"gone").unwrap();
    let dev = s.into_device();
    let (mut s, _) = Store::open(dev, &key(), NODE, OpenOptions::default(), &mut rng(2)).unwrap();
    s.put(KIND, b"second-session", b"written after a reopen").unwrap();
    let dev = s.into_device();
    let mut sectors = serde_json::Map::new();
    for (i, sector) in dev.durable_image().chunks(SECTOR_SIZE).enumerate() {
        if sector.iter().any(|&b| b != 0) {
            let end = sector.iter().rposition(|&b| b != 0).unwrap() + 1;
            sectors.insert(i.to_string(), serde_json::Value::String(hex(&sector[..end])));
        }
    }
    // Records the version of the code that wrote it, so a re-run on newer code is not taken for v1.
    let doc = serde_json::json!({ "format_version": tdsigner_store::format::FORMAT_VERSION, "sectors": sectors });
    std::fs::write(out, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

#[test]
fn format_1_store_opens_and_accepts_new_writes() {
    let (mut s, report) = Store::open(load_v1("store_v1.json"), &key(), NODE, OpenOptions::default(), &mut rng(3)).unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(s.get(KIND, b"share").unwrap().expose(), b"old secret share");
    assert!(s.get(KIND, b"gone").is_none());
    // New blocks go after the old ones in the same log; both kinds must open together.
    s.put(KIND, b"new", b"format 2 block").unwrap();
    let (mut s, _) = Store::open(s.into_device(), &key(), NODE, OpenOptions::default(), &mut rng(4)).unwrap();
    assert_eq!(s.get(KIND, b"share").unwrap().expose(), b"old secret share");
    assert_eq!(s.get(KIND, b"new").unwrap().expose(), b"format 2 block");
    // Compaction rewrites everything in the current format.
    s.compact().unwrap();
    let (s, _) = Store::open(s.into_device(), &key(), NODE, OpenOptions::default(), &mut rng(5)).unwrap();
    assert_eq!(s.get(KIND, b"second-session").unwrap().expose(), b"written after a reopen");
    assert_eq!(s.len(), 3);
}

#[test]
fn format_1_store_refuses_the_wrong_key() {
    let wrong = tdsigner_store::SealingKey::from_bytes([0x43; 32]);
    assert!(Store::open(load_v1("store_v1.json"), &wrong, NODE, OpenOptions::default(), &mut rng(3)).is_err());
}
