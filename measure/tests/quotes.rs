//! Quote tests: dcap-qvl's real sample TDX quotes with their collateral, and EMULATED quotes
//! against the emulated test root and against Intel's root.

mod common;

use dcap_qvl::QuoteCollateralV3;
use tdsigner_measure::emulated::{self, EmulatedQuotingEnclave};
use tdsigner_measure::quote::Quote;
use tdsigner_measure::report_data::report_data_v1;
use tdsigner_measure::testpki::{self, EmulatedPki};
use tdsigner_measure::verify::{verify_quote, ExpectedValues, TrustRoot};
use tdsigner_measure::hex;

/// 2026-01-01T00:00:00Z: inside the emulated PKI's validity.
const NOW_2026: u64 = 1_767_225_600;

fn sample(name: &str) -> Vec<u8> {
    let path = common::dcap_qvl_samples().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn collateral(name: &str) -> QuoteCollateralV3 {
    serde_json::from_slice(&sample(name)).expect("collateral JSON")
}

/// A time inside the collateral's TCB info / QE identity validity window.
fn collateral_time(c: &QuoteCollateralV3) -> u64 {
    let issue = |json: &str| {
        let v: serde_json::Value = serde_json::from_str(json).expect("json");
        let t = v["issueDate"].as_str().expect("issueDate").to_string();
        parse_rfc3339(&t)
    };
    issue(&c.tcb_info).max(issue(&c.qe_identity)) + 3600
}

/// Minimal RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" to Unix seconds (days-from-civil).
fn parse_rfc3339(t: &str) -> u64 {
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (hh, mm, ss) = (n(11, 13), n(14, 16), n(17, 19));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60 + ss) as u64
}

fn expected_json(v: serde_json::Value) -> ExpectedValues {
    ExpectedValues::parse(&serde_json::to_vec(&v).expect("json")).expect("expected values")
}

#[test]
fn rfc3339_helper() {
    assert_eq!(parse_rfc3339("2025-01-01T00:00:00Z"), testpki::NOT_BEFORE_UNIX);
    assert_eq!(parse_rfc3339("2049-12-31T23:59:59Z"), testpki::NOT_AFTER_UNIX);
}

#[test]
fn dcap_sample_tdx_quote_verifies_and_our_parser_agrees() {
    let quote = sample("tdx_quote");
    let coll = collateral("tdx_quote_collateral.json");
    let now = collateral_time(&coll);
    let parsed = Quote::parse(&quote).expect("our parser reads a real quote");
    let body = parsed.body;
    let expected = expected_json(serde_json::json!({
        "mrtd": hex::encode(&body.mr_td),
        "rtmr0": hex::encode(&body.rtmr[0]),
        "rtmr1": hex::encode(&body.rtmr[1]),
        "rtmr2": hex::encode(&body.rtmr[2]),
        "rtmr3": hex::encode(&body.rtmr[3]),
        "report_data": hex::encode(&body.report_data),
    }));
    let outcome = verify_quote(&quote, &coll, &TrustRoot::IntelProduction, now, &expected);
    assert!(outcome.accepted(), "{:?}", outcome);
    assert_eq!(outcome.tcb_status.as_deref(), Some("UpToDate"));
    // dcap-qvl's view of the body equals ours.
    let m = outcome.measurements.expect("TD report");
    assert_eq!((m.mrtd, m.rtmr, m.report_data), (body.mr_td, body.rtmr, body.report_data));
    assert!(parsed.pck_chain_pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert_eq!(parsed.qe_auth_data.len(), 32);

    // A different expected RTMR3 is rejected.
    let mut wrong = expected.clone();
    wrong.rtmr[3] = Some([0xaa; 48]);
    let outcome = verify_quote(&quote, &coll, &TrustRoot::IntelProduction, now, &wrong);
    assert!(!outcome.accepted());
    assert!(outcome.failures.iter().any(|f| f.starts_with("rtmr3")));

    // A flipped bit in the signed body breaks the attestation-key signature.
    let mut tampered = quote.clone();
    tampered[48 + 200] ^= 1;
    assert!(!verify_quote(&tampered, &coll, &TrustRoot::IntelProduction, now, &expected).accepted());

    // Outside the collateral's validity window.
    assert!(!verify_quote(&quote, &coll, &TrustRoot::IntelProduction, now + 400 * 86_400, &expected).accepted());

    // Against the emulated root, Intel's real quote fails.
    let pki = EmulatedPki::generate().expect("pki");
    assert!(!verify_quote(&quote, &coll, &TrustRoot::Der(pki.root_der), now, &expected).accepted());
}

#[test]
fn tdx15_sample_parses_but_dcap_qvl_0_5_finds_no_tcb_level() {
    // dcap-qvl's "outdated" sample is a v5 (TDX 1.5) quote. Our parser reads it; dcap-qvl 0.5
    // (the release on the p256 0.13 / sha2 0.10 crypto generation) finds no matching TCB level
    // for it, so such quotes are rejected until dcap-qvl is upgraded (measure/README.md).
    let quote = sample("tdx_quote_outdated");
    let coll = collateral("tdx_quote_outdated_collateral.json");
    let parsed = Quote::parse(&quote).expect("v5 quote parses");
    assert_eq!(parsed.header.version, 5);
    assert!(parsed.td15.is_some());
    let expected = expected_json(serde_json::json!({ "mrtd": hex::encode(&parsed.body.mr_td) }));
    let outcome = verify_quote(&quote, &coll, &TrustRoot::IntelProduction, collateral_time(&coll), &expected);
    assert!(!outcome.accepted());
    assert_eq!(outcome.dcap_error.as_deref(), Some("No matching TCB level found"));
}

#[test]
fn out_of_date_tcb_needs_explicit_policy() {
    // An emulated TD whose TDX module SVN is below the UpToDate level: dcap-qvl accepts it as
    // OutOfDate; our default policy (UpToDate only) rejects it.
    let pki = EmulatedPki::generate().expect("pki");
    let mut body = emulated::td_report_body([1; 48], [[0; 48]; 4], [0; 64]);
    body.tee_tcb_svn[0] = 2;
    let quote = EmulatedQuotingEnclave::new().and_then(|qe| qe.quote(&body)).expect("quote");
    let root = TrustRoot::Der(pki.root_der.clone());
    let strict = expected_json(serde_json::json!({ "mrtd": "01".repeat(48) }));
    let outcome = verify_quote(&quote, &pki.collateral, &root, NOW_2026, &strict);
    assert!(outcome.dcap_error.is_none(), "{:?}", outcome);
    assert_eq!(outcome.tcb_status.as_deref(), Some("OutOfDate"));
    assert!(!outcome.accepted());
    let lenient = expected_json(serde_json::json!({ "mrtd": "01".repeat(48), "accepted_tcb_status": ["UpToDate", "OutOfDate"] }));
    assert!(verify_quote(&quote, &pki.collateral, &root, NOW_2026, &lenient).accepted());
    // Below every level: no TCB level matches, dcap-qvl rejects.
    body.tee_tcb_svn[0] = 1;
    let quote = EmulatedQuotingEnclave::new().and_then(|qe| qe.quote(&body)).expect("quote");
    assert!(verify_quote(&quote, &pki.collateral, &root, NOW_2026, &lenient).dcap_error.is_some());
}

#[test]
fn committed_pck_chain_is_the_generated_one_and_pki_is_deterministic() {
    let a = EmulatedPki::generate().expect("pki");
    let b = EmulatedPki::generate().expect("pki");
    assert_eq!(a.pck_chain_pem(), emulated::PCK_CHAIN_PEM, "regenerate measure/emulated/pck_chain.pem with `tdsigner measure emulated-pki`");
    assert_eq!(a.root_der, b.root_der);
    assert_eq!(a.collateral_json(), b.collateral_json());
    // Every emulated subject says so.
    for der in [&a.root_der, &a.pck_ca_der, &a.pck_der, &a.tcb_signing_der] {
        let text = String::from_utf8_lossy(der);
        assert!(text.contains("EMULATED") && text.contains("not Intel"));
    }
}

fn emulated_setup() -> (EmulatedPki, Vec<u8>, [u8; 64]) {
    let pki = EmulatedPki::generate().expect("pki");
    let rd = report_data_v1(&[7; 32], &[9; 32]);
    let body = emulated::td_report_body([1; 48], [[2; 48], [3; 48], [4; 48], [5; 48]], rd);
    let quote = EmulatedQuotingEnclave::new().and_then(|qe| qe.quote(&body)).expect("quote");
    (pki, quote, rd)
}

#[test]
fn emulated_quote_verifies_with_test_root_only() {
    let (pki, quote, rd) = emulated_setup();
    let expected = expected_json(serde_json::json!({
        "mrtd": "01".repeat(48),
        "rtmr0": "02".repeat(48),
        "rtmr1": "03".repeat(48),
        "rtmr2": "04".repeat(48),
        "rtmr3": "05".repeat(48),
        "report_data_v1": { "tls_public_key": "07".repeat(32), "account_public_key": "09".repeat(32) },
    }));
    assert_eq!(expected.report_data, Some(rd));
    let root = TrustRoot::Der(pki.root_der.clone());
    let ok = verify_quote(&quote, &pki.collateral, &root, NOW_2026, &expected);
    assert!(ok.accepted(), "{:?}", ok);
    assert_eq!(ok.tcb_status.as_deref(), Some("UpToDate"));

    // Intel's root: the emulated chain is not Intel's.
    let intel = verify_quote(&quote, &pki.collateral, &TrustRoot::IntelProduction, NOW_2026, &expected);
    assert!(!intel.accepted());
    assert!(intel.dcap_error.is_some());

    // Tampered quote (measurement bit), wrong expected key, expired PKI.
    let mut tampered = quote.clone();
    tampered[48 + 136] ^= 0x80; // first byte of MRTD
    assert!(!verify_quote(&tampered, &pki.collateral, &root, NOW_2026, &expected).accepted());
    let other_key = expected_json(serde_json::json!({
        "report_data_v1": { "tls_public_key": "08".repeat(32), "account_public_key": "09".repeat(32) },
    }));
    let r = verify_quote(&quote, &pki.collateral, &root, NOW_2026, &other_key);
    assert!(!r.accepted() && r.failures.iter().any(|f| f.starts_with("report_data")));
    assert!(!verify_quote(&quote, &pki.collateral, &root, testpki::NOT_AFTER_UNIX + 86_400, &expected).accepted());

    // An empty accepted-status list accepts nothing.
    let none = expected_json(serde_json::json!({ "mrtd": "01".repeat(48), "accepted_tcb_status": [] }));
    assert!(!verify_quote(&quote, &pki.collateral, &root, NOW_2026, &none).accepted());
}

#[test]
fn emulated_quote_with_a_foreign_attestation_key_fails() {
    // Re-sign the body with a key the emulated QE never certified: the QE report binding breaks.
    let (pki, quote, _) = emulated_setup();
    let parsed = Quote::parse(&quote).expect("parse");
    let rogue = p256::ecdsa::SigningKey::from_bytes(&[0x42u8; 32].into()).expect("key");
    let sig = emulated::sign_raw(&rogue, parsed.signed_bytes);
    let forged = tdsigner_measure::quote::encode_quote(
        &parsed.header,
        &parsed.body,
        &sig,
        &emulated::public_key_xy(&rogue),
        &parsed.qe_report.to_bytes(),
        &parsed.qe_report_signature,
        parsed.qe_auth_data,
        parsed.pck_chain_pem,
    )
    .expect("encode");
    let expected = expected_json(serde_json::json!({ "mrtd": "01".repeat(48) }));
    let r = verify_quote(&forged, &pki.collateral, &TrustRoot::Der(pki.root_der.clone()), NOW_2026, &expected);
    assert!(!r.accepted());
}

#[test]
fn expected_file_validation() {
    assert!(ExpectedValues::parse(b"{}").is_err());
    assert!(ExpectedValues::parse(b"{\"mrtd\": \"00\"}").is_err());
    assert!(ExpectedValues::parse(b"not json").is_err());
    let ok = ExpectedValues::parse(format!("{{\"rtmr3\": \"{}\"}}", "ab".repeat(48)).as_bytes()).expect("ok");
    assert_eq!(ok.accepted_tcb_status, vec!["UpToDate".to_string()]);
}

#[test]
fn event_log_is_checked_against_the_quote() {
    // An emulated quote carrying the fixture's measurements, checked with the fixture's log.
    let info = tdsigner_measure::tcb_info::TcbInfo::parse(&common::tcb_info_bytes()).expect("fixture");
    let pki = EmulatedPki::generate().expect("pki");
    let body = emulated::td_report_body(info.mrtd, info.stated_rtmrs(), [0; 64]);
    let quote = EmulatedQuotingEnclave::new().and_then(|qe| qe.quote(&body)).expect("quote");
    let expected = expected_json(serde_json::json!({ "mrtd": hex::encode(&info.mrtd) }));
    let root = TrustRoot::Der(pki.root_der.clone());
    let mut ok = verify_quote(&quote, &pki.collateral, &root, NOW_2026, &expected);
    tdsigner_measure::verify::check_event_log(&mut ok, &info.event_log);
    assert!(ok.accepted(), "{:?}", ok.failures);
    // A log whose RTMR3 payload was edited no longer matches the quote.
    let mut log = info.event_log.clone();
    let last = log.len() - 1;
    log[last].event_payload[0] ^= 1;
    let mut bad = verify_quote(&quote, &pki.collateral, &root, NOW_2026, &expected);
    tdsigner_measure::verify::check_event_log(&mut bad, &log);
    assert!(!bad.accepted());
    assert!(bad.failures.iter().any(|f| f.contains("rtmr3")));
}
