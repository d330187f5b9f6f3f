//! The measured command line comes from the host: any string must parse to a
//! config or a typed error, and an accepted config must round-trip its port
//! and keep the `local-sgx` policy within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_node::config::{KeySourceConfig, NodeConfig, MAX_PINNED_ENCLAVES};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(config) = NodeConfig::parse(text) {
            assert!(config.http_port >= 1);
            assert!(text.contains("http="));
            if let KeySourceConfig::LocalSgx { provider, mr_enclaves } = &config.key_source {
                assert!(text.contains("key_source=local-sgx:"));
                assert!(provider.port >= 1);
                assert!((1..=MAX_PINNED_ENCLAVES).contains(&mr_enclaves.len()));
                for (i, m) in mr_enclaves.iter().enumerate() {
                    assert!(!mr_enclaves[..i].contains(m));
                }
            }
        }
    }
});
