//! SGX collateral comes from the host over plain HTTP: any bytes must parse to
//! collateral or a typed error, and verifying the EMULATED provider quote with
//! whatever parsed must never panic. Two modes (first byte): raw bytes, or the
//! emulated SGX collateral JSON with fuzzer-chosen edits (so the X.509, CRL
//! and TCB JSON checks are reached). Whatever verifies must carry exactly the
//! signed content of the original: the same TCB info and QE identity text,
//! signatures and CRLs, and issuer chains that decode to the same certificates
//! (PEM whitespace is free; the PCK CRL issuer chain is not used).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tdsigner_measure::sgx_dcap::{parse_collateral_json, verify_sgx_quote, x509, Collateral, Policy, TcbStatusSet};

const NOW: u64 = 1_767_225_600;

struct Fixture {
    json: Vec<u8>,
    collateral: Collateral,
    quote: Vec<u8>,
    root: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pki = tdsigner_measure::testpki::EmulatedPki::generate().expect("emulated PKI");
        let json = pki.sgx_collateral_json().into_bytes();
        let collateral = parse_collateral_json(&json).expect("emulated collateral");
        let quote = tdsigner_measure::emulated::sgx_quote([0xE1; 32], [0x5A; 32], [7; 64]).expect("quote");
        Fixture { json, collateral, quote, root: pki.root_der }
    })
}

fn check(bytes: &[u8]) {
    let f = fixture();
    let Ok(c) = parse_collateral_json(bytes) else { return };
    let policy = Policy { root_ca_der: &f.root, now_secs: NOW, min_tcb_evaluation_data_number: 1, accept: TcbStatusSet::UP_TO_DATE_ONLY };
    if verify_sgx_quote(&f.quote, &c, &policy).is_ok() {
        let der = |pem: &str| x509::pem_chain(pem.as_bytes(), "fuzz").ok();
        let o = &f.collateral;
        assert!(der(&c.tcb_info_issuer_chain) == der(&o.tcb_info_issuer_chain), "edited TCB chain verified");
        assert!(der(&c.qe_identity_issuer_chain) == der(&o.qe_identity_issuer_chain), "edited QE chain verified");
        let signed = Collateral {
            pck_crl_issuer_chain: o.pck_crl_issuer_chain.clone(),
            tcb_info_issuer_chain: o.tcb_info_issuer_chain.clone(),
            qe_identity_issuer_chain: o.qe_identity_issuer_chain.clone(),
            ..c.clone()
        };
        assert!(&signed == o, "edited collateral verified");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        check(rest);
        return;
    }
    let mut json = fixture().json.clone();
    for edit in rest.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % json.len().max(1);
        if let Some(b) = json.get_mut(at) {
            *b ^= edit[2];
        }
    }
    check(&json);
});
