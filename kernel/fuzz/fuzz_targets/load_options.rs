//! UEFI load options are host-controlled bytes: decoding never panics and
//! never writes past the output buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_kernel::utf16::decode_load_options;

fuzz_target!(|data: &[u8]| {
    let mut out = [0u8; 256];
    if let Ok(n) = decode_load_options(data, &mut out) {
        assert!(n <= out.len());
        assert!(core::str::from_utf8(&out[..n]).is_ok());
    }
});
