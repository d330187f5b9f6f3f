//! The firmware's binary (TCG2 crypto-agile / CCEL) event log.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_measure::ccel::{encode_event_log, parse_event_log};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse_event_log(data) {
        assert_eq!(parse_event_log(&encode_event_log(&entries)).ok(), Some(entries));
    }
});
