//! Figures for the sealed store (prints a table; not a timed test).
//!
//! - write and read throughput by value size, on the in-memory device (CPU cost of the store) and on
//!   a file with real fsyncs (what a disk commit costs), against the floor peer: the same values
//!   sealed with bare AES-256-GCM and written+flushed one sector-padded record at a time, with no
//!   log, superblock or reservation. The ratio store/peer is the store's overhead.
//! - space overhead per record, before and after compaction;
//! - time to open a store holding 10,000 records (uncompacted log of 10,000 blocks, and compacted).
//!
//! Run: `cargo bench -p tdsigner-store --bench store_figures`

use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tdsigner_store::device::{FileDevice, MemDevice};
use tdsigner_store::{
    BlockDevice, FormatOptions, OpenOptions, RecordKind, SealingKey, Store, SECTOR_SIZE,
};

const KIND: RecordKind = RecordKind(1);

fn key() -> SealingKey {
    SealingKey::from_bytes([3; 32])
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// The floor: seal each value with AES-256-GCM and write it padded to sectors, then flush.
fn peer_writes<D: BlockDevice>(dev: &mut D, values: &[Vec<u8>]) -> Duration {
    let aead = Aes256Gcm::new(&[5u8; 32].into());
    let start = Instant::now();
    let mut sector = 0u64;
    for (i, v) in values.iter().enumerate() {
        let mut buf = vec![0u8; (v.len() + 16).div_ceil(SECTOR_SIZE) * SECTOR_SIZE];
        buf[..v.len()].copy_from_slice(v);
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let tag = aead
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut buf[..v.len()])
            .unwrap();
        buf[v.len()..v.len() + 16].copy_from_slice(&tag);
        dev.write_sectors(sector, &buf).unwrap();
        dev.flush().unwrap();
        sector += (buf.len() / SECTOR_SIZE) as u64;
    }
    start.elapsed()
}

fn store_writes<D: BlockDevice>(dev: D, values: &[Vec<u8>]) -> (Duration, Store<D>) {
    let mut s = Store::format(dev, &key(), b"bench", FormatOptions::default(), &mut rng()).unwrap();
    let start = Instant::now();
    for (i, v) in values.iter().enumerate() {
        s.put(KIND, &(i as u32).to_be_bytes(), v).unwrap();
    }
    (start.elapsed(), s)
}

fn main() {
    println!(
        "tdsigner-store figures (release build; {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("== writes: one put = one durable commit (block write + flush + superblock write + flush) ==");
    println!(
        "{:<8} {:<6} {:>7} {:>12} {:>10} {:>12} {:>10} {:>7}",
        "device",
        "value",
        "records",
        "store rec/s",
        "store MB/s",
        "peer rec/s",
        "peer MB/s",
        "ratio"
    );
    let tmp = std::env::temp_dir().join(format!("tdsigner-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for &(size, n_mem, n_file) in &[
        (32usize, 5000usize, 300usize),
        (256, 5000, 300),
        (4096, 2000, 200),
    ] {
        for device in ["memory", "file"] {
            let n = if device == "memory" { n_mem } else { n_file };
            let values: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; size]).collect();
            let sectors = (n as u64 * ((size as u64 + 600) / 512 + 1)) * 2 + 4096;
            let (store_t, peer_t) = if device == "memory" {
                // Best of 3, on pre-touched memory, so page faults and neighbours' load do not count.
                let warm = || {
                    let mut d = MemDevice::new(sectors);
                    d.durable_image_mut().fill(1);
                    d.durable_image_mut().fill(0);
                    d
                };
                let best = |f: &mut dyn FnMut() -> Duration| (0..3).map(|_| f()).min().unwrap();
                (
                    best(&mut || store_writes(warm(), &values).0),
                    best(&mut || peer_writes(&mut warm(), &values)),
                )
            } else {
                let (t, _) = store_writes(
                    FileDevice::create(&tmp.join("store.img"), sectors).unwrap(),
                    &values,
                );
                (
                    t,
                    peer_writes(
                        &mut FileDevice::create(&tmp.join("peer.img"), sectors).unwrap(),
                        &values,
                    ),
                )
            };
            let mb = |t: Duration| (n * size) as f64 / t.as_secs_f64() / 1e6;
            println!(
                "{:<8} {:<6} {:>7} {:>12.0} {:>10.2} {:>12.0} {:>10.2} {:>7.2}",
                device,
                size,
                n,
                per_sec(n, store_t),
                mb(store_t),
                per_sec(n, peer_t),
                mb(peer_t),
                store_t.as_secs_f64() / peer_t.as_secs_f64()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);

    println!();
    println!("== reads ==");
    let values: Vec<Vec<u8>> = (0..10_000).map(|i| vec![i as u8; 256]).collect();
    let (_, s) = store_writes(MemDevice::new(80_000), &values);
    let start = Instant::now();
    let mut total = 0usize;
    for _ in 0..10 {
        for i in 0..values.len() {
            total +=
                std::hint::black_box(s.get(KIND, &(i as u32).to_be_bytes())).map_or(0, |v| v.len());
        }
    }
    let t = start.elapsed();
    println!(
        "get (records are decrypted once, at open): {:.0} gets/s, {:.0} MB/s ({} bytes read)",
        per_sec(100_000, t),
        total as f64 / t.as_secs_f64() / 1e6,
        total
    );

    println!();
    println!("== space overhead per record (value 256 B, 10,000 records) ==");
    let stats = s.stats();
    let used = stats.log_sectors * SECTOR_SIZE as u64;
    println!(
        "uncompacted (one block per put): {} bytes on disk per record, {:.0} bytes overhead",
        used / 10_000,
        (used as f64 - stats.live_value_bytes as f64) / 10_000.0
    );
    let mut s = s;
    s.compact().unwrap();
    let stats = s.stats();
    let used = stats.log_sectors * SECTOR_SIZE as u64;
    println!(
        "compacted (packed ~64 KiB blocks): {:.1} bytes on disk per record, {:.1} bytes overhead",
        used as f64 / 10_000.0,
        (used as f64 - stats.live_value_bytes as f64) / 10_000.0
    );

    println!();
    println!("== open time, 10,000 records (verify + decrypt the whole log) ==");
    for &size in &[64usize, 256] {
        let values: Vec<Vec<u8>> = (0..10_000).map(|i| vec![i as u8; size]).collect();
        let (_, s) = store_writes(MemDevice::new(80_000), &values);
        let image = s.into_device().durable_image().to_vec();
        let time_open = |image: &[u8]| {
            let mut best = Duration::MAX;
            for _ in 0..5 {
                let dev = MemDevice::from_image(image.to_vec());
                let start = Instant::now();
                let (s, _) =
                    Store::open(dev, &key(), b"bench", OpenOptions::default(), &mut rng()).unwrap();
                best = best.min(start.elapsed());
                assert_eq!(s.len(), 10_000);
            }
            best
        };
        let uncompacted = time_open(&image);
        let (mut s, _) = Store::open(
            MemDevice::from_image(image),
            &key(),
            b"bench",
            OpenOptions::default(),
            &mut rng(),
        )
        .unwrap();
        s.compact().unwrap();
        let compacted = time_open(s.into_device().durable_image());
        println!(
            "value {size:>3} B: uncompacted log (10,000 blocks) {:.1} ms; compacted {:.1} ms",
            uncompacted.as_secs_f64() * 1e3,
            compacted.as_secs_f64() * 1e3
        );
    }
}
