//! The byte-stream seam between this client and a transport. The kernel
//! implements [`ByteStream`] over its TCP sockets; the host over `TcpStream`;
//! [`super::tls::TlsStream`] wraps any of them.

use alloc::vec::Vec;
use core::fmt;

use super::http::{self, HttpError, Limits, Response, ResponseDecoder};
use super::request::{parse_answer, AnswerError, Request};

/// Transport failures, without detail the transport cannot vouch for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// Could not connect / resolve.
    Connect,
    /// Read or write failed.
    Io,
    /// The deadline passed.
    Timeout,
    /// TLS failure (handshake, certificate, record).
    Tls,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect failed",
            Self::Io => "I/O error",
            Self::Timeout => "timed out",
            Self::Tls => "TLS error",
        })
    }
}

/// A reliable, ordered byte stream (TCP or TLS over TCP).
pub trait ByteStream {
    /// Reads into `buf`; `Ok(0)` means the peer closed.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError>;
    /// Writes all of `data`.
    fn write_all(&mut self, data: &[u8]) -> Result<(), StreamError>;
}

/// Why one call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    Stream(StreamError),
    Http(HttpError),
    Answer(AnswerError),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stream(e) => write!(f, "{e}"),
            Self::Http(e) => write!(f, "{e}"),
            Self::Answer(e) => write!(f, "{e}"),
        }
    }
}

/// Sends one HTTP request and reads one response.
pub fn exchange<S: ByteStream + ?Sized>(stream: &mut S, request: &[u8], limits: Limits) -> Result<Response, CallError> {
    stream.write_all(request).map_err(CallError::Stream)?;
    let mut decoder = ResponseDecoder::new(limits);
    let mut buf: Vec<u8> = alloc::vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).map_err(CallError::Stream)?;
        let chunk = buf.get(..n).unwrap_or(&[]);
        if let Some(resp) = decoder.feed(chunk, n == 0).map_err(CallError::Http)? {
            return Ok(resp);
        }
        if n == 0 {
            return Err(CallError::Http(HttpError::UnexpectedEof));
        }
    }
}

/// One JSON-RPC call over a stream: frame, send, read, check the answer.
pub fn call<S: ByteStream + ?Sized>(stream: &mut S, host: &str, path: &str, req: &Request, limits: Limits) -> Result<serde_json::Value, CallError> {
    let bytes = http::encode_post(host, path, &req.body, false);
    let resp = exchange(stream, &bytes, limits)?;
    parse_answer(&resp.body, req.id, limits.max_body).map_err(CallError::Answer)
}
