#![no_main]
//! JSON → outcome/block proofs and full headers, then verification.
use libfuzzer_sys::fuzz_target;
use tdsigner_near::hash::CryptoHash;
use tdsigner_near::view;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = view::parse_any_proof(data) {
        match p {
            view::AnyProof::Execution(p) => {
                let _ = p.verify(&CryptoHash([0; 32]));
            }
            view::AnyProof::Block(p) => {
                let _ = p.verify(&CryptoHash([0; 32]), None);
            }
        }
    }
    if let Ok(v) = view::parse_json(data, view::MAX_JSON_BYTES) {
        let _ = tdsigner_near::header::full_header_from_value(v);
    }
});
