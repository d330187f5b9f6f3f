#![no_main]
//! JSON → LightClientBlock / header lite / producers, then verification
//! against a fixed trusted state built from the input itself.
use libfuzzer_sys::fuzz_target;
use tdsigner_near::light_client::LightClientState;
use tdsigner_near::view;

fuzz_target!(|data: &[u8]| {
    let _ = view::parse_header_lite(data);
    let _ = view::parse_producers(data);
    if let Ok(b) = view::parse_light_client_block(data) {
        if let Ok(s) = LightClientState::from_trusted_block(&b) {
            let _ = s.verify(&b);
            let _ = LightClientState::from_bytes(&s.to_bytes());
        }
    }
});
