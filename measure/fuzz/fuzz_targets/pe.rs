//! PE images: edk2 Authenticode digest, QEMU direct-boot checks, LoadOptions digest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_measure::cmdline::cmdline_digest_from_load_options;
use tdsigner_measure::launch::check_qemu_direct_boot;
use tdsigner_measure::pe::authenticode_sha384;

fuzz_target!(|data: &[u8]| {
    let _ = authenticode_sha384(data);
    let _ = check_qemu_direct_boot(data);
    let _ = cmdline_digest_from_load_options(data);
});
