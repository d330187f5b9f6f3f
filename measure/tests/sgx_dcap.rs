//! Our in-image SGX DCAP verifier (`sgx_dcap`) against dcap-qvl on Intel's real
//! sample SGX quote and collateral (dcap-qvl's `sample/`): both must accept the
//! same quote with the same status, and both must refuse every tampered input.

mod common;

use dcap_qvl::QuoteCollateralV3;
use tdsigner_measure::sgx_dcap::collateral::parse_utc;
use tdsigner_measure::sgx_dcap::{
    parse_collateral_json, verify_sgx_quote, Collateral, DcapError, Policy, TcbStatus, TcbStatusSet,
    INTEL_SGX_ROOT_CA_DER,
};

fn sample(name: &str) -> Vec<u8> {
    let path = common::dcap_qvl_samples().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn quote() -> Vec<u8> {
    sample("sgx_quote")
}

fn collateral_json() -> Vec<u8> {
    sample("sgx_quote_collateral.json")
}

fn ours() -> Collateral {
    parse_collateral_json(&collateral_json()).expect("our collateral parser")
}

fn theirs(c: &Collateral) -> QuoteCollateralV3 {
    let mut base: QuoteCollateralV3 = serde_json::from_slice(&collateral_json()).expect("dcap-qvl collateral");
    base.pck_crl_issuer_chain = c.pck_crl_issuer_chain.clone();
    base.root_ca_crl = c.root_ca_crl.clone();
    base.pck_crl = c.pck_crl.clone();
    base.tcb_info_issuer_chain = c.tcb_info_issuer_chain.clone();
    base.tcb_info = c.tcb_info.clone();
    base.tcb_info_signature = c.tcb_info_signature.clone();
    base.qe_identity_issuer_chain = c.qe_identity_issuer_chain.clone();
    base.qe_identity = c.qe_identity.clone();
    base.qe_identity_signature = c.qe_identity_signature.clone();
    base
}

fn all_but_revoked() -> TcbStatusSet {
    let mut set = TcbStatusSet::empty();
    for s in TcbStatus::ALL {
        let _ = set.insert(s);
    }
    set
}

/// Inside every validity window of the sample collateral (2025-06-19 .. 2025-07-19).
fn inside() -> u64 {
    parse_utc("2025-07-01T00:00:00Z").unwrap()
}

fn policy(now: u64) -> Policy<'static> {
    Policy { root_ca_der: INTEL_SGX_ROOT_CA_DER, now_secs: now, min_tcb_evaluation_data_number: 1, accept: all_but_revoked() }
}

/// Runs both verifiers; returns ours, and asserts dcap-qvl agrees on accept/refuse.
fn both(quote: &[u8], c: &Collateral, now: u64) -> Result<tdsigner_measure::sgx_dcap::VerifiedSgxQuote, DcapError> {
    let ours = verify_sgx_quote(quote, c, &policy(now));
    let theirs = dcap_qvl::verify::verify(quote, &theirs(c), now);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a.status.name(), b.status, "status differs from dcap-qvl"),
        (Err(_), Err(_)) => {}
        _ => panic!("disagreement with dcap-qvl: ours {ours:?}, dcap-qvl {:?}", theirs.as_ref().map(|r| &r.status)),
    }
    ours
}

#[test]
fn intel_sample_verifies_like_dcap_qvl() {
    let v = both(&quote(), &ours(), inside()).expect("sample verifies");
    let reference = dcap_qvl::verify::verify(&quote(), &theirs(&ours()), inside()).unwrap();
    assert_eq!(v.advisory_ids, reference.advisory_ids);
    assert_eq!(v.fmspc, [0x00, 0xa0, 0x67, 0x11, 0x00, 0x00]);
    assert_eq!(v.tcb_evaluation_data_number, 17);
    assert_eq!(v.valid_until, parse_utc("2025-07-19T10:01:18Z").unwrap());
    let dcap_qvl::quote::Report::SgxEnclave(report) = reference.report else { panic!("not SGX") };
    assert_eq!(v.report.mr_enclave, report.mr_enclave);
    assert_eq!(v.report.report_data, report.report_data);
}

#[test]
fn status_outside_the_accepted_set_is_refused() {
    let v = verify_sgx_quote(&quote(), &ours(), &policy(inside())).unwrap();
    assert_ne!(v.status, TcbStatus::UpToDate, "the sample platform is not up to date");
    let strict = Policy { accept: TcbStatusSet::UP_TO_DATE_ONLY, ..policy(inside()) };
    match verify_sgx_quote(&quote(), &ours(), &strict) {
        Err(DcapError::StatusNotAccepted { status, .. }) => assert_eq!(status, v.status),
        other => panic!("{other:?}"),
    }
}

#[test]
fn time_outside_the_windows_is_refused_by_both() {
    for t in ["2025-06-19T10:00:00Z", "2025-07-20T00:00:00Z", "2019-01-01T00:00:00Z", "2031-01-01T00:00:00Z"] {
        let err = both(&quote(), &ours(), parse_utc(t).unwrap()).expect_err(t);
        assert!(matches!(err, DcapError::Expired { .. } | DcapError::NotYetValid { .. }), "{t}: {err}");
    }
}

#[test]
fn old_collateral_is_refused_by_evaluation_number() {
    let p = Policy { min_tcb_evaluation_data_number: 18, ..policy(inside()) };
    match verify_sgx_quote(&quote(), &ours(), &p) {
        Err(DcapError::StaleCollateral { number: 17, min: 18, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_flipped_quote_region_is_refused_by_both() {
    let q = quote();
    // header, enclave report (MRENCLAVE, report_data), ISV signature, attestation key,
    // QE report, QE report signature, QE auth data, PCK chain text.
    let chain_at = q.windows(27).position(|w| w == b"-----BEGIN CERTIFICATE-----").unwrap();
    for at in [10, 48 + 64, 48 + 320, 436 + 4, 436 + 68, 436 + 132 + 200, 436 + 132 + 384 + 5, 436 + 132 + 384 + 64 + 4, chain_at + 100] {
        let mut bad = q.clone();
        bad[at] ^= 0x01;
        both(&bad, &ours(), inside()).expect_err(&format!("flip at {at}"));
    }
    both(&q[..q.len() - 1], &ours(), inside()).expect_err("truncated");
}

#[test]
fn tampered_collateral_is_refused_by_both() {
    let base = ours();
    let mut cases: Vec<(&str, Collateral)> = Vec::new();
    let mut c = base.clone();
    c.tcb_info = c.tcb_info.replacen("SWHardeningNeeded", "UpToDate", 1);
    cases.push(("TCB info text", c));
    let mut c = base.clone();
    c.qe_identity = c.qe_identity.replacen("\"isvprodid\":1", "\"isvprodid\":2", 1);
    cases.push(("QE identity text", c));
    let mut c = base.clone();
    c.tcb_info_signature[5] ^= 1;
    cases.push(("TCB info signature", c));
    let mut c = base.clone();
    c.qe_identity_signature[40] ^= 1;
    cases.push(("QE identity signature", c));
    let mut c = base.clone();
    let n = c.pck_crl.len();
    c.pck_crl[n - 3] ^= 1;
    cases.push(("PCK CRL signature", c));
    let mut c = base.clone();
    let n = c.root_ca_crl.len();
    c.root_ca_crl[n - 3] ^= 1;
    cases.push(("root CRL signature", c));
    let mut c = base.clone();
    c.pck_crl = base.root_ca_crl.clone();
    cases.push(("root CRL in place of the PCK CRL", c));
    let mut c = base.clone();
    c.tcb_info_issuer_chain = base.pck_crl_issuer_chain.clone();
    cases.push(("PCK CA as TCB signer", c));
    for (what, c) in cases {
        both(&quote(), &c, inside()).expect_err(what);
    }
}

#[test]
fn another_root_refuses_intel_quotes() {
    let emulated_root = tdsigner_measure::testpki::EmulatedPki::generate().unwrap().root_der;
    let p = Policy { root_ca_der: &emulated_root, ..policy(inside()) };
    // Intel's root CRL is the first thing checked against the pinned root.
    match verify_sgx_quote(&quote(), &ours(), &p) {
        Err(DcapError::Crl { what: "root CA CRL", reason }) => assert_eq!(reason, "not issued by the expected CA"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn collateral_json_bounds() {
    assert!(parse_collateral_json(b"{}").is_err());
    assert!(parse_collateral_json(b"not json").is_err());
    assert!(parse_collateral_json(&vec![b' '; 300 * 1024]).is_err());
    let mut v: serde_json::Value = serde_json::from_slice(&collateral_json()).unwrap();
    v["pck_crl"] = serde_json::Value::String("zz".into());
    assert!(parse_collateral_json(&serde_json::to_vec(&v).unwrap()).is_err());
    let mut v: serde_json::Value = serde_json::from_slice(&collateral_json()).unwrap();
    v["surprise"] = serde_json::Value::Bool(true);
    assert!(parse_collateral_json(&serde_json::to_vec(&v).unwrap()).is_err(), "unknown fields are refused");
}

fn emulated_sgx() -> (Vec<u8>, Collateral, Vec<u8>) {
    let pki = tdsigner_measure::testpki::EmulatedPki::generate().unwrap();
    let mut rd = [0u8; 64];
    rd[..32].fill(0x42);
    let quote = tdsigner_measure::emulated::sgx_quote([0xE1; 32], [0x5A; 32], rd).unwrap();
    let collateral = parse_collateral_json(pki.sgx_collateral_json().as_bytes()).unwrap();
    (quote, collateral, pki.root_der)
}

/// 2026-01-01: inside the emulated PKI's validity.
const NOW_2026: u64 = 1_767_225_600;

#[test]
fn emulated_sgx_quote_verifies_with_the_emulated_root_only() {
    let (quote, collateral, root) = emulated_sgx();
    assert_eq!(tdsigner_measure::emulated::root_ca_der().as_deref(), Some(root.as_slice()), "committed chain ends at the generated root");
    let p = Policy { root_ca_der: &root, now_secs: NOW_2026, min_tcb_evaluation_data_number: 1, accept: TcbStatusSet::UP_TO_DATE_ONLY };
    let v = verify_sgx_quote(&quote, &collateral, &p).expect("emulated quote verifies");
    assert_eq!((v.report.mr_enclave, v.status), ([0xE1; 32], TcbStatus::UpToDate));
    // dcap-qvl agrees, with the same root.
    let pki = tdsigner_measure::testpki::EmulatedPki::generate().unwrap();
    let reference = dcap_qvl::verify::QuoteVerifier::new(root.clone()).verify(&quote, &pki.sgx_collateral, NOW_2026).unwrap();
    assert_eq!(reference.status, "UpToDate");
    // Intel's root refuses it, and so does a stricter evaluation number.
    let intel = Policy { root_ca_der: INTEL_SGX_ROOT_CA_DER, ..p };
    assert!(verify_sgx_quote(&quote, &collateral, &intel).is_err());
    let stale = Policy { min_tcb_evaluation_data_number: 2, ..p };
    assert!(matches!(verify_sgx_quote(&quote, &collateral, &stale), Err(DcapError::StaleCollateral { .. })));
    // Bytes before the PEM chain matter (every 17th: a full verify is slow in debug builds;
    // the offsets cover header, report, both signatures, the key, QE report and auth data).
    let chain_start = quote.len() - tdsigner_measure::emulated::PCK_CHAIN_PEM.len();
    for i in (0..chain_start).step_by(17) {
        let mut t = quote.clone();
        t[i] ^= 0x01;
        assert!(verify_sgx_quote(&t, &collateral, &p).is_err(), "flip at {i} accepted");
    }
}
