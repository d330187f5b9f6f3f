//! One bounded plain-HTTP/1.1 GET over smoltcp, for fetching the SGX
//! collateral JSON from the host: resolve, connect, send the request, read
//! until the answer is complete, close. The bytes on the wire are
//! `tdsigner_near::rpc::http`'s (`encode_get`, `ResponseDecoder`: pure,
//! unit-tested, fuzzed; the same decoder reads NEAR RPC answers); the waits
//! are `blocking_tcp`'s.
//!
//! Plain HTTP on purpose: the collateral is signed by Intel and verified
//! after the fetch, so the host serving it needs no authentication; what
//! this module guards against is a host that answers slowly, endlessly or
//! with garbage, so every wait and every size is bounded.

use alloc::string::String;
use alloc::vec::Vec;

use tdsigner_near::rpc::http::{encode_get, HttpError, Limits, ResponseDecoder};
use tdsigner_node::config::Endpoint;

use crate::net::blocking_tcp::{self, Deadline, Pump, TcpError};

/// DNS lookup of the server, inside the total limit.
const RESOLVE_TIMEOUT_MS: u64 = 10_000;
/// TCP handshake with the server, inside the total limit.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// smoltcp buffer per direction of the connection.
const SOCKET_BUFFER: usize = 64 * 1024;
/// Bytes taken from the socket per read.
const READ_CHUNK: usize = 4096;

/// `GET path` from `endpoint`; the body of a `200` answer of at most
/// `max_body` bytes, within `total_timeout_ms` for the whole exchange.
/// Errors say what went wrong and name the request.
pub fn http_get<P: Pump + ?Sized>(
    p: &mut P,
    endpoint: &Endpoint,
    path: &str,
    max_body: usize,
    total_timeout_ms: u64,
) -> Result<Vec<u8>, String> {
    let what = || alloc::format!("GET {path} from {}:{}", endpoint.host, endpoint.port);
    let host = alloc::format!("{}", endpoint.host);
    let request = encode_get(&host, endpoint.port, path).map_err(|e| alloc::format!("{e} ({})", what()))?;
    let total = Deadline::after(total_timeout_ms);
    let tcp_err = |e: TcpError| match e {
        TcpError::Refused { .. } | TcpError::ConnectTimeout { .. } => {
            alloc::format!("cannot reach the collateral server at {e} ({})", what())
        }
        TcpError::SendTimeout { .. } | TcpError::ReceiveTimeout { .. } => {
            alloc::format!("no response within {total_timeout_ms} ms ({})", what())
        }
        e => alloc::format!("{e} ({})", what()),
    };
    let addr = blocking_tcp::resolve(p, &endpoint.host, Deadline::after(RESOLVE_TIMEOUT_MS).within(total)).map_err(tcp_err)?;
    let conn = blocking_tcp::connect(p, addr, endpoint.port, SOCKET_BUFFER, Deadline::after(CONNECT_TIMEOUT_MS).within(total))
        .map_err(tcp_err)?;
    let result = exchange(p, conn, &request, Limits { max_body, ..Limits::default() }, total);
    blocking_tcp::close(p, conn);
    match result {
        Ok(body) => Ok(body),
        Err(Failure::Tcp(e)) => Err(tcp_err(e)),
        Err(Failure::Http(HttpError::Status { code })) => {
            Err(alloc::format!("collateral server answered {code} ({})", what()))
        }
        Err(Failure::Http(e)) => Err(alloc::format!("{e} ({})", what())),
        Err(Failure::Stalled { received }) => Err(alloc::format!(
            "response incomplete after {total_timeout_ms} ms ({received} bytes received; {})",
            what()
        )),
    }
}

enum Failure {
    Tcp(TcpError),
    Http(HttpError),
    /// The deadline passed after part of the answer had arrived.
    Stalled { received: usize },
}

/// Sends the request, then feeds each read to the decoder until it calls the
/// answer complete or wrong. The decoder bounds what accumulates: it fails as
/// soon as the head, the body or the chunked framing passes its limit, and a
/// status other than 200 as soon as the head is in.
fn exchange<P: Pump + ?Sized>(
    p: &mut P,
    conn: smoltcp::iface::SocketHandle,
    request: &[u8],
    limits: Limits,
    deadline: Deadline,
) -> Result<Vec<u8>, Failure> {
    blocking_tcp::send_all(p, conn, request, deadline).map_err(Failure::Tcp)?;
    let mut decoder = ResponseDecoder::new(limits);
    let mut received = 0usize;
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let n = match blocking_tcp::receive(p, conn, &mut chunk, deadline) {
            Ok(n) => n,
            Err(TcpError::ReceiveTimeout { .. }) if received > 0 => return Err(Failure::Stalled { received }),
            Err(e) => return Err(Failure::Tcp(e)),
        };
        received = received.saturating_add(n);
        match decoder.feed(chunk.get(..n).unwrap_or_default(), n == 0).map_err(Failure::Http)? {
            Some(response) => return Ok(response.body),
            // With the peer closed the decoder never asks for more; guard anyway.
            None if n == 0 => return Err(Failure::Http(HttpError::UnexpectedEof)),
            None => {}
        }
    }
}
