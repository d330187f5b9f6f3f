#![no_main]
//! Persisted light-client state (borsh-style bytes from storage).
use libfuzzer_sys::fuzz_target;
use tdsigner_near::light_client::LightClientState;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = LightClientState::from_bytes(data) {
        // Whatever decodes must re-encode to the same bytes.
        assert_eq!(s.to_bytes(), data);
    }
});
