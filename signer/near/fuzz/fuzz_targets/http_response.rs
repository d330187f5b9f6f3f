#![no_main]
//! HTTP/1.1 response decoder, fed in two pieces at a data-chosen split.
use libfuzzer_sys::fuzz_target;
use tdsigner_near::rpc::http::{Limits, ResponseDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let at = usize::from(split).min(rest.len());
    let mut d = ResponseDecoder::new(Limits { max_head: 4096, max_body: 65536 });
    if let Ok(None) = d.feed(&rest[..at], false) {
        let _ = d.feed(&rest[at..], true);
    }
});
