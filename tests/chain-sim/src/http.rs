//! HTTP/1.1 for the server side, sans-IO: a request parser fed the bytes
//! received so far (bounded head and body, `Content-Length` framing only,
//! typed errors) and a response encoder.

use std::fmt;

/// Limits on a request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_head: usize,
    pub max_body: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_head: 16 * 1024, max_body: crate::rpc::MAX_REQUEST_BYTES, max_headers: 64 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Other,
}

/// A complete request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub target: String,
    pub body: Vec<u8>,
    /// HTTP/1.1 without `Connection: close` (or 1.0 with keep-alive).
    pub keep_alive: bool,
}

/// Why a request was refused; each maps to a status code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    HeadTooLarge { max: usize },
    TooManyHeaders { max: usize },
    BodyTooLarge { len: usize, max: usize },
    BadRequestLine,
    UnsupportedVersion,
    BadHeader,
    BadContentLength,
    /// `Transfer-Encoding` bodies are not accepted (411 Length Required).
    TransferEncoding,
}

impl HttpError {
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => (431, "Request Header Fields Too Large"),
            Self::BodyTooLarge { .. } => (413, "Payload Too Large"),
            Self::UnsupportedVersion => (505, "HTTP Version Not Supported"),
            Self::TransferEncoding => (411, "Length Required"),
            Self::BadRequestLine | Self::BadHeader | Self::BadContentLength => (400, "Bad Request"),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadTooLarge { max } => write!(f, "request head larger than {max} bytes"),
            Self::TooManyHeaders { max } => write!(f, "more than {max} headers"),
            Self::BodyTooLarge { len, max } => write!(f, "body of {len} bytes exceeds {max}"),
            Self::BadRequestLine => f.write_str("malformed request line"),
            Self::UnsupportedVersion => f.write_str("only HTTP/1.0 and HTTP/1.1 are supported"),
            Self::BadHeader => f.write_str("malformed header"),
            Self::BadContentLength => f.write_str("malformed or conflicting Content-Length"),
            Self::TransferEncoding => f.write_str("Transfer-Encoding is not supported; send Content-Length"),
        }
    }
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

/// Parses one request from the start of `buf`. `Ok(None)`: need more bytes.
/// `Ok(Some((request, used)))`: `used` bytes were consumed.
pub fn parse_request(buf: &[u8], limits: Limits) -> Result<Option<(Request, usize)>, HttpError> {
    let Some(head_end) = find(&buf[..buf.len().min(limits.max_head + 4)], b"\r\n\r\n") else {
        if buf.len() > limits.max_head {
            return Err(HttpError::HeadTooLarge { max: limits.max_head });
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(buf.get(..head_end).ok_or(HttpError::BadRequestLine)?).map_err(|_| HttpError::BadHeader)?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().ok_or(HttpError::BadRequestLine)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(HttpError::BadRequestLine);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::BadRequestLine);
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(HttpError::UnsupportedVersion),
    };
    let mut content_length: Option<usize> = None;
    let mut keep_alive = http11;
    for (count, line) in lines.enumerate() {
        if count >= limits.max_headers {
            return Err(HttpError::TooManyHeaders { max: limits.max_headers });
        }
        let (name, value) = line.split_once(':').ok_or(HttpError::BadHeader)?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(HttpError::BadHeader);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::BadContentLength);
            }
            let n: usize = value.parse().map_err(|_| HttpError::BadContentLength)?;
            if content_length.is_some_and(|c| c != n) {
                return Err(HttpError::BadContentLength);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::TransferEncoding);
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                keep_alive = false;
            } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                keep_alive = true;
            }
        }
    }
    let len = content_length.unwrap_or(0);
    if len > limits.max_body {
        return Err(HttpError::BodyTooLarge { len, max: limits.max_body });
    }
    let body_start = head_end + 4;
    let Some(total) = body_start.checked_add(len) else { return Err(HttpError::BadContentLength) };
    let Some(body) = buf.get(body_start..total) else { return Ok(None) };
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        _ => Method::Other,
    };
    Ok(Some((Request { method, target: target.to_owned(), body: body.to_vec(), keep_alive }, total)))
}

/// Encodes a response.
pub fn response(status: u16, reason: &str, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_in_pieces() {
        let req = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET";
        let l = Limits::default();
        for cut in 0..req.len() - 3 {
            let r = parse_request(&req[..cut], l).unwrap();
            if cut < req.len() - 3 {
                assert!(r.is_none(), "cut {cut}");
            }
        }
        let (r, used) = parse_request(req, l).unwrap().unwrap();
        assert_eq!(r.body, b"hello");
        assert_eq!(r.method, Method::Post);
        assert!(r.keep_alive);
        assert_eq!(used, req.len() - 3);
    }

    #[test]
    fn refuses_bad_input() {
        let l = Limits { max_head: 64, max_body: 10, max_headers: 3 };
        assert_eq!(parse_request(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", l), Err(HttpError::BodyTooLarge { len: 11, max: 10 }));
        assert_eq!(parse_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", l), Err(HttpError::TransferEncoding));
        assert_eq!(parse_request(b"POST / HTTP/2\r\n\r\n", l), Err(HttpError::UnsupportedVersion));
        assert_eq!(parse_request(b"POST /\r\n\r\n", l), Err(HttpError::BadRequestLine));
        assert_eq!(parse_request(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", l), Err(HttpError::BadContentLength));
        assert_eq!(parse_request(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", l), Err(HttpError::BadContentLength));
        assert_eq!(parse_request(b"POST / HTTP/1.1\r\nbad header\r\n\r\n", l), Err(HttpError::BadHeader));
        assert_eq!(parse_request(b"POST / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n", l), Err(HttpError::TooManyHeaders { max: 3 }));
        assert!(matches!(parse_request(&[b'a'; 100], l), Err(HttpError::HeadTooLarge { .. })));
        let (r, _) = parse_request(b"GET /status HTTP/1.0\r\n\r\n", l).unwrap().unwrap();
        assert!(!r.keep_alive);
        assert_eq!(r.method, Method::Get);
    }
}
