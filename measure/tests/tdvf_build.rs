//! Checks against a TDVF built by `measure/tdvf/build-tdvf.sh` (set TDSIGNER_TDVF to its path).
//! Ignored by default because the firmware build takes ~10-20 minutes:
//! `TDSIGNER_TDVF=/path/OVMF.fd cargo test -p tdsigner-measure --test tdvf_build -- --ignored --nocapture`

mod common;

use tdsigner_measure::hex;
use tdsigner_measure::tcb_info::TcbInfo;
use tdsigner_measure::tdvf::{PageAddOrder, SectionType, Tdvf};
use tdsigner_measure::sha384;

/// SHA-256 of OvmfPkg/IntelTdx RELEASE built by build-tdvf.sh (two builds here were identical).
const EXPECTED_TDVF_SHA256: &str = "dde58759f152f8d546e247a46d953a5ef903f37258e0e54e8a381ff88da5a010";

#[test]
#[ignore]
fn built_tdvf_matches_the_real_event_log() {
    let path = std::env::var("TDSIGNER_TDVF").expect("set TDSIGNER_TDVF to a firmware built by measure/tdvf/build-tdvf.sh");
    let fw = std::fs::read(&path).expect("read firmware");
    let tdvf = Tdvf::parse(&fw).expect("TDVF metadata");
    for s in tdvf.sections() {
        println!(
            "{:?} data@{:#x}+{:#x} gpa {:#x}+{:#x} attr {}",
            s.section_type, s.data_offset, s.raw_data_size, s.memory_address, s.memory_data_size, s.attributes
        );
    }
    use sha2::Digest;
    let sha256 = hex::encode(&sha2::Sha256::digest(&fw));
    println!("sha256(firmware) = {sha256}");
    assert_eq!(sha256, EXPECTED_TDVF_SHA256, "build-tdvf.sh output changed");
    println!("MRTD single-pass = {}", hex::encode(&tdvf.mrtd(PageAddOrder::SinglePass)));
    println!("MRTD two-pass    = {}", hex::encode(&tdvf.mrtd(PageAddOrder::TwoPass)));
    let info = TcbInfo::parse(&common::tcb_info_bytes()).expect("fixture");
    let cfv = tdvf.cfv_digest().expect("CFV");
    println!("CFV digest = {}", hex::encode(&cfv));
    // The CFV (the empty variable store) of this edk2-stable202502 build hashes to the same value
    // as the CFV event in the real dstack log.
    assert_eq!(cfv, info.event_log[1].digest, "CFV digest differs from the real log's");
    // Same TD HOB / TEMP_MEM layout as dstack's firmware, so the TD HOB digest at 64 GiB matches.
    let hob = tdvf.td_hob(64 << 30).expect("TD HOB");
    assert_eq!(sha384(&hob), info.event_log[0].digest, "TD HOB digest differs from the real log's");
    assert!(tdvf.sections().iter().any(|s| s.section_type == SectionType::Bfv));
}
