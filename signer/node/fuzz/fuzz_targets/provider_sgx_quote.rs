//! The local key provider's SGX quote comes from the host: any bytes must
//! parse to a quote or a typed error, and the emulated verifier must refuse
//! them without panicking (a valid signature cannot be guessed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_node::provider_quote::{verify_emulated, SgxQuote, MAX_SGX_QUOTE_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = SgxQuote::parse(data) {
        assert!(data.len() <= MAX_SGX_QUOTE_LEN);
        assert_eq!(q.signed_bytes.len(), 48 + 384);
    }
    assert!(verify_emulated(data).is_err());
});
