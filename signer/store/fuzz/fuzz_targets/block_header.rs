//! Block header parser on arbitrary bytes: never panics; whatever parses re-encodes to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_store::format::BlockHeader;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = BlockHeader::parse(data) {
        assert_eq!(&h.encode()[..], &data[..64]);
        let _ = h.block_sectors();
    }
});
