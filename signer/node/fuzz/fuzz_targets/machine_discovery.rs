//! Node state machine entry point `discovery`: hostile bytes from peers, RPC or disk.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tdsigner_node::machine::fuzz::discovery(data));
