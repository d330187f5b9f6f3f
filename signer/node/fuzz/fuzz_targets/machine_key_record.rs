//! Node state machine entry point `key_record`: hostile bytes from peers, RPC or disk.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tdsigner_node::machine::fuzz::key_record(data));
