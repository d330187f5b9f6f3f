//! Node state machine entry point `contract_state`: hostile bytes from peers, RPC or disk.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tdsigner_node::machine::fuzz::contract_state(data));
