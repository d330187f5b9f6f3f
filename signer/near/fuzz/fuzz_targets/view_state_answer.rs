#![no_main]
//! `view_state` answers and `block` answers (chunk state roots) parsed and checked from hostile JSON.
use libfuzzer_sys::fuzz_target;
use tdsigner_near::{chunk_roots, state_view, CryptoHash};

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = state_view::parse_view_state(data) {
        let root = a.proof.first().map(|e| CryptoHash::digest(e)).unwrap_or_default();
        let _ = state_view::verify_values(&root, "mpc.near", &a);
        let _ = state_view::verify_complete(&root, "mpc.near", b"", &a);
    }
    if let Ok(b) = chunk_roots::parse_block_roots(data) {
        let r = chunk_roots::check_block_roots(&b);
        let roots: Vec<_> = r.state_roots.iter().map(|c| c.prev_state_root).collect();
        let _ = chunk_roots::shard_state_root(&r.claimed, &roots, 0);
    }
    let _ = state_view::decode_account_record(data);
});
