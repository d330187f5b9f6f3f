//! Node state machine entry point `public_sharing`: hostile bytes from peers, RPC or disk.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tdsigner_node::machine::fuzz::public_sharing(data));
