//! Host transport (feature `std`): `TcpStream` with timeouts, TLS via
//! [`super::tls`] for `https://` endpoints, and a [`Caller`] over URLs.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::string::String;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use rustls::ClientConfig;
use serde_json::Value;

use super::http::{split_url, Limits};
use super::pool::Caller;
use super::request::Request;
use super::stream::{call, ByteStream, CallError, StreamError};
use super::tls::{client_config, web_pki_roots, FixedClock, TlsStream};

/// A TCP connection as a [`ByteStream`].
pub struct Tcp(pub TcpStream);

impl ByteStream for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        self.0.read(buf).map_err(map_io)
    }
    fn write_all(&mut self, data: &[u8]) -> Result<(), StreamError> {
        Write::write_all(&mut self.0, data).map_err(map_io)
    }
}

fn map_io(e: std::io::Error) -> StreamError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => StreamError::Timeout,
        _ => StreamError::Io,
    }
}

/// The OS clock, for certificate validity.
pub fn system_clock() -> FixedClock {
    FixedClock(SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs()))
}

/// Endpoints given as URLs; one connection per call (`Connection: close`).
pub struct UrlCaller {
    pub urls: Vec<String>,
    pub timeout: Duration,
    tls: Option<Arc<ClientConfig>>,
}

impl UrlCaller {
    /// `tls` defaults to the web PKI roots and the system clock.
    pub fn new(urls: Vec<String>, timeout: Duration, tls: Option<Arc<ClientConfig>>) -> Self {
        Self { urls, timeout, tls }
    }

    fn tls_config(&mut self) -> Result<Arc<ClientConfig>, StreamError> {
        if let Some(c) = &self.tls {
            return Ok(c.clone());
        }
        let c = client_config(web_pki_roots(), Arc::new(system_clock()))?;
        self.tls = Some(c.clone());
        Ok(c)
    }
}

impl Caller for UrlCaller {
    fn endpoints(&self) -> usize {
        self.urls.len()
    }

    fn call(&mut self, endpoint: usize, req: &Request, limits: Limits) -> Result<Value, CallError> {
        let url = self.urls.get(endpoint).cloned().ok_or(CallError::Stream(StreamError::Connect))?;
        let (tls, host, port, path) = split_url(&url).ok_or(CallError::Stream(StreamError::Connect))?;
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or(CallError::Stream(StreamError::Connect))?;
        let tcp = TcpStream::connect_timeout(&addr, self.timeout).map_err(|_| CallError::Stream(StreamError::Connect))?;
        tcp.set_read_timeout(Some(self.timeout)).map_err(|_| CallError::Stream(StreamError::Io))?;
        tcp.set_write_timeout(Some(self.timeout)).map_err(|_| CallError::Stream(StreamError::Io))?;
        if tls {
            let cfg = self.tls_config().map_err(CallError::Stream)?;
            let mut s = TlsStream::connect(Tcp(tcp), cfg, &host).map_err(CallError::Stream)?;
            call(&mut s, &host, &path, req, limits)
        } else {
            call(&mut Tcp(tcp), &host, &path, req, limits)
        }
    }
}
