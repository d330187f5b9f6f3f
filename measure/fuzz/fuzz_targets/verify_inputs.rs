//! Verifier inputs from files: expected-values JSON and dcap-qvl collateral JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_measure::verify::{parse_collateral, ExpectedValues};

fuzz_target!(|data: &[u8]| {
    let _ = ExpectedValues::parse(data);
    let _ = parse_collateral(data);
});
