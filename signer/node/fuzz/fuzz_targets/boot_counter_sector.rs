//! The boot-counter sector comes from the host's disk: any 512 bytes decode
//! to a count or an error, and whatever decodes re-encodes to the same bytes
//! (except the all-zero fresh sector).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_node::boot_counter::{decode, encode, SECTOR_SIZE};

fuzz_target!(|data: &[u8]| {
    let mut sector = [0u8; SECTOR_SIZE];
    let n = data.len().min(SECTOR_SIZE);
    sector[..n].copy_from_slice(&data[..n]);
    if let Ok(count) = decode(&sector) {
        if sector.iter().any(|b| *b != 0) {
            assert_eq!(encode(count), sector);
        }
    }
});
