//! A bounded HTTP/1.1 server side: request-head parsing and response writing.
//!
//! Sans-IO: the kernel feeds bytes read from a TCP socket into
//! [`RequestHead::parse`] and writes back what [`Response::to_bytes`] returns.
//! Only what `/health` and `/public_data` need is accepted: a request line and
//! headers within [`MAX_HEAD_LEN`] bytes, no bodies. Anything else is a typed
//! error that maps to a 4xx status, never a panic.

use alloc::vec::Vec;
use core::fmt;

/// Largest request head accepted (request line + headers + blank line).
pub const MAX_HEAD_LEN: usize = 4096;
/// Longest request target accepted.
pub const MAX_TARGET_LEN: usize = 256;

/// Request methods the endpoint distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// Anything else that is a syntactically valid token.
    Other,
}

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// The method.
    pub method: Method,
    /// The request target, e.g. `/health`.
    pub target: &'a str,
    /// Whether the request body is announced (Content-Length > 0 or chunked);
    /// such requests are refused.
    pub has_body: bool,
}

/// Why a request head was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The head is longer than [`MAX_HEAD_LEN`] without ending.
    HeadTooLarge,
    /// The request line is not `METHOD SP TARGET SP HTTP/1.x`.
    BadRequestLine,
    /// The target is too long or not origin-form.
    BadTarget,
    /// A header line without a colon or with bytes outside visible ASCII.
    BadHeader,
    /// An HTTP version other than 1.0 / 1.1.
    UnsupportedVersion,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpError::HeadTooLarge => "request head too large",
            HttpError::BadRequestLine => "malformed request line",
            HttpError::BadTarget => "malformed request target",
            HttpError::BadHeader => "malformed header",
            HttpError::UnsupportedVersion => "unsupported HTTP version",
        })
    }
}

impl HttpError {
    /// The status code the server answers with.
    pub fn status(self) -> u16 {
        match self {
            HttpError::HeadTooLarge => 431,
            HttpError::UnsupportedVersion => 505,
            _ => 400,
        }
    }
}

impl<'a> RequestHead<'a> {
    /// Parses the bytes received so far. `Ok(None)` means the head is not
    /// complete yet and more bytes are needed.
    pub fn parse(buf: &'a [u8]) -> Result<Option<RequestHead<'a>>, HttpError> {
        let end = match find_head_end(buf) {
            Some(end) => end,
            None if buf.len() >= MAX_HEAD_LEN => return Err(HttpError::HeadTooLarge),
            None => return Ok(None),
        };
        if end > MAX_HEAD_LEN {
            return Err(HttpError::HeadTooLarge);
        }
        let head = core::str::from_utf8(&buf[..end]).map_err(|_| HttpError::BadHeader)?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().ok_or(HttpError::BadRequestLine)?;
        let mut parts = request_line.split(' ');
        let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next())
        {
            (Some(m), Some(t), Some(v), None) => (m, t, v),
            _ => return Err(HttpError::BadRequestLine),
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(HttpError::BadRequestLine);
        }
        let method = match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            _ => Method::Other,
        };
        if target.is_empty()
            || target.len() > MAX_TARGET_LEN
            || !target.starts_with('/')
            || !target.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(HttpError::BadTarget);
        }
        match version {
            "HTTP/1.1" | "HTTP/1.0" => {}
            v if v.starts_with("HTTP/") => return Err(HttpError::UnsupportedVersion),
            _ => return Err(HttpError::BadRequestLine),
        }
        let mut has_body = false;
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').ok_or(HttpError::BadHeader)?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(HttpError::BadHeader);
            }
            if !value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
                return Err(HttpError::BadHeader);
            }
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                has_body |= value != "0";
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                has_body = true;
            }
        }
        Ok(Some(RequestHead { method, target, has_body }))
    }
}

/// Index just past the `\r\n\r\n` ending the head, if present.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// A response to write back; the connection is closed after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type of the body.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response { status, content_type: "application/json", body }
    }

    /// A short plain-text error response.
    pub fn error(status: u16) -> Response {
        let mut body = Vec::from(reason(status).as_bytes());
        body.push(b'\n');
        Response { status, content_type: "text/plain", body }
    }

    /// Serialises status line, headers and body. `include_body` is false for HEAD.
    pub fn to_bytes(&self, include_body: bool) -> Vec<u8> {
        use core::fmt::Write;
        let mut head = alloc::string::String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        let mut out = head.into_bytes();
        if include_body {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_get() {
        let r = RequestHead::parse(b"GET /health HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r, RequestHead { method: Method::Get, target: "/health", has_body: false });
    }

    #[test]
    fn incomplete_then_complete() {
        let full = b"GET / HTTP/1.0\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(RequestHead::parse(&full[..cut]), Ok(None), "cut {cut}");
        }
        assert!(RequestHead::parse(full).unwrap().is_some());
    }

    #[test]
    fn refusals() {
        assert_eq!(RequestHead::parse(b"GET /\r\n\r\n"), Err(HttpError::BadRequestLine));
        assert_eq!(RequestHead::parse(b"get / HTTP/1.1\r\n\r\n"), Err(HttpError::BadRequestLine));
        assert_eq!(RequestHead::parse(b"GET x HTTP/1.1\r\n\r\n"), Err(HttpError::BadTarget));
        assert_eq!(RequestHead::parse(b"GET / HTTP/2\r\n\r\n"), Err(HttpError::UnsupportedVersion));
        assert_eq!(RequestHead::parse(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n"), Err(HttpError::BadHeader));
        assert_eq!(RequestHead::parse(b"GET / HTTP/1.1\r\nA: \xff\r\n\r\n"), Err(HttpError::BadHeader));
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        big.resize(MAX_HEAD_LEN, b'a');
        assert_eq!(RequestHead::parse(&big), Err(HttpError::HeadTooLarge));
        let r = RequestHead::parse(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").unwrap().unwrap();
        assert_eq!((r.method, r.has_body), (Method::Other, true));
    }

    #[test]
    fn response_bytes() {
        let r = Response::json(200, b"{}".to_vec());
        assert_eq!(
            r.to_bytes(true),
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
        assert!(!r.to_bytes(false).ends_with(b"{}"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = RequestHead::parse(&bytes);
        }
    }
}
