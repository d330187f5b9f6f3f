#![no_main]
//! HTTP/1.1 response decoder (NEAR RPC answers, the image's SGX collateral
//! fetch) and GET encoder. The answer comes from the server: decoding never
//! panics, never returns a body past the bound or a status other than 200, and
//! gives the same result however the bytes are split into reads. The encoder
//! never lets host or path add a line to the request.
use libfuzzer_sys::fuzz_target;
use tdsigner_near::rpc::http::{encode_get, Limits, ResponseDecoder, Response, HttpError};

/// Feeds `pieces` in turn (stopping at the first answer), then the close.
fn decode<'a>(limits: Limits, pieces: impl Iterator<Item = &'a [u8]>) -> Result<Option<Response>, HttpError> {
    let mut d = ResponseDecoder::new(limits);
    for piece in pieces {
        if let Some(r) = d.feed(piece, false)? {
            return Ok(Some(r));
        }
    }
    d.feed(&[], true)
}

fuzz_target!(|data: &[u8]| {
    // Small bounds (so they are reached) and read sizes come from the input.
    let [body_bound, head_bound, shape, rest @ ..] = data else { return };
    let limits = Limits { max_head: 32 + usize::from(*head_bound) * 4, max_body: usize::from(*body_bound) * 16 };
    let n_cuts = usize::from(*shape % 8).min(rest.len());
    let (cuts, tail) = rest.split_at(n_cuts);
    // A valid start, chosen by the input, so the fuzzer reaches bodies and
    // chunked framing without first having to guess a status line.
    let prefix: &[u8] = match shape >> 6 {
        1 => b"HTTP/1.1 200 OK\r\n",
        2 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        _ => b"",
    };
    let owned = [prefix, tail].concat();
    let answer = &owned[..];

    let at_once = ResponseDecoder::new(limits).feed(answer, true);
    if let Ok(Some(r)) = &at_once {
        assert!(r.body.len() <= limits.max_body);
        assert_eq!(r.status, 200);
    }
    // Complete without the close: the close changes nothing.
    if let Ok(Some(r)) = ResponseDecoder::new(limits).feed(answer, false) {
        assert_eq!(at_once, Ok(Some(r)));
    }
    // Reads of the chosen sizes (cycling), then one byte at a time.
    let mut pieces = Vec::new();
    let mut pos = 0;
    for &cut in cuts.iter().cycle().take(if cuts.is_empty() { 0 } else { 64 }) {
        let end = (pos + usize::from(cut) + 1).min(answer.len());
        pieces.push(&answer[pos..end]);
        pos = end;
    }
    pieces.push(&answer[pos..]);
    assert_eq!(decode(limits, pieces.into_iter()), at_once, "split reads disagree");
    if answer.len() <= 4096 {
        assert_eq!(decode(limits, answer.chunks(1)), at_once, "byte-by-byte reads disagree");
    }

    if let Ok(text) = core::str::from_utf8(answer) {
        let (host, path) = text.split_once('|').unwrap_or((text, "/"));
        if let Ok(request) = encode_get(host, 8080, path) {
            // Request line, Host, Connection, Accept-Encoding, empty line: nothing else.
            assert_eq!(request.iter().filter(|&&b| b == b'\n').count(), 5);
            assert_eq!(request.iter().filter(|&&b| b == b'\r').count(), 5);
            assert!(request.starts_with(format!("GET {path} HTTP/1.1\r\nHost: {host}:8080\r\n").as_bytes()));
        }
    }
});
