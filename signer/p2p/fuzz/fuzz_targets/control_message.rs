//! Control messages (hello, ack, ping) from hostile bytes: no panic; whatever decodes re-encodes
//! to the same bytes (the encoding is canonical).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_p2p::frame::Control;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Control::decode(data) {
        assert_eq!(msg.encode(), data);
    }
});
