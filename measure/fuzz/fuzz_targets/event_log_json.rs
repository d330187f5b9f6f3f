//! tcb_info.json and event-log JSON: parse, replay, re-serialize.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_measure::event::{parse_event_log_json, replay, EventLog};
use tdsigner_measure::tcb_info::TcbInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = TcbInfo::parse(data) {
        if let Ok(report) = info.replay() {
            let _ = report.to_json();
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entries) = parse_event_log_json(text) {
            let _ = replay(&entries);
            let mut log = EventLog::new();
            for e in entries {
                let _ = log.record(e);
            }
            let json = log.to_json();
            assert_eq!(parse_event_log_json(&json).ok().as_deref(), Some(log.entries()));
        }
    }
});
