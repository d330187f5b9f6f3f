//! The measured command line comes from the host: any string must parse to a
//! config or a typed error, and an accepted config must round-trip its port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_node::config::NodeConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(config) = NodeConfig::parse(text) {
            assert!(config.http_port >= 1);
            assert!(text.contains("http="));
        }
    }
});
