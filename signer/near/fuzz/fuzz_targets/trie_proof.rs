#![no_main]
//! nearcore trie-proof verification on hostile bytes: node decoding, lookups and prefix walks
//! over a bag of arbitrary entries, with the root taken from the input (so walks go deep).
use libfuzzer_sys::fuzz_target;
use tdsigner_near::state_proof::{self, ProofNodes, RawTrieNodeWithSize};
use tdsigner_near::CryptoHash;

fuzz_target!(|data: &[u8]| {
    // Layout: key_len u8 ‖ key ‖ entries, each u16-LE length ‖ bytes.
    let Some((&key_len, rest)) = data.split_first() else { return };
    let Some((key, mut rest)) = (rest.len() >= key_len as usize).then(|| rest.split_at(key_len as usize)) else { return };
    let mut entries = Vec::new();
    while rest.len() >= 2 {
        let n = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let body = &rest[2..];
        let take = n.min(body.len());
        entries.push(body[..take].to_vec());
        rest = &body[take..];
    }
    for e in &entries {
        if let Ok(node) = RawTrieNodeWithSize::decode(e) {
            // Whatever decodes re-encodes to the same bytes (the hash names exactly those bytes).
            assert_eq!(&node.encode(), e);
        }
    }
    let root = entries.first().map(|e| CryptoHash::digest(e)).unwrap_or_default();
    let Ok(nodes) = ProofNodes::new(entries) else { return };
    let found = state_proof::lookup(&root, &nodes, key);
    let listed = state_proof::entries_with_prefix(&root, &nodes, key);
    // A key proven present under the prefix walk is found by the lookup with the same reference.
    if let (Ok(listed), Ok(found)) = (&listed, &found) {
        if let Some((_, v)) = listed.iter().find(|(k, _)| k.as_slice() == key) {
            assert_eq!(found.as_ref(), Some(v));
        }
    }
});
