//! The DER and PEM inputs of the SGX DCAP verifier: a PCK certificate's SGX
//! extension, PEM chains, certificates and CRLs, all from the host. Any bytes
//! must decode or fail with a typed error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_measure::sgx_dcap::{pck, tlv, x509};

fuzz_target!(|data: &[u8]| {
    let _ = pck::parse_sgx_extension(data);
    let _ = tlv::signed_part(data);
    if let Ok(certs) = x509::pem_chain(data, "fuzz") {
        assert!(!certs.is_empty() && certs.len() <= x509::MAX_CHAIN_LEN);
    }
    if let Ok(cert) = x509::Cert::parse(data, "fuzz") {
        let _ = cert.public_key("fuzz");
        let _ = cert.check_issued_by(&cert, 1_767_225_600, "fuzz");
        let _ = x509::Crl::parse_checked(data, &cert, 1_767_225_600, "fuzz");
    }
});
