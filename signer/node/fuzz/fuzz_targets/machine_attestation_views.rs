//! Node state machine entry point `attestation_views`: `get_attestation` / `get_tee_accounts`
//! answers from RPC endpoints (hostile).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tdsigner_node::machine::fuzz::attestation_views(data));
