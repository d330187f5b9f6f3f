//! The local key provider's SGX quote comes from the host: any bytes must
//! parse to a quote or a typed error, and the emulated verifier must never
//! panic. Two modes (first byte): raw bytes, or a valid EMULATED quote with
//! fuzzer-chosen edits (so the checks past the parser are reached); an
//! edited quote verifies exactly when the edits cancelled out.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tdsigner_node::provider_quote::{emulated_sgx_quote, verify_emulated, SgxQuote, MAX_SGX_QUOTE_LEN};

fn template() -> &'static [u8] {
    static QUOTE: OnceLock<Vec<u8>> = OnceLock::new();
    QUOTE.get_or_init(|| emulated_sgx_quote([0xE1; 32], [0x5A; 32], [7; 64]).unwrap_or_default())
}

fn check(bytes: &[u8]) -> bool {
    if let Ok(q) = SgxQuote::parse(bytes) {
        assert!(bytes.len() <= MAX_SGX_QUOTE_LEN);
        assert_eq!(q.signed_bytes.len(), 48 + 384);
    }
    verify_emulated(bytes).is_ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        assert!(!check(rest), "raw fuzzer bytes verified as an emulated quote");
        return;
    }
    // Edits: (offset u16 LE, xor byte) triples; then an optional truncation.
    let mut quote = template().to_vec();
    for edit in rest.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % quote.len().max(1);
        if let Some(b) = quote.get_mut(at) {
            *b ^= edit[2];
        }
    }
    if mode & 2 != 0 {
        let keep = usize::from(mode >> 2) * quote.len() / 64;
        quote.truncate(keep);
    }
    // Every byte of the quote is covered by a check, so it verifies exactly
    // when the edits cancelled out.
    let same = quote.as_slice() == template();
    assert_eq!(check(&quote), same, "edited: {}", !same);
});
