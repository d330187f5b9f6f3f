#![no_main]
//! JSON-RPC answer parsing and the typed result readers.
use libfuzzer_sys::fuzz_target;
use tdsigner_near::rpc::request;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = request::parse_answer(data, 1, 1 << 20) {
        let _ = request::access_key_nonce(&v);
        let _ = request::call_function_result(&v);
        let _ = request::sent_tx_hash(&v);
        let _ = tdsigner_near::view::light_client_block_from_value(v);
    }
});
