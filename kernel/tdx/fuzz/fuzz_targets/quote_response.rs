//! GetQuote reply parsing: the whole shared buffer is VMM-controlled.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_tdx::quote::{parse_quote_response, QuoteHeader, QUOTE_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let header = QuoteHeader::parse(data);
    assert_eq!(header.is_ok(), data.len() >= QUOTE_HEADER_LEN);
    if let Ok(quote) = parse_quote_response(data) {
        // A quote is only returned for a well-formed, successful reply and
        // always lies inside the data area.
        let h = header.expect("parsed above");
        assert_eq!(h.version, 1);
        assert_eq!(h.status, 0);
        assert_eq!(quote.len(), h.out_len as usize);
        assert!(!quote.is_empty());
        assert!(QUOTE_HEADER_LEN + quote.len() <= data.len());
        assert_eq!(
            quote,
            &data[QUOTE_HEADER_LEN..QUOTE_HEADER_LEN + quote.len()]
        );
    }
});
