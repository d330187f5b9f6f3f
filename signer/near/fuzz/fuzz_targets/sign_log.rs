#![no_main]
//! The signer contract's `sign:` log parser.
use libfuzzer_sys::fuzz_target;
use tdsigner_near::sign_request::parse_sign_log;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = core::str::from_utf8(data) {
        let _ = parse_sign_log(s);
        let _ = parse_sign_log(&format!("sign: predecessor=AccountId(\"alice.near\"), request=SignRequestArgs {{ path: {s}"));
    }
});
