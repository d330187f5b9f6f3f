//! HTTP/1.1 framing over any byte stream: request encoders (a JSON POST for
//! RPC, a plain GET) and a response decoder that is fed bytes as they arrive
//! (sans-IO).
//!
//! The answer comes from a server we do not trust, so the decoder bounds the
//! head, the body and the chunked framing, accepts only status 200 (refused as
//! soon as the head is in, without reading the body), and refuses anything
//! ambiguous rather than guessing: two lengths, a transfer or content coding
//! other than plain `chunked`/`identity`, header names that are not tokens
//! (which also catches obsolete line folding), control characters, signs in
//! numbers, trailers after the last chunk. Its result does not depend on how
//! the bytes were split into reads.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Longest chunk-size line (hex size plus extensions), CRLF excluded.
pub const MAX_CHUNK_LINE: usize = 1024;
/// Bound on chunked framing: size lines, the CRLF after each chunk's data and
/// the end of the last chunk.
pub const MAX_CHUNK_FRAMING: usize = 64 * 1024;
/// Most header lines in a response head.
const MAX_HEADERS: usize = 100;

/// Encodes a JSON POST. `host` goes in the Host header; `path` is the target.
pub fn encode_post(host: &str, path: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 160);
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(if path.is_empty() { b"/" } else { path.as_bytes() });
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ");
    out.extend_from_slice(alloc::format!("{}", body.len()).as_bytes());
    out.extend_from_slice(if keep_alive { b"\r\nConnection: keep-alive\r\n\r\n" } else { b"\r\nConnection: close\r\n\r\n" });
    out.extend_from_slice(body);
    out
}

/// Why a request could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The host is not a DNS name or IPv4 address (letters, digits, `.`, `-`),
    /// so it could not go into a `Host` header as is.
    BadHost,
    /// The path is not `/` followed by visible ASCII.
    BadPath,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadHost => f.write_str("host name not usable in a Host header"),
            Self::BadPath => f.write_str("request path must be '/' followed by visible ASCII"),
        }
    }
}

/// Encodes `GET path HTTP/1.1` with `Host` (`host:port` unless the port is
/// 80), `Connection: close` and `Accept-Encoding: identity`. Host and path are
/// checked byte by byte, so no space, CR, LF or other control character can
/// end the request line or add a header.
pub fn encode_get(host: &str, port: u16, path: &str) -> Result<Vec<u8>, RequestError> {
    let host_ok = !host.is_empty() && host.len() <= 253 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !host_ok {
        return Err(RequestError::BadHost);
    }
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RequestError::BadPath);
    }
    let mut out = Vec::with_capacity(path.len() + host.len() + 96);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    if port != 80 {
        out.extend_from_slice(alloc::format!(":{port}").as_bytes());
    }
    out.extend_from_slice(b"\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n");
    Ok(out)
}

/// Limits on a response.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Status line, headers and the empty line that ends them, in bytes.
    pub max_head: usize,
    /// Body after chunked decoding, in bytes.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_head: 16 * 1024, max_body: crate::view::MAX_JSON_BYTES }
    }
}

/// Why a response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    HeadTooLarge,
    BodyTooLarge { max: usize },
    BadStatusLine,
    BadHeader,
    BadContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ConflictingLengths,
    /// A transfer coding other than one plain `chunked`.
    UnsupportedTransferEncoding,
    /// A content coding other than `identity`.
    UnsupportedContentEncoding,
    BadChunk,
    /// Chunk-size lines and CRLFs together passed [`MAX_CHUNK_FRAMING`].
    ChunkFramingTooLarge { max: usize },
    /// Neither Content-Length nor chunked, and not closed by the peer.
    NoBodyFraming,
    /// The peer closed before the response was complete.
    UnexpectedEof,
    /// A status other than 200.
    Status { code: u16 },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadTooLarge => f.write_str("HTTP head too large"),
            Self::BodyTooLarge { max } => write!(f, "HTTP body larger than {max} bytes"),
            Self::BadStatusLine => f.write_str("malformed HTTP status line"),
            Self::BadHeader => f.write_str("malformed HTTP header"),
            Self::BadContentLength => f.write_str("malformed Content-Length"),
            Self::ConflictingLengths => f.write_str("both Content-Length and Transfer-Encoding in the response"),
            Self::UnsupportedTransferEncoding => f.write_str("unsupported Transfer-Encoding (only chunked)"),
            Self::UnsupportedContentEncoding => f.write_str("unsupported Content-Encoding (only identity)"),
            Self::BadChunk => f.write_str("malformed chunked encoding"),
            Self::ChunkFramingTooLarge { max } => write!(f, "chunked framing larger than {max} bytes"),
            Self::NoBodyFraming => f.write_str("response has no body framing"),
            Self::UnexpectedEof => f.write_str("connection closed mid-response"),
            Self::Status { code } => write!(f, "HTTP status {code}"),
        }
    }
}

#[derive(Debug)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Always 200: any other status is an [`HttpError::Status`].
    pub status: u16,
    pub body: Vec<u8>,
    /// The server asked to close the connection.
    pub close: bool,
}

/// Where chunked decoding stands: everything before `buf[0]` has been
/// decoded into `body`, so each read is scanned once.
#[derive(Default)]
struct Dechunk {
    body: Vec<u8>,
    /// Framing bytes charged so far (complete chunks only).
    framing: usize,
}

/// Incremental response decoder: call [`ResponseDecoder::feed`] with bytes as
/// they arrive; it returns the response once complete.
pub struct ResponseDecoder {
    limits: Limits,
    /// Bytes not consumed yet: the head until it is parsed, then the body
    /// (for chunked bodies, the part after the last complete chunk).
    buf: Vec<u8>,
    head: Option<(Framing, bool)>,
    dechunk: Dechunk,
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

/// A control character other than HTAB (which header values may carry).
fn is_control(b: u8) -> bool {
    (b < b' ' && b != b'\t') || b == 0x7f
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decimal digits only (no sign, no space), at most 19 of them.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| if b.is_ascii_digit() { acc.checked_mul(10)?.checked_add(u64::from(b - b'0')) } else { None })
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

/// `HTTP/1.0` or `HTTP/1.1`, one space, three digits, then the end or a space
/// and a reason phrase without control characters. Returns (status, HTTP/1.0).
fn parse_status_line(line: &str) -> Result<(u16, bool), HttpError> {
    let (http10, rest) = if let Some(r) = line.strip_prefix("HTTP/1.1 ") {
        (false, r)
    } else if let Some(r) = line.strip_prefix("HTTP/1.0 ") {
        (true, r)
    } else {
        return Err(HttpError::BadStatusLine);
    };
    let [a, b, c, tail @ ..] = rest.as_bytes() else { return Err(HttpError::BadStatusLine) };
    let digits = [*a, *b, *c];
    if !digits.iter().all(u8::is_ascii_digit) || !matches!(tail, [] | [b' ', ..]) || tail.iter().any(|&b| is_control(b)) {
        return Err(HttpError::BadStatusLine);
    }
    Ok((digits.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')), http10))
}

/// Hex size (no sign, at most 16 digits), optionally followed by `;`
/// extensions, which are ignored but must not carry control characters.
fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let hex_end = line.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(line.len());
    let (hex, ext) = line.split_at(hex_end);
    let ext = trim_ows(ext);
    if hex.is_empty() || hex.len() > 16 || !matches!(ext, [] | [b';', ..]) || ext.iter().any(|&b| is_control(b)) {
        return Err(HttpError::BadChunk);
    }
    hex.iter().try_fold(0u64, |acc, &b| Some((acc << 4) | u64::from((b as char).to_digit(16)?))).ok_or(HttpError::BadChunk)
}

/// Adds `n` framing bytes to `framing`, within [`MAX_CHUNK_FRAMING`].
fn charge(framing: &mut usize, n: usize) -> Result<(), HttpError> {
    *framing = framing.saturating_add(n);
    if *framing > MAX_CHUNK_FRAMING {
        return Err(HttpError::ChunkFramingTooLarge { max: MAX_CHUNK_FRAMING });
    }
    Ok(())
}

impl ResponseDecoder {
    pub fn new(limits: Limits) -> Self {
        Self { limits, buf: Vec::new(), head: None, dechunk: Dechunk::default() }
    }

    /// Feeds bytes; `eof` says the peer closed. Returns `Ok(Some)` when done.
    /// Bytes after a complete response are ignored.
    pub fn feed(&mut self, data: &[u8], eof: bool) -> Result<Option<Response>, HttpError> {
        // A complete response never needs more unconsumed bytes than this
        // (head, body and chunked framing each have their bound), so the rest
        // of an oversized read is dropped rather than copied; if the response
        // is not complete within it, it is too large.
        let cap = self.limits.max_head.saturating_add(self.limits.max_body).saturating_add(MAX_CHUNK_FRAMING);
        let room = cap.saturating_sub(self.buf.len());
        let kept = data.get(..room).unwrap_or(data);
        let overflowed = kept.len() < data.len();
        self.buf.extend_from_slice(kept);
        match self.decode(eof && !overflowed)? {
            None if overflowed => Err(HttpError::BodyTooLarge { max: self.limits.max_body }),
            done => Ok(done),
        }
    }

    fn decode(&mut self, eof: bool) -> Result<Option<Response>, HttpError> {
        if self.head.is_none() {
            let window = self.buf.get(..self.limits.max_head).unwrap_or(&self.buf);
            let Some(end) = find(window, b"\r\n\r\n") else {
                // Any terminator still to come would end past the bound.
                if self.buf.len() >= self.limits.max_head {
                    return Err(HttpError::HeadTooLarge);
                }
                return if eof { Err(HttpError::UnexpectedEof) } else { Ok(None) };
            };
            let head = core::str::from_utf8(self.buf.get(..end).unwrap_or(&[])).map_err(|_| HttpError::BadHeader)?;
            let (status, framing, close) = Self::parse_head(head)?;
            // Refused on the head alone: the body of an error answer is never read.
            if status != 200 {
                return Err(HttpError::Status { code: status });
            }
            if let Framing::Length(n) = framing {
                if n > self.limits.max_body {
                    return Err(HttpError::BodyTooLarge { max: self.limits.max_body });
                }
            }
            self.buf.drain(..end + 4);
            self.head = Some((framing, close));
        }
        let Some((framing, close)) = &self.head else { return Ok(None) };
        let close = *close || matches!(framing, Framing::UntilClose);
        let body = match framing {
            Framing::Length(n) => {
                if self.buf.len() < *n {
                    return if eof { Err(HttpError::UnexpectedEof) } else { Ok(None) };
                }
                self.buf.get(..*n).map(<[u8]>::to_vec).unwrap_or_default()
            }
            Framing::UntilClose => {
                if self.buf.len() > self.limits.max_body {
                    return Err(HttpError::BodyTooLarge { max: self.limits.max_body });
                }
                if !eof {
                    return Ok(None);
                }
                core::mem::take(&mut self.buf)
            }
            Framing::Chunked => {
                if !self.dechunk()? {
                    return if eof { Err(HttpError::UnexpectedEof) } else { Ok(None) };
                }
                core::mem::take(&mut self.dechunk.body)
            }
        };
        Ok(Some(Response { status: 200, body, close }))
    }

    fn parse_head(head: &str) -> Result<(u16, Framing, bool), HttpError> {
        let mut lines = head.split("\r\n");
        let status_line = lines.next().ok_or(HttpError::BadStatusLine)?;
        let (code, http10) = parse_status_line(status_line)?;
        let mut length = None;
        let mut chunked = false;
        let mut close = http10;
        for (n, line) in lines.enumerate() {
            if n >= MAX_HEADERS {
                return Err(HttpError::HeadTooLarge);
            }
            let (name, value) = line.split_once(':').ok_or(HttpError::BadHeader)?;
            // A name that is not a token also catches folded lines (leading
            // space) and a space before the colon.
            let value = value.trim_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(is_token_byte) || value.bytes().any(is_control) {
                return Err(HttpError::BadHeader);
            }
            if name.eq_ignore_ascii_case("content-length") {
                let v = parse_decimal(value).ok_or(HttpError::BadContentLength)?;
                if length.is_some_and(|l| l != v) {
                    return Err(HttpError::BadContentLength);
                }
                length = Some(v);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                if chunked || !value.eq_ignore_ascii_case("chunked") {
                    return Err(HttpError::UnsupportedTransferEncoding);
                }
                chunked = true;
            } else if name.eq_ignore_ascii_case("content-encoding") {
                if !value.eq_ignore_ascii_case("identity") {
                    return Err(HttpError::UnsupportedContentEncoding);
                }
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        let framing = match (chunked, length) {
            (true, Some(_)) => return Err(HttpError::ConflictingLengths),
            (true, None) => Framing::Chunked,
            // Too large for this machine is too large for any limit.
            (false, Some(n)) => Framing::Length(usize::try_from(n).unwrap_or(usize::MAX)),
            (false, None) => Framing::UntilClose,
        };
        Ok((code, framing, close))
    }

    /// Decodes the complete chunks in the buffer into `self.dechunk` and
    /// drops them from the buffer. `Ok(true)`: the last chunk is in.
    /// Trailers are refused (none are expected).
    fn dechunk(&mut self) -> Result<bool, HttpError> {
        let mut pos = 0usize;
        let result = loop {
            let rest = self.buf.get(pos..).unwrap_or(&[]);
            let window = rest.get(..MAX_CHUNK_LINE + 2).unwrap_or(rest);
            let Some(line_end) = find(window, b"\r\n") else {
                if rest.len() >= MAX_CHUNK_LINE + 2 {
                    break Err(HttpError::BadChunk);
                }
                // An unfinished size line counts against the framing bound now.
                let mut framing = self.dechunk.framing;
                break charge(&mut framing, rest.len()).map(|()| false);
            };
            let size = match parse_chunk_size(rest.get(..line_end).unwrap_or(&[])) {
                Ok(size) => size,
                Err(e) => break Err(e),
            };
            let data_start = line_end + 2;
            let mut framing = self.dechunk.framing;
            if size == 0 {
                // The last chunk: its line, then the empty line ending the message.
                let end = match rest.get(data_start..) {
                    Some([b'\r', b'\n', ..]) => true,
                    Some([] | [b'\r']) | None => false,
                    Some(_) => break Err(HttpError::BadChunk),
                };
                let charged = if end { data_start + 2 } else { rest.len() };
                break charge(&mut framing, charged).map(|()| end);
            }
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if self.dechunk.body.len().saturating_add(size) > self.limits.max_body {
                break Err(HttpError::BodyTooLarge { max: self.limits.max_body });
            }
            if let Err(e) = charge(&mut framing, data_start + 2) {
                break Err(e);
            }
            let data_end = data_start.saturating_add(size);
            let Some(data) = rest.get(data_start..data_end) else { break Ok(false) };
            match rest.get(data_end..) {
                Some([b'\r', b'\n', ..]) => {}
                Some([] | [b'\r']) | None => break Ok(false),
                Some(_) => break Err(HttpError::BadChunk),
            }
            self.dechunk.body.extend_from_slice(data);
            self.dechunk.framing = framing;
            pos += data_end + 2;
        };
        self.buf.drain(..pos.min(self.buf.len()));
        result
    }
}

/// Splits a URL `http[s]://host[:port][/path]` into (tls, host, port, path).
pub fn split_url(url: &str) -> Option<(bool, String, u16, String)> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return None;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    Some((tls, String::from(host), port, String::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_in_pieces() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let mut d = ResponseDecoder::new(Limits::default());
        for (i, b) in resp.iter().enumerate() {
            let r = d.feed(&[*b], false).unwrap();
            if i + 1 < resp.len() {
                assert!(r.is_none());
            } else {
                assert_eq!(r.unwrap().body, b"hello");
            }
        }
    }

    #[test]
    fn chunked_and_errors() {
        let mut d = ResponseDecoder::new(Limits::default());
        let r = d.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", false).unwrap();
        assert_eq!(r.unwrap().body, b"abcde");
        let mut d = ResponseDecoder::new(Limits::default());
        assert_eq!(d.feed(b"HTTP/1.1 503 x\r\nContent-Length: 0\r\n\r\n", false), Err(HttpError::Status { code: 503 }));
        let mut d = ResponseDecoder::new(Limits { max_head: 100, max_body: 4 });
        assert!(matches!(d.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false), Err(HttpError::BodyTooLarge { .. })));
        let mut d = ResponseDecoder::new(Limits::default());
        assert_eq!(d.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true), Err(HttpError::UnexpectedEof));
        let mut d = ResponseDecoder::new(Limits::default());
        assert_eq!(d.feed(b"garbage\r\n\r\n", false), Err(HttpError::BadStatusLine));
        let mut d = ResponseDecoder::new(Limits::default());
        assert_eq!(d.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false), Err(HttpError::BadContentLength));
    }

    const LIMITS: Limits = Limits { max_head: 16 * 1024, max_body: 262_144 };

    /// The whole answer in one read, then the close.
    fn at_once(bytes: &[u8], limits: Limits) -> Result<Option<Response>, HttpError> {
        ResponseDecoder::new(limits).feed(bytes, true)
    }

    /// One byte per read, then the close.
    fn bytewise(bytes: &[u8], limits: Limits) -> Result<Option<Response>, HttpError> {
        let mut d = ResponseDecoder::new(limits);
        for b in bytes {
            if let Some(r) = d.feed(core::slice::from_ref(b), false)? {
                return Ok(Some(r));
            }
        }
        d.feed(&[], true)
    }

    fn body(bytes: &[u8]) -> Vec<u8> {
        let one = at_once(bytes, LIMITS).unwrap().unwrap();
        assert_eq!(bytewise(bytes, LIMITS).unwrap().unwrap(), one);
        one.body
    }

    fn refused(bytes: &[u8], limits: Limits) -> HttpError {
        let e = at_once(bytes, limits).unwrap_err();
        assert_eq!(bytewise(bytes, limits).unwrap_err(), e, "split reads disagree");
        e
    }

    #[test]
    fn get_request_is_plain_and_cannot_be_injected() {
        assert_eq!(
            encode_get("10.0.2.2", 8080, "/sgx/collateral?fmspc=00906ED50000").unwrap(),
            b"GET /sgx/collateral?fmspc=00906ED50000 HTTP/1.1\r\nHost: 10.0.2.2:8080\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n"
        );
        // Port 80 is the default and stays out of the Host header.
        assert_eq!(encode_get("pccs.local", 80, "/").unwrap(), b"GET / HTTP/1.1\r\nHost: pccs.local\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n");
        for host in ["", "a b", "h\r\nX-Injected: 1", "h\r", "h\n", "h\t", "h\0", "h:80", "[::1]", "h/x", "h\u{e9}", &"a".repeat(254)] {
            assert_eq!(encode_get(host, 80, "/"), Err(RequestError::BadHost), "{host:?}");
        }
        for path in ["", "x", "/a b", "/a\r\nX-Injected: 1", "/a\r", "/a\n", "/a\tb", "/a\0", "/\u{7f}", "/\u{e9}"] {
            assert_eq!(encode_get("h", 80, path), Err(RequestError::BadPath), "{path:?}");
        }
        assert_eq!(RequestError::BadPath.to_string(), "request path must be '/' followed by visible ASCII");
    }

    #[test]
    fn content_length_body() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
        assert_eq!(body(r), b"{\"a\":1}");
        // Complete without the close, and bytes past the declared length are not body.
        let mut extra = r.to_vec();
        extra.extend_from_slice(b"garbage");
        assert_eq!(ResponseDecoder::new(LIMITS).feed(&extra, false).unwrap().unwrap().body, b"{\"a\":1}");
        // HTTP/1.0, no reason phrase, odd header case and spacing.
        assert_eq!(body(b"HTTP/1.0 200\r\ncOnTeNt-LeNgTh:   2  \r\n\r\nok"), b"ok");
        assert_eq!(body(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), b"");
        assert_eq!(body(b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 1\r\n\r\nx"), b"x");
    }

    #[test]
    fn non_200_is_refused_on_the_head_alone() {
        // The body never arrives and the peer never closes: known anyway.
        let mut d = ResponseDecoder::new(LIMITS);
        assert_eq!(d.feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", false), Err(HttpError::Status { code: 404 }));
        let mut d = ResponseDecoder::new(LIMITS);
        assert_eq!(d.feed(b"HTTP/1.1 500 x\r\n\r\n", false), Err(HttpError::Status { code: 500 }));
        assert_eq!(refused(b"HTTP/1.1 204 No Content\r\n\r\n", LIMITS), HttpError::Status { code: 204 });
        // Even when its body would be too large.
        assert_eq!(refused(b"HTTP/1.1 503 x\r\nContent-Length: 999999999\r\n\r\n", LIMITS), HttpError::Status { code: 503 });
    }

    #[test]
    fn truncation_is_an_error_once_closed() {
        assert_eq!(refused(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", LIMITS), HttpError::UnexpectedEof);
        assert_eq!(refused(b"", LIMITS), HttpError::UnexpectedEof);
        assert_eq!(refused(b"HTTP/1.1 200 OK\r\n", LIMITS), HttpError::UnexpectedEof);
        assert_eq!(refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n", LIMITS), HttpError::UnexpectedEof);
    }

    #[test]
    fn bodies_are_bounded() {
        let small = Limits { max_head: 1024, max_body: 4 };
        // Declared too large: refused before any of it arrives.
        let mut d = ResponseDecoder::new(small);
        assert_eq!(d.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false), Err(HttpError::BodyTooLarge { max: 4 }));
        assert_eq!(at_once(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", small).unwrap().unwrap().body, b"abcd");
        assert_eq!(refused(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", LIMITS), HttpError::BadContentLength);
        assert_eq!(refused(b"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n", LIMITS), HttpError::BodyTooLarge { max: 262_144 });
        // Delimited by the close.
        assert_eq!(at_once(b"HTTP/1.1 200 OK\r\n\r\nabcd", small).unwrap().unwrap().body, b"abcd");
        let mut d = ResponseDecoder::new(small);
        assert_eq!(d.feed(b"HTTP/1.1 200 OK\r\n\r\nabcde", false), Err(HttpError::BodyTooLarge { max: 4 }));
        // A complete answer followed by far more than the bounds in one read is still complete.
        let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
        big.resize(big.len() + 200_000, b'x');
        assert_eq!(ResponseDecoder::new(small).feed(&big, false).unwrap().unwrap().body, b"ok");
        // An incomplete one of that size is too large.
        let mut open = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        open.resize(open.len() + 200_000, b'0');
        assert!(ResponseDecoder::new(small).feed(&open, false).is_err());
    }

    #[test]
    fn head_is_bounded_terminator_included() {
        let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
        while r.len() < LIMITS.max_head {
            r.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut d = ResponseDecoder::new(LIMITS);
        assert_eq!(d.feed(&r, false), Err(HttpError::HeadTooLarge));
        let fits = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(fits.len(), 39);
        assert_eq!(body(fits), b"x");
        let exact = Limits { max_head: 38, max_body: 10 };
        assert_eq!(at_once(fits, exact).unwrap().unwrap().body, b"x");
        assert_eq!(bytewise(fits, exact).unwrap().unwrap().body, b"x");
        let tight = Limits { max_head: 37, max_body: 10 };
        assert_eq!(refused(fits, tight), HttpError::HeadTooLarge);
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"A: b\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(refused(&many, LIMITS), HttpError::HeadTooLarge);
    }

    #[test]
    fn chunked_is_decoded_within_bounds() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;name=v\r\npedia \r\nE \r\nin \r\n\r\nchunks.\r\n0\r\n\r\n";
        assert_eq!(body(r), b"Wikipedia in \r\n\r\nchunks.");
        // Data not followed by CRLF, sizes that are not plain hex, control characters in extensions.
        assert_eq!(refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWikiXX0\r\n\r\n", LIMITS), HttpError::BadChunk);
        for line in ["zz", "+5", "-5", " 5", "", "5 x", "5;a\u{1}b", "10000000000000000"] {
            let r = alloc::format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{line}\r\nabcde\r\n0\r\n\r\n");
            assert_eq!(refused(r.as_bytes(), LIMITS), HttpError::BadChunk, "{line:?}");
        }
        // Trailers are not expected and are refused.
        let trailer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(refused(trailer, LIMITS), HttpError::BadChunk);
        // Body bound across chunks, and a size too large for any bound.
        let small = Limits { max_head: 1024, max_body: 8 };
        let over = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n4\r\n";
        assert_eq!(refused(over, small), HttpError::BodyTooLarge { max: 8 });
        let giant = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n";
        assert_eq!(refused(giant, LIMITS), HttpError::BodyTooLarge { max: 262_144 });
    }

    #[test]
    fn chunked_framing_is_bounded_and_split_independent() {
        // Endless one-byte chunks run into the framing bound, not memory.
        let mut many = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..20_000 {
            many.extend_from_slice(b"1\r\na\r\n");
        }
        let big = Limits { max_head: 1024, max_body: 1 << 20 };
        assert_eq!(refused(&many, big), HttpError::ChunkFramingTooLarge { max: MAX_CHUNK_FRAMING });
        // A size line with a long extension is accepted whether it comes in
        // one read or byte by byte, up to the line bound.
        let ext = "x".repeat(MAX_CHUNK_LINE - 2);
        let ok = alloc::format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;{ext}\r\nab\r\n0\r\n\r\n");
        assert_eq!(body(ok.as_bytes()), b"ab");
        let long = alloc::format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;{ext}x\r\nab\r\n0\r\n\r\n");
        assert_eq!(refused(long.as_bytes(), LIMITS), HttpError::BadChunk);
    }

    #[test]
    fn ambiguous_heads_are_refused() {
        let cases: [(&[u8], HttpError); 12] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", HttpError::ConflictingLengths),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", HttpError::BadContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", HttpError::BadContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3 3\r\n\r\nabc", HttpError::BadContentLength),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HttpError::UnsupportedTransferEncoding),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", HttpError::UnsupportedTransferEncoding),
            (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx", HttpError::UnsupportedContentEncoding),
            (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\nContent-Length: 1\r\n\r\nx", HttpError::BadHeader),
            (b"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", HttpError::BadHeader),
            (b"HTTP/1.1 200 OK\r\nbogus\r\n\r\n", HttpError::BadHeader),
            (b"HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 1\r\n\r\nx", HttpError::BadHeader),
            (b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 1\r\n\r\nx", HttpError::BadHeader),
        ];
        for (r, e) in cases {
            assert_eq!(refused(r, LIMITS), e, "{:?}", core::str::from_utf8(r));
        }
        assert_eq!(body(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"), b"abc");
    }

    #[test]
    fn status_line_is_strict() {
        for line in [&b"HTTP/2 200 OK"[..], b"HTTP/1.1 20 OK", b"HTTP/1.1 2000", b"HTTP/1.1  200", b"ICY 200 OK", b"HTTP/1.1 2x0 OK", b"HTTP/1.1 +20 OK", b"HTTP/1.1 200 O\x01K", b"http/1.1 200 OK"] {
            let mut r = line.to_vec();
            r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            assert_eq!(refused(&r, LIMITS), HttpError::BadStatusLine, "{line:?}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(split_url("https://rpc.example:8443/x"), Some((true, "rpc.example".into(), 8443, "/x".into())));
        assert_eq!(split_url("http://127.0.0.1"), Some((false, "127.0.0.1".into(), 80, "/".into())));
        assert_eq!(split_url("ftp://x"), None);
    }
}
