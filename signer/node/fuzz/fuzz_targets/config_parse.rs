//! The measured command line comes from the host: any string must parse to a
//! config or a typed error, and an accepted config must round-trip its port
//! and keep the `local-sgx` policy (pins, collateral location, TCB
//! policy) within its bounds. The canonical form (the measured
//! `tdsigner.config`) parses back to the same config and is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_measure::sgx_dcap::TcbStatus;
use tdsigner_node::config::{KeySourceConfig, NodeConfig, MAX_CMDLINE_LEN, MAX_HTTP_PATH_LEN, MAX_PINNED_ENCLAVES};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(config) = NodeConfig::parse(text) {
            assert!(config.http_port >= 1);
            assert!(text.contains("http="));
            let canonical = config.canonical();
            // Canonical text can be longer than the input (an implied `tcb_accept` is written out).
            if canonical.len() <= MAX_CMDLINE_LEN {
                let reparsed = NodeConfig::parse(&canonical).expect("canonical config parses");
                assert!(reparsed == config);
                assert_eq!(reparsed.canonical(), canonical);
            }
            let _ = config.policy_payload("0.1.0");
            if let KeySourceConfig::LocalSgx { provider, mr_enclaves, collateral, min_tcb_evaluation_data_number, tcb_accept } =
                &config.key_source
            {
                assert!(text.contains("key_source=local-sgx:"));
                assert!(provider.port >= 1);
                assert!((1..=MAX_PINNED_ENCLAVES).contains(&mr_enclaves.len()));
                for (i, m) in mr_enclaves.iter().enumerate() {
                    assert!(!mr_enclaves[..i].contains(m));
                }
                assert!(collateral.endpoint.port >= 1);
                assert!(collateral.path.starts_with('/') && collateral.path.len() <= MAX_HTTP_PATH_LEN);
                assert!(collateral.path.bytes().all(|b| b.is_ascii_graphic()));
                assert!(text.contains(&format!("{};tcb_eval_min=", collateral.path)));
                assert!(*min_tcb_evaluation_data_number >= 1);
                assert!(tcb_accept.contains(TcbStatus::UpToDate) && !tcb_accept.contains(TcbStatus::Revoked));
            }
        }
    }
});
