//! Node state machine entry point `contract_state_borsh`: the signer contract's `STATE` value
//! (near/mpc 3.14 borsh layout) and `view_state` answers checked against a trie root.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tdsigner_node::machine::fuzz::contract_state_borsh(data));
