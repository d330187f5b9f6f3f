//! The pure half of the image's plain HTTP/1.1 GET client: encoding the
//! request and parsing the answer. The transport (smoltcp, deadlines) is
//! `http_fetch` in the binary; this module only looks at bytes, so it carries
//! host unit tests and a fuzz target.
//!
//! It exists to fetch the SGX collateral JSON from the host, so the answer
//! comes from the host and is parsed as hostile input: the head is bounded,
//! only status 200 is accepted, the body is bounded whether its length comes
//! from `Content-Length`, from chunked framing or from the peer closing, and
//! anything ambiguous (two lengths, an unknown transfer or content encoding,
//! folded header lines) is refused rather than guessed.
//!
//! [`parse_response`] is meant to be called again each time more bytes have
//! arrived; it answers [`Progress::NeedMore`] until the answer is complete.
//! Reparsing from the start keeps it stateless; with the bounds below that
//! costs at most a few megabytes of scanning per fetch.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

/// Default bound on the status line and headers, terminator included.
pub const MAX_HEAD: usize = 16 * 1024;
/// Bound on chunked framing: size lines, their CRLFs, and trailers.
pub const MAX_CHUNK_FRAMING: usize = 64 * 1024;
/// Longest chunk-size line (hex size plus extensions), CRLF excluded.
const MAX_CHUNK_LINE: usize = 1024;

/// Bounds for one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Status line plus headers plus the empty line, in bytes.
    pub max_head: usize,
    /// Body after transfer decoding, in bytes.
    pub max_body: usize,
}

impl Limits {
    /// [`MAX_HEAD`] and the given body bound.
    pub fn with_max_body(max_body: usize) -> Limits {
        Limits { max_head: MAX_HEAD, max_body }
    }
}

/// How far a response has got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Not complete yet and not wrong so far: read more.
    NeedMore,
    /// A complete `200` answer; the body after transfer decoding.
    Complete(Vec<u8>),
}

/// Why a request could not be encoded or an answer was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The host name would not fit in a `Host` header as is.
    BadHost,
    /// The path is not `/` followed by visible ASCII.
    BadPath,
    /// The peer closed without sending a byte.
    NoResponse,
    /// No end of the head within the bound.
    HeadTooLarge { limit: usize },
    /// The peer closed in the middle of the head.
    HeadTruncated { received: usize },
    /// The status line is not `HTTP/1.x NNN ...`.
    BadStatusLine,
    /// A status other than 200.
    Status { code: u16 },
    /// A header line is not `name: value` (1-based line number in the head).
    BadHeader { line: usize },
    /// `Content-Length` is not a decimal number, or two of them disagree.
    BadContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ConflictingLengths,
    /// A transfer coding other than plain `chunked`.
    UnsupportedTransferEncoding,
    /// A content coding other than `identity` (none was asked for).
    UnsupportedContentEncoding,
    /// `Content-Length` or a chunk size announces more than the bound.
    DeclaredBodyTooLarge { len: u64, limit: usize },
    /// A body delimited by the peer closing grew past the bound.
    BodyTooLarge { limit: usize },
    /// The peer closed before `Content-Length` bytes arrived.
    BodyTruncated { expected: usize, received: usize },
    /// Malformed chunked framing.
    BadChunk,
    /// Chunk-size lines and trailers together exceed [`MAX_CHUNK_FRAMING`].
    ChunkFramingTooLarge { limit: usize },
    /// The peer closed before the last chunk.
    ChunkedTruncated,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadHost => f.write_str("host name not usable in a Host header"),
            HttpError::BadPath => f.write_str("request path must be '/' followed by visible ASCII"),
            HttpError::NoResponse => f.write_str("the server closed the connection without answering"),
            HttpError::HeadTooLarge { limit } => write!(f, "response head exceeds {limit} bytes"),
            HttpError::HeadTruncated { received } => {
                write!(f, "the server closed the connection after {received} bytes of the response head")
            }
            HttpError::BadStatusLine => f.write_str("malformed status line (want HTTP/1.x and a 3-digit status)"),
            HttpError::Status { code } => write!(f, "server answered {code}"),
            HttpError::BadHeader { line } => write!(f, "malformed header on line {line} of the response head"),
            HttpError::BadContentLength => f.write_str("invalid or conflicting Content-Length"),
            HttpError::ConflictingLengths => f.write_str("both Content-Length and Transfer-Encoding in the response"),
            HttpError::UnsupportedTransferEncoding => f.write_str("unsupported Transfer-Encoding (only chunked)"),
            HttpError::UnsupportedContentEncoding => f.write_str("unsupported Content-Encoding (only identity)"),
            HttpError::DeclaredBodyTooLarge { len, limit } => write!(f, "body of {len} bytes exceeds {limit}"),
            HttpError::BodyTooLarge { limit } => write!(f, "body exceeds {limit} bytes"),
            HttpError::BodyTruncated { expected, received } => {
                write!(f, "the server closed the connection after {received} of {expected} body bytes")
            }
            HttpError::BadChunk => f.write_str("malformed chunked body"),
            HttpError::ChunkFramingTooLarge { limit } => write!(f, "chunked framing exceeds {limit} bytes"),
            HttpError::ChunkedTruncated => f.write_str("the server closed the connection before the last chunk"),
        }
    }
}

/// `GET path HTTP/1.1` with `Host` (`host:port` unless the port is 80),
/// `Connection: close` and `Accept-Encoding: identity`.
pub fn encode_get(host: &str, port: u16, path: &str) -> Result<Vec<u8>, HttpError> {
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !host_ok {
        return Err(HttpError::BadHost);
    }
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::BadPath);
    }
    let mut out = Vec::with_capacity(path.len() + host.len() + 96);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    if port != 80 {
        out.push(b':');
        push_decimal(&mut out, u64::from(port));
    }
    out.extend_from_slice(b"\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n");
    Ok(out)
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// How the body ends.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Parses what has arrived so far. `peer_closed` says the peer has finished
/// sending (so "incomplete" becomes an error). Bytes after a complete body
/// are ignored (the request asked for `Connection: close`).
pub fn parse_response(buf: &[u8], peer_closed: bool, limits: Limits) -> Result<Progress, HttpError> {
    let Some(head_len) = find_head_end(buf, limits.max_head) else {
        if buf.len() >= limits.max_head {
            return Err(HttpError::HeadTooLarge { limit: limits.max_head });
        }
        return match (peer_closed, buf.len()) {
            (false, _) => Ok(Progress::NeedMore),
            (true, 0) => Err(HttpError::NoResponse),
            (true, received) => Err(HttpError::HeadTruncated { received }),
        };
    };
    let framing = parse_head(&buf[..head_len], limits)?;
    let body = &buf[head_len..];
    match framing {
        Framing::Length(len) => match body.get(..len) {
            Some(b) => Ok(Progress::Complete(b.to_vec())),
            None if peer_closed => Err(HttpError::BodyTruncated { expected: len, received: body.len() }),
            None => Ok(Progress::NeedMore),
        },
        Framing::UntilClose => {
            if body.len() > limits.max_body {
                Err(HttpError::BodyTooLarge { limit: limits.max_body })
            } else if peer_closed {
                Ok(Progress::Complete(body.to_vec()))
            } else {
                Ok(Progress::NeedMore)
            }
        }
        Framing::Chunked => match scan_chunks(body, limits.max_body)? {
            Some(pieces) => {
                let mut out = Vec::with_capacity(pieces.iter().map(|r| r.len()).sum());
                for r in pieces {
                    out.extend_from_slice(body.get(r).ok_or(HttpError::BadChunk)?);
                }
                Ok(Progress::Complete(out))
            }
            None if peer_closed => Err(HttpError::ChunkedTruncated),
            None => Ok(Progress::NeedMore),
        },
    }
}

/// Length of the head including its final CRLF CRLF, if it ends within `max`.
fn find_head_end(buf: &[u8], max: usize) -> Option<usize> {
    let window = &buf[..buf.len().min(max)];
    window.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Splits at the next CRLF: (line, rest). A lone CR or LF inside a line is
/// left to the caller's character checks.
fn split_line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.windows(2).position(|w| w == b"\r\n")?;
    Some((&b[..i], &b[i + 2..]))
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Checks the status line and headers (the head without its final CRLF is
/// fine too); returns how the body is delimited.
fn parse_head(head: &[u8], limits: Limits) -> Result<Framing, HttpError> {
    let (status_line, mut rest) = split_line(head).ok_or(HttpError::BadStatusLine)?;
    let code = parse_status_line(status_line)?;
    if code != 200 {
        return Err(HttpError::Status { code });
    }
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut line_no = 1;
    loop {
        let (line, next) = split_line(rest).ok_or(HttpError::BadHeader { line: line_no + 1 })?;
        rest = next;
        line_no += 1;
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(HttpError::BadHeader { line: line_no })?;
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        // An empty or non-token name also catches obsolete line folding.
        let value_ok = value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) || !value_ok {
            return Err(HttpError::BadHeader { line: line_no });
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let len = parse_decimal(value).ok_or(HttpError::BadContentLength)?;
            if content_length.is_some_and(|seen| seen != len) {
                return Err(HttpError::BadContentLength);
            }
            content_length = Some(len);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if chunked || !value.eq_ignore_ascii_case(b"chunked") {
                return Err(HttpError::UnsupportedTransferEncoding);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"content-encoding") && !value.eq_ignore_ascii_case(b"identity") {
            return Err(HttpError::UnsupportedContentEncoding);
        }
    }
    match (content_length, chunked) {
        (Some(_), true) => Err(HttpError::ConflictingLengths),
        (Some(len), false) => match usize::try_from(len) {
            Ok(n) if n <= limits.max_body => Ok(Framing::Length(n)),
            _ => Err(HttpError::DeclaredBodyTooLarge { len, limit: limits.max_body }),
        },
        (None, true) => Ok(Framing::Chunked),
        (None, false) => Ok(Framing::UntilClose),
    }
}

/// `HTTP/1.0` or `HTTP/1.1`, one space, three digits, then the end or a
/// space and a reason phrase.
fn parse_status_line(line: &[u8]) -> Result<u16, HttpError> {
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or(HttpError::BadStatusLine)?;
    let (digits, tail) = match rest {
        [a, b, c, tail @ ..] => ([*a, *b, *c], tail),
        _ => return Err(HttpError::BadStatusLine),
    };
    if !digits.iter().all(u8::is_ascii_digit) || !(tail.is_empty() || tail[0] == b' ') {
        return Err(HttpError::BadStatusLine);
    }
    if tail.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(HttpError::BadStatusLine);
    }
    Ok(digits.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')))
}

/// Walks chunked framing. `Ok(None)`: more bytes needed; `Ok(Some(ranges))`:
/// the data ranges of every chunk, the last chunk and trailers included.
fn scan_chunks(body: &[u8], max_body: usize) -> Result<Option<Vec<Range<usize>>>, HttpError> {
    let mut pos = 0usize;
    let mut framing = 0usize;
    let mut total = 0usize;
    let mut pieces = Vec::new();
    loop {
        let rest = body.get(pos..).ok_or(HttpError::BadChunk)?;
        let Some((line, _)) = split_line(rest) else {
            // An unfinished size line must still be plausible.
            if rest.len() > MAX_CHUNK_LINE + 1 {
                return Err(HttpError::BadChunk);
            }
            charge(&mut framing, rest.len())?;
            return Ok(None);
        };
        if line.len() > MAX_CHUNK_LINE {
            return Err(HttpError::BadChunk);
        }
        charge(&mut framing, line.len() + 2)?;
        pos += line.len() + 2;
        let size = parse_chunk_size(line)?;
        if size == 0 {
            return match scan_trailers(body.get(pos..).ok_or(HttpError::BadChunk)?, &mut framing)? {
                true => Ok(Some(pieces)),
                false => Ok(None),
            };
        }
        let size_usize = usize::try_from(size).map_err(|_| HttpError::DeclaredBodyTooLarge { len: size, limit: max_body })?;
        match total.checked_add(size_usize) {
            Some(t) if t <= max_body => total = t,
            _ => {
                let len = (total as u64).saturating_add(size);
                return Err(HttpError::DeclaredBodyTooLarge { len, limit: max_body });
            }
        }
        let data_end = pos + size_usize;
        let Some(after) = body.get(data_end..) else { return Ok(None) };
        match after {
            [b'\r', b'\n', ..] => {}
            [] | [b'\r'] => return Ok(None),
            _ => return Err(HttpError::BadChunk),
        }
        charge(&mut framing, 2)?;
        pieces.push(pos..data_end);
        pos = data_end + 2;
    }
}

/// Adds `n` bytes of chunked framing to the running count, within its bound.
fn charge(framing: &mut usize, n: usize) -> Result<(), HttpError> {
    *framing = framing.saturating_add(n);
    if *framing > MAX_CHUNK_FRAMING {
        return Err(HttpError::ChunkFramingTooLarge { limit: MAX_CHUNK_FRAMING });
    }
    Ok(())
}

/// Hex size, optionally followed by `;` extensions (ignored).
fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let hex_end = line.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(line.len());
    let (hex, ext) = line.split_at(hex_end);
    let ext = trim_ows(ext);
    if hex.is_empty() || hex.len() > 15 || !(ext.is_empty() || ext[0] == b';') {
        return Err(HttpError::BadChunk);
    }
    if ext.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(HttpError::BadChunk);
    }
    let mut size = 0u64;
    for &b in hex {
        let d = (b as char).to_digit(16).ok_or(HttpError::BadChunk)?;
        size = (size << 4) | u64::from(d);
    }
    Ok(size)
}

/// Trailer lines after the last chunk, up to the empty line. `Ok(false)`:
/// more bytes needed.
fn scan_trailers(mut rest: &[u8], framing: &mut usize) -> Result<bool, HttpError> {
    loop {
        let Some((line, next)) = split_line(rest) else {
            charge(framing, rest.len())?;
            return Ok(false);
        };
        charge(framing, line.len() + 2)?;
        if line.is_empty() {
            return Ok(true);
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(HttpError::BadChunk)?;
        if colon == 0 || !line[..colon].iter().all(|&b| is_token_byte(b)) {
            return Err(HttpError::BadChunk);
        }
        rest = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_head: MAX_HEAD, max_body: 262_144 };

    fn complete(bytes: &[u8]) -> Vec<u8> {
        match parse_response(bytes, true, LIMITS) {
            Ok(Progress::Complete(body)) => body,
            other => panic!("not complete: {other:?}"),
        }
    }

    /// Feeds `bytes` one at a time: every strict prefix must be NeedMore.
    fn needs_every_byte(bytes: &[u8]) {
        for end in 0..bytes.len() {
            assert_eq!(parse_response(&bytes[..end], false, LIMITS), Ok(Progress::NeedMore), "prefix of {end} bytes");
        }
    }

    #[test]
    fn request_is_a_plain_get() {
        let r = encode_get("10.0.2.2", 8080, "/sgx/collateral?fmspc=00906ED50000").unwrap();
        assert_eq!(
            r,
            b"GET /sgx/collateral?fmspc=00906ED50000 HTTP/1.1\r\nHost: 10.0.2.2:8080\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n"
        );
        let r = encode_get("pccs.local", 80, "/").unwrap();
        assert!(r.starts_with(b"GET / HTTP/1.1\r\nHost: pccs.local\r\n"));
        assert_eq!(encode_get("a b", 80, "/"), Err(HttpError::BadHost));
        assert_eq!(encode_get("h\r\nX: y", 80, "/"), Err(HttpError::BadHost));
        assert_eq!(encode_get("h", 80, "x"), Err(HttpError::BadPath));
        assert_eq!(encode_get("h", 80, "/a b"), Err(HttpError::BadPath));
        assert_eq!(encode_get("h", 80, "/a\r\nX: y"), Err(HttpError::BadPath));
    }

    #[test]
    fn ok_with_content_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
        needs_every_byte(r);
        assert_eq!(parse_response(r, false, LIMITS), Ok(Progress::Complete(b"{\"a\":1}".to_vec())));
        // Bytes past the declared length are not part of the body.
        let mut extra = r.to_vec();
        extra.extend_from_slice(b"garbage");
        assert_eq!(complete(&extra), b"{\"a\":1}");
        // HTTP/1.0, no reason phrase, odd header case and spacing.
        assert_eq!(complete(b"HTTP/1.0 200\r\ncOnTeNt-LeNgTh:   2  \r\n\r\nok"), b"ok");
        assert_eq!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), b"");
    }

    #[test]
    fn only_200_is_accepted() {
        let r = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
        assert_eq!(parse_response(r, false, LIMITS), Err(HttpError::Status { code: 404 }));
        // Known as soon as the head is in, whatever the body does.
        assert_eq!(parse_response(b"HTTP/1.1 500 x\r\n\r\n", false, LIMITS), Err(HttpError::Status { code: 500 }));
        assert_eq!(parse_response(b"HTTP/1.1 204 No Content\r\n\r\n", true, LIMITS), Err(HttpError::Status { code: 204 }));
        assert_eq!(HttpError::Status { code: 404 }.to_string(), "server answered 404");
    }

    #[test]
    fn truncated_body_is_an_error_once_closed() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345";
        assert_eq!(parse_response(r, false, LIMITS), Ok(Progress::NeedMore));
        assert_eq!(parse_response(r, true, LIMITS), Err(HttpError::BodyTruncated { expected: 10, received: 5 }));
        assert_eq!(parse_response(b"", true, LIMITS), Err(HttpError::NoResponse));
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n", true, LIMITS), Err(HttpError::HeadTruncated { received: 17 }));
    }

    #[test]
    fn oversized_body_is_refused_before_it_arrives() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n";
        let e = parse_response(r, false, LIMITS).unwrap_err();
        assert_eq!(e, HttpError::DeclaredBodyTooLarge { len: 300_000, limit: 262_144 });
        assert_eq!(e.to_string(), "body of 300000 bytes exceeds 262144");
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n";
        assert_eq!(parse_response(huge, false, LIMITS), Err(HttpError::BadContentLength));
        let small = Limits { max_head: MAX_HEAD, max_body: 4 };
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, small),
            Err(HttpError::DeclaredBodyTooLarge { len: 5, limit: 4 })
        );
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", false, small), Ok(Progress::Complete(b"abcd".to_vec())));
    }

    #[test]
    fn head_is_bounded() {
        let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
        while r.len() < MAX_HEAD {
            r.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(parse_response(&r, false, LIMITS), Err(HttpError::HeadTooLarge { limit: MAX_HEAD }));
        // A head that ends just inside the bound is fine.
        let fits = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(fits.len(), 39);
        let exact = Limits { max_head: 38, max_body: 10 };
        assert_eq!(parse_response(fits, false, exact), Ok(Progress::Complete(b"x".to_vec())));
        let tight = Limits { max_head: 37, max_body: 10 };
        assert_eq!(parse_response(fits, false, tight), Err(HttpError::HeadTooLarge { limit: 37 }));
    }

    #[test]
    fn without_length_the_body_ends_when_the_peer_closes() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"tcb\":[]}";
        assert_eq!(parse_response(r, false, LIMITS), Ok(Progress::NeedMore));
        assert_eq!(complete(r), b"{\"tcb\":[]}");
        let small = Limits { max_head: MAX_HEAD, max_body: 4 };
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n\r\nabcd", true, small), Ok(Progress::Complete(b"abcd".to_vec())));
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n\r\nabcde", false, small), Err(HttpError::BodyTooLarge { limit: 4 }));
    }

    #[test]
    fn chunked_is_decoded_within_bounds() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;name=v\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";
        needs_every_byte(r);
        assert_eq!(complete(r), b"Wikipedia in \r\n\r\nchunks.");
        let closed_early = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n";
        assert_eq!(parse_response(closed_early, true, LIMITS), Err(HttpError::ChunkedTruncated));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWikiXX0\r\n\r\n";
        assert_eq!(parse_response(bad, false, LIMITS), Err(HttpError::BadChunk));
        let not_hex = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(parse_response(not_hex, false, LIMITS), Err(HttpError::BadChunk));
        let small = Limits { max_head: MAX_HEAD, max_body: 8 };
        let over = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n4\r\n";
        assert_eq!(parse_response(over, false, small), Err(HttpError::DeclaredBodyTooLarge { len: 9, limit: 8 }));
        let giant = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n";
        assert!(matches!(parse_response(giant, false, LIMITS), Err(HttpError::DeclaredBodyTooLarge { .. })));
        // Endless one-byte chunks run into the framing bound, not memory.
        let mut many = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..20_000 {
            many.extend_from_slice(b"1\r\na\r\n");
        }
        let big = Limits { max_head: MAX_HEAD, max_body: 1 << 20 };
        assert_eq!(parse_response(&many, false, big), Err(HttpError::ChunkFramingTooLarge { limit: MAX_CHUNK_FRAMING }));
    }

    #[test]
    fn ambiguous_framing_and_encodings_are_refused() {
        let both = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_response(both, false, LIMITS), Err(HttpError::ConflictingLengths));
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(parse_response(two, false, LIMITS), Err(HttpError::BadContentLength));
        let same = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(complete(same), b"abc");
        let signed = b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc";
        assert_eq!(parse_response(signed, false, LIMITS), Err(HttpError::BadContentLength));
        let gzip = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(parse_response(gzip, false, LIMITS), Err(HttpError::UnsupportedTransferEncoding));
        let ce = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(parse_response(ce, false, LIMITS), Err(HttpError::UnsupportedContentEncoding));
        let folded = b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(parse_response(folded, false, LIMITS), Err(HttpError::BadHeader { line: 3 }));
        let no_colon = b"HTTP/1.1 200 OK\r\nbogus\r\n\r\n";
        assert_eq!(parse_response(no_colon, false, LIMITS), Err(HttpError::BadHeader { line: 2 }));
    }

    #[test]
    fn status_line_is_strict() {
        for line in [&b"HTTP/2 200 OK"[..], b"HTTP/1.1 20 OK", b"HTTP/1.1 2000", b"HTTP/1.1  200", b"ICY 200 OK", b"HTTP/1.1 2x0 OK"] {
            let mut r = line.to_vec();
            r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            assert_eq!(parse_response(&r, false, LIMITS), Err(HttpError::BadStatusLine), "{line:?}");
        }
    }
}
