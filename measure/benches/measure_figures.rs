//! Figures for the measurement paths (host, release build):
//! `cargo bench -p tdsigner-measure --bench measure_figures`
//!
//! * replay of the real 29-event log (digests recomputed from payloads where possible);
//! * MRTD of a TDVF-shaped image with a 3.5 MiB MR_EXTEND section (the size of the real BFV);
//! * the EMULATED quoting enclave: setup (two key derivations + QE report signature) and one
//!   quote (one P-256 signature);
//! * dcap-qvl verification of an emulated quote against the emulated root, next to
//!   verification of Intel's real sample quote with its collateral (the peer), with the ratio;
//! * the image's own SGX DCAP verifier (`sgx_dcap`) on Intel's real sample SGX quote and
//!   collateral, next to dcap-qvl on the same inputs (the peer), with the ratio.

use std::time::Instant;

use tdsigner_measure::emulated::{self, EmulatedQuotingEnclave};
use tdsigner_measure::tcb_info::TcbInfo;
use tdsigner_measure::tdvf::{guid_bytes, PageAddOrder, Tdvf, TABLE_FOOTER_GUID, TDX_METADATA_GUID};
use tdsigner_measure::testpki::EmulatedPki;
use tdsigner_measure::verify::{verify_quote, ExpectedValues, TrustRoot};

#[path = "../tests/common/mod.rs"]
mod common;

fn per_op<F: FnMut()>(name: &str, iterations: u32, mut f: F) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    println!("{name:<58} {us:>12.1} µs/op  ({iterations} iterations)");
    us
}

/// A firmware image with a TDVF descriptor: CFV 0x84000, BFV 0x37c000 (MR_EXTEND), TD_HOB and
/// TEMP_MEM sections, laid out like the real 4 MiB build.
fn tdvf_shaped_image() -> Vec<u8> {
    let len = 0x40_0000usize;
    let mut fw: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let desc = 0x3f_0000;
    let sections: [(u32, u32, u64, u64, u32, u32); 4] = [
        (0x84000, 0x37c000, 0xffc8_4000, 0x37c000, 0, 1),
        (0, 0x84000, 0xffc0_0000, 0x84000, 1, 0),
        (0, 0, 0x80_9000, 0x2000, 2, 0),
        (0, 0, 0x80_0000, 0x6000, 3, 0),
    ];
    fw[desc..desc + 4].copy_from_slice(b"TDVF");
    fw[desc + 4..desc + 8].copy_from_slice(&(16u32 + 32 * 4).to_le_bytes());
    fw[desc + 8..desc + 12].copy_from_slice(&1u32.to_le_bytes());
    fw[desc + 12..desc + 16].copy_from_slice(&4u32.to_le_bytes());
    for (i, s) in sections.iter().enumerate() {
        let b = desc + 16 + 32 * i;
        fw[b..b + 4].copy_from_slice(&s.0.to_le_bytes());
        fw[b + 4..b + 8].copy_from_slice(&s.1.to_le_bytes());
        fw[b + 8..b + 16].copy_from_slice(&s.2.to_le_bytes());
        fw[b + 16..b + 24].copy_from_slice(&s.3.to_le_bytes());
        fw[b + 24..b + 28].copy_from_slice(&s.4.to_le_bytes());
        fw[b + 28..b + 32].copy_from_slice(&s.5.to_le_bytes());
    }
    let footer_end = len - 32;
    fw[footer_end - 16..footer_end].copy_from_slice(&TABLE_FOOTER_GUID);
    fw[footer_end - 18..footer_end - 16].copy_from_slice(&40u16.to_le_bytes());
    let entry_end = footer_end - 18;
    fw[entry_end - 16..entry_end].copy_from_slice(&TDX_METADATA_GUID);
    fw[entry_end - 18..entry_end - 16].copy_from_slice(&22u16.to_le_bytes());
    fw[entry_end - 22..entry_end - 18].copy_from_slice(&((len - desc) as u32).to_le_bytes());
    let _ = guid_bytes;
    fw
}

fn main() {
    println!("tdsigner-measure figures (release build, this machine)");
    let info = TcbInfo::parse(&common::tcb_info_bytes()).expect("fixture");
    per_op("replay tcb_info.json (29 events)", 2000, || {
        let r = info.replay().expect("replay");
        assert!(r.all_match());
    });

    let fw = tdvf_shaped_image();
    let tdvf = Tdvf::parse(&fw).expect("tdvf");
    let us = per_op("MRTD, TDVF-shaped 4 MiB image (3.5 MiB MR_EXTEND)", 10, || {
        std::hint::black_box(tdvf.mrtd(PageAddOrder::SinglePass));
    });
    println!("{:<58} {:>12.1} MiB/s", "  MRTD hashing rate over the extended bytes", 3.5 / (us / 1e6));

    per_op("emulated QE setup (derive keys, sign QE report)", 50, || {
        std::hint::black_box(EmulatedQuotingEnclave::new().expect("qe"));
    });
    let qe = EmulatedQuotingEnclave::new().expect("qe");
    let body = emulated::td_report_body(info.mrtd, info.stated_rtmrs(), [0; 64]);
    per_op("emulated quote (one P-256 signature + encoding)", 200, || {
        std::hint::black_box(qe.quote(&body).expect("quote"));
    });

    let pki = EmulatedPki::generate().expect("pki");
    let quote = qe.quote(&body).expect("quote");
    let expected = ExpectedValues::parse(format!("{{\"mrtd\":\"{}\"}}", tdsigner_measure::hex::encode(&info.mrtd)).as_bytes())
        .expect("expected");
    let root = TrustRoot::Der(pki.root_der.clone());
    let emulated_us = per_op("verify emulated quote (dcap-qvl + policy)", 50, || {
        assert!(verify_quote(&quote, &pki.collateral, &root, 1_767_225_600, &expected).accepted());
    });

    let samples = common::dcap_qvl_samples();
    let real = std::fs::read(samples.join("tdx_quote")).expect("sample");
    let coll: dcap_qvl::QuoteCollateralV3 =
        serde_json::from_slice(&std::fs::read(samples.join("tdx_quote_collateral.json")).expect("sample")).expect("json");
    let parsed = tdsigner_measure::quote::Quote::parse(&real).expect("parse");
    let real_expected =
        ExpectedValues::parse(format!("{{\"mrtd\":\"{}\"}}", tdsigner_measure::hex::encode(&parsed.body.mr_td)).as_bytes())
            .expect("expected");
    let tcb: serde_json::Value = serde_json::from_str(&coll.tcb_info).expect("tcb");
    let issue = tcb["issueDate"].as_str().expect("date");
    // 2025-06-19T10:16:03Z + 1 day, inside the sample collateral's window.
    assert!(issue.starts_with("2025-06-19"));
    let now = 1_750_328_163 + 86_400;
    let real_us = per_op("verify Intel sample quote (dcap-qvl + policy, peer)", 50, || {
        assert!(verify_quote(&real, &coll, &TrustRoot::IntelProduction, now, &real_expected).accepted());
    });
    println!("{:<58} {:>12.2}", "ratio emulated / real verification", emulated_us / real_us);

    // The SGX verifier the image links, against dcap-qvl, on Intel's sample SGX quote.
    let sgx_quote = std::fs::read(samples.join("sgx_quote")).expect("sample");
    let sgx_json = std::fs::read(samples.join("sgx_quote_collateral.json")).expect("sample");
    let ours = tdsigner_measure::sgx_dcap::parse_collateral_json(&sgx_json).expect("collateral");
    let theirs: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(&sgx_json).expect("json");
    let mut accept = tdsigner_measure::sgx_dcap::TcbStatusSet::empty();
    for s in tdsigner_measure::sgx_dcap::TcbStatus::ALL {
        let _ = accept.insert(s);
    }
    // 2025-07-01T00:00:00Z, inside the sample collateral's windows.
    let at = 1_751_328_000;
    let policy = tdsigner_measure::sgx_dcap::Policy {
        root_ca_der: tdsigner_measure::sgx_dcap::INTEL_SGX_ROOT_CA_DER,
        now_secs: at,
        min_tcb_evaluation_data_number: 1,
        accept,
    };
    let ours_us = per_op("sgx_dcap verify of Intel's sample SGX quote (image)", 50, || {
        assert!(tdsigner_measure::sgx_dcap::verify_sgx_quote(&sgx_quote, &ours, &policy).is_ok());
    });
    let peer_us = per_op("dcap-qvl verify of the same SGX quote (peer)", 50, || {
        assert!(dcap_qvl::verify::verify(&sgx_quote, &theirs, at).is_ok());
    });
    println!("{:<58} {:>12.2}", "ratio sgx_dcap / dcap-qvl", ours_us / peer_us);
}
