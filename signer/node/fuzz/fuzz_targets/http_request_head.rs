//! Request heads come from the network: never panic, and a parsed head's
//! target is always a bounded origin-form path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_node::http::{RequestHead, MAX_TARGET_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = RequestHead::parse(data) {
        assert!(head.target.starts_with('/'));
        assert!(head.target.len() <= MAX_TARGET_LEN);
    }
});
