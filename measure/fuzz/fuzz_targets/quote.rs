//! TD quotes: our v4/v5 parser, round-trip of what it accepts, and dcap-qvl's decoder on the
//! same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parity_scale_codec::Decode;
use tdsigner_measure::quote::{encode_quote, Quote};

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = Quote::parse(data) {
        if q.header.version == 4 {
            let again = encode_quote(
                &q.header,
                &q.body,
                &q.signature,
                &q.attestation_public_key,
                &q.qe_report.to_bytes(),
                &q.qe_report_signature,
                q.qe_auth_data,
                q.pck_chain_pem,
            );
            if let Ok(bytes) = again {
                assert!(data.starts_with(&bytes));
            }
        }
    }
    let _ = dcap_qvl::quote::Quote::decode(&mut &data[..]);
});
