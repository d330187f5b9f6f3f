//! TDVF metadata: GUIDed-table walk, descriptor, sections, MRTD, TD HOB, CFV.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_measure::tdvf::{PageAddOrder, Tdvf};

fuzz_target!(|data: &[u8]| {
    if let Ok(tdvf) = Tdvf::parse(data) {
        let _ = tdvf.mrtd(PageAddOrder::SinglePass);
        let _ = tdvf.mrtd(PageAddOrder::TwoPass);
        let _ = tdvf.cfv_digest();
        for memory in [0u64, 1 << 20, 2 << 30, 64 << 30, u64::MAX] {
            let _ = tdvf.td_hob(memory);
        }
    }
});
