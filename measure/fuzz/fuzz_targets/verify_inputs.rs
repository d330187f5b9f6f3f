//! Verifier inputs from files: expected-values JSON, launch-policy files and dcap-qvl collateral JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_measure::launch_policy::LaunchPolicy;
use tdsigner_measure::verify::{parse_collateral, ExpectedValues};

fuzz_target!(|data: &[u8]| {
    if let Ok(expected) = ExpectedValues::parse(data) {
        let _ = expected.unpinned_launch_registers();
    }
    let _ = LaunchPolicy::parse(data);
    let _ = parse_collateral(data);
});
