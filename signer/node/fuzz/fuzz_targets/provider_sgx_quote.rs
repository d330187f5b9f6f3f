//! The local key provider's SGX quote comes from the host: any bytes must
//! parse to a quote or a typed error, and the DCAP verifier (here pinned to the
//! EMULATED root, with the emulated SGX collateral) must never panic. Two modes
//! (first byte): raw bytes, or a valid EMULATED quote with fuzzer-chosen edits
//! (so the checks past the parser are reached); an edited quote verifies
//! exactly when the edits cancelled out.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tdsigner_measure::quote::{SgxQuote, MAX_QUOTE_LEN};
use tdsigner_measure::sgx_dcap::{parse_collateral_json, TcbStatusSet};
use tdsigner_node::provider_quote::{emulated_sgx_quote, DcapProviderQuoteVerifier};
use tdsigner_store::keysource::ProviderQuoteVerifier;

/// 2026-01-01: inside the emulated PKI's validity.
const NOW: u64 = 1_767_225_600;

fn template() -> &'static [u8] {
    static QUOTE: OnceLock<Vec<u8>> = OnceLock::new();
    QUOTE.get_or_init(|| emulated_sgx_quote([0xE1; 32], [0x5A; 32], [7; 64]).unwrap_or_default())
}

thread_local! {
    // The verifier keeps its last verdict in a RefCell, so one per thread.
    static VERIFIER: DcapProviderQuoteVerifier = {
        let pki = tdsigner_measure::testpki::EmulatedPki::generate().expect("emulated PKI");
        let collateral = parse_collateral_json(pki.sgx_collateral_json().as_bytes()).expect("emulated collateral");
        DcapProviderQuoteVerifier::emulated(collateral, NOW, 1, TcbStatusSet::UP_TO_DATE_ONLY).expect("emulated root")
    };
}

fn check(bytes: &[u8]) -> bool {
    if let Ok(q) = SgxQuote::parse(bytes) {
        assert!(bytes.len() <= MAX_QUOTE_LEN);
        assert_eq!(q.signed_bytes.len(), 48 + 384);
    }
    VERIFIER.with(|v| v.verify_sgx_quote(bytes).is_ok())
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
    // Every byte before the PEM chain is covered by a signature or a
    // structural check; the chain is covered by the pinned root and the
    // certificate signatures, except whitespace between the PEM blocks.
    let verified = check(&quote);
    if quote.as_slice() == template() {
        assert!(verified, "the unedited template must verify");
    } else if verified {
        let chain_start = template().len() - tdsigner_measure::emulated::PCK_CHAIN_PEM.len();
        assert_eq!(quote.len(), template().len());
        assert_eq!(quote[..chain_start], template()[..chain_start], "an edit before the chain verified");
    }
});
