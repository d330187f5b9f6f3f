//! HTTP/1.1 framing over any byte stream: a POST encoder and a response
//! decoder that is fed bytes as they arrive (sans-IO). Header count/size and
//! body size are bounded; chunked and Content-Length bodies are supported.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

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

/// Limits on a response.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_head: usize,
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
    BadChunk,
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
            Self::BadChunk => f.write_str("malformed chunked encoding"),
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
    pub status: u16,
    pub body: Vec<u8>,
    /// The server asked to close the connection.
    pub close: bool,
}

/// Incremental response decoder: call [`ResponseDecoder::feed`] with bytes as
/// they arrive; it returns the response once complete.
pub struct ResponseDecoder {
    limits: Limits,
    buf: Vec<u8>,
    head: Option<(u16, Framing, bool)>,
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

fn parse_usize(s: &str, radix: u32) -> Option<usize> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    usize::from_str_radix(s, radix).ok()
}

impl ResponseDecoder {
    pub fn new(limits: Limits) -> Self {
        Self { limits, buf: Vec::new(), head: None }
    }

    /// Feeds bytes; `eof` says the peer closed. Returns `Ok(Some)` when done.
    pub fn feed(&mut self, data: &[u8], eof: bool) -> Result<Option<Response>, HttpError> {
        let cap = self.limits.max_head.saturating_add(self.limits.max_body).saturating_add(64 * 1024);
        if self.buf.len().saturating_add(data.len()) > cap {
            return Err(HttpError::BodyTooLarge { max: self.limits.max_body });
        }
        self.buf.extend_from_slice(data);
        if self.head.is_none() {
            let Some(end) = find(&self.buf, b"\r\n\r\n") else {
                if self.buf.len() > self.limits.max_head {
                    return Err(HttpError::HeadTooLarge);
                }
                return if eof { Err(HttpError::UnexpectedEof) } else { Ok(None) };
            };
            if end > self.limits.max_head {
                return Err(HttpError::HeadTooLarge);
            }
            let head = core::str::from_utf8(self.buf.get(..end).unwrap_or(&[])).map_err(|_| HttpError::BadHeader)?;
            let parsed = Self::parse_head(head)?;
            self.buf.drain(..end + 4);
            self.head = Some(parsed);
        }
        let Some((status, framing, close)) = &self.head else { return Ok(None) };
        let (status, close) = (*status, *close);
        let body = match framing {
            Framing::Length(n) => {
                if *n > self.limits.max_body {
                    return Err(HttpError::BodyTooLarge { max: self.limits.max_body });
                }
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
            Framing::Chunked => match self.dechunk()? {
                Some(b) => b,
                None => return if eof { Err(HttpError::UnexpectedEof) } else { Ok(None) },
            },
        };
        if status != 200 {
            return Err(HttpError::Status { code: status });
        }
        Ok(Some(Response { status, body, close: close || matches!(framing, Framing::UntilClose) }))
    }

    fn parse_head(head: &str) -> Result<(u16, Framing, bool), HttpError> {
        let mut lines = head.split("\r\n");
        let status_line = lines.next().ok_or(HttpError::BadStatusLine)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().ok_or(HttpError::BadStatusLine)?;
        if version != "HTTP/1.1" && version != "HTTP/1.0" {
            return Err(HttpError::BadStatusLine);
        }
        let code = parts.next().and_then(|c| if c.len() == 3 { c.parse::<u16>().ok() } else { None }).ok_or(HttpError::BadStatusLine)?;
        let mut length = None;
        let mut chunked = false;
        let mut close = version == "HTTP/1.0";
        for (n, line) in lines.enumerate() {
            if n > 100 {
                return Err(HttpError::HeadTooLarge);
            }
            let (name, value) = line.split_once(':').ok_or(HttpError::BadHeader)?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let v = parse_usize(value, 10).ok_or(HttpError::BadContentLength)?;
                if length.is_some_and(|l| l != v) {
                    return Err(HttpError::BadContentLength);
                }
                length = Some(v);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                if value.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else {
                    return Err(HttpError::BadHeader);
                }
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        let framing = match (chunked, length) {
            (true, Some(_)) => return Err(HttpError::BadHeader),
            (true, None) => Framing::Chunked,
            (false, Some(n)) => Framing::Length(n),
            (false, None) => Framing::UntilClose,
        };
        Ok((code, framing, close))
    }

    /// Decodes a complete chunked body from the buffer, if all of it is there.
    fn dechunk(&self) -> Result<Option<Vec<u8>>, HttpError> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let rest = self.buf.get(pos..).unwrap_or(&[]);
            let Some(line_end) = find(rest, b"\r\n") else {
                if rest.len() > 64 {
                    return Err(HttpError::BadChunk);
                }
                return Ok(None);
            };
            let line = core::str::from_utf8(rest.get(..line_end).unwrap_or(&[])).map_err(|_| HttpError::BadChunk)?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = parse_usize(size_text, 16).ok_or(HttpError::BadChunk)?;
            pos += line_end + 2;
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                let rest = self.buf.get(pos..).unwrap_or(&[]);
                return match find(rest, b"\r\n") {
                    Some(0) => Ok(Some(out)),
                    Some(_) => Err(HttpError::BadChunk),
                    None => Ok(None),
                };
            }
            if out.len().saturating_add(size) > self.limits.max_body {
                return Err(HttpError::BodyTooLarge { max: self.limits.max_body });
            }
            let end = pos.saturating_add(size);
            let Some(chunk) = self.buf.get(pos..end) else { return Ok(None) };
            out.extend_from_slice(chunk);
            match self.buf.get(end..end + 2) {
                None => return Ok(None),
                Some(b"\r\n") => pos = end + 2,
                Some(_) => return Err(HttpError::BadChunk),
            }
        }
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

    #[test]
    fn urls() {
        assert_eq!(split_url("https://rpc.example:8443/x"), Some((true, "rpc.example".into(), 8443, "/x".into())));
        assert_eq!(split_url("http://127.0.0.1"), Some((false, "127.0.0.1".into(), 80, "/".into())));
        assert_eq!(split_url("ftp://x"), None);
    }
}
