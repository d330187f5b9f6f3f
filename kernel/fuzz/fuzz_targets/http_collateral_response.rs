//! The collateral server's answer comes from the host: parsing it never panics, never
//! returns a body past the bound, and agrees with itself when the bytes arrive in pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_kernel::http_client::{encode_get, parse_response, Limits, Progress};

fuzz_target!(|data: &[u8]| {
    // First byte: the body bound (small, so the bounds are reached); second: a split point.
    let [bound, split, rest @ ..] = data else { return };
    let limits = Limits { max_head: 512, max_body: usize::from(*bound) * 16 };
    let closed = parse_response(rest, true, limits);
    if let Ok(Progress::Complete(body)) = &closed {
        assert!(body.len() <= limits.max_body);
    }
    let open = parse_response(rest, false, limits);
    if let Ok(Progress::Complete(body)) = &open {
        assert!(body.len() <= limits.max_body);
        // Complete without the close means the close changes nothing.
        assert_eq!(closed, open);
    }
    // A prefix that is already complete gives the same body as the whole.
    let cut = usize::from(*split).min(rest.len());
    if let Ok(Progress::Complete(early)) = parse_response(&rest[..cut], false, limits) {
        assert_eq!(open, Ok(Progress::Complete(early)));
    }
    if let Ok(text) = core::str::from_utf8(rest) {
        let _ = encode_get(text, 8080, text);
    }
});
