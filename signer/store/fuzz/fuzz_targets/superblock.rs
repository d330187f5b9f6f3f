//! Superblock decoder on arbitrary sectors: never panics. (A forged MAC is out of reach, so this
//! exercises everything up to and including the MAC check.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_store::format::decode_superblock;
use tdsigner_store::SealingKey;

fuzz_target!(|data: &[u8]| {
    let _ = decode_superblock(data, &SealingKey::from_bytes([7; 32]));
});
