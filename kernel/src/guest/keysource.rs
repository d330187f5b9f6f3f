//! The transport of the `local-sgx` sealing-key source: TD quotes from
//! `attest`, one TCP connection to the host's key provider through smoltcp,
//! every wait bounded. The protocol itself (framing, checks, derivation) is
//! `tdsigner_store::keysource::LocalSgxKeySource`, driven by
//! `tdsigner_node::bootstrap`.
//!
//! The provider's SGX quote is checked by
//! `tdsigner_node::provider_quote::DcapProviderQuoteVerifier` with collateral
//! `guest/mod.rs` fetched first (`http_fetch`): Intel's root on TDX, the EMULATED
//! test root on the emulated platform (every log line says so).

use alloc::string::String;
use alloc::vec::Vec;

use smoltcp::iface::SocketHandle;
use tdsigner_node::bootstrap::KeyTransport;
use tdsigner_node::config::Endpoint;

use crate::net::blocking_tcp::{self, Deadline, TcpError};
use crate::net::Network;
use crate::arch::apic;
use crate::platform::clock;

/// Waiting for an IPv4 address (DHCP) before the key exchange.
pub const NETWORK_TIMEOUT_MS: u64 = 30_000;
/// DNS lookup of the provider.
const RESOLVE_TIMEOUT_MS: u64 = 10_000;
/// TCP handshake with the provider.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Sending the request and each wait for answer bytes.
const IO_TIMEOUT_MS: u64 = 30_000;
/// The whole exchange, however the provider paces its bytes.
const EXCHANGE_TIMEOUT_MS: u64 = 90_000;
/// smoltcp buffer per direction of the provider connection.
const SOCKET_BUFFER: usize = 16 * 1024;
/// Largest chunk handed to the source per read.
const READ_CHUNK: usize = 4096;

/// Waits (bounded) until the interface has an IPv4 address.
pub fn wait_for_network(net: &mut Network) -> Result<(), String> {
    let start = clock::now_ms();
    while net.ipv4().is_none() {
        if clock::now_ms() - start > NETWORK_TIMEOUT_MS {
            return Err(alloc::format!("no IPv4 address within {NETWORK_TIMEOUT_MS} ms"));
        }
        net.poll_stack();
        apic::sleep_us(net.poll_delay().total_micros().clamp(1, 10_000));
    }
    Ok(())
}

/// Quotes and the provider connection for one key exchange.
pub struct ProviderTransport<'n> {
    net: &'n mut Network,
    provider: Endpoint,
    conn: Option<SocketHandle>,
    /// Bounds the whole exchange; each step's own limit sits inside it.
    exchange: Deadline,
}

impl<'n> ProviderTransport<'n> {
    pub fn new(net: &'n mut Network, provider: Endpoint) -> Self {
        ProviderTransport { net, provider, conn: None, exchange: Deadline::after(EXCHANGE_TIMEOUT_MS) }
    }

    /// A step's own limit, cut short by the exchange's.
    fn step(&self, limit_ms: u64) -> Deadline {
        Deadline::after(limit_ms).within(self.exchange)
    }

    fn connect(&mut self) -> Result<SocketHandle, String> {
        if let Some(h) = self.conn {
            return Ok(h);
        }
        let deadline = self.step(RESOLVE_TIMEOUT_MS);
        let addr = blocking_tcp::resolve(&mut *self.net, &self.provider.host, deadline).map_err(|e| alloc::format!("{e}"))?;
        let deadline = self.step(CONNECT_TIMEOUT_MS);
        let h = blocking_tcp::connect(&mut *self.net, addr, self.provider.port, SOCKET_BUFFER, deadline).map_err(|e| match e {
            TcpError::Refused { .. } | TcpError::ConnectTimeout { .. } => alloc::format!("cannot reach the key provider at {e}"),
            e => alloc::format!("{e}"),
        })?;
        self.conn = Some(h);
        Ok(h)
    }
}

impl Drop for ProviderTransport<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.conn.take() {
            blocking_tcp::close(&mut *self.net, h);
        }
    }
}

impl KeyTransport for ProviderTransport<'_> {
    fn quote(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, String> {
        crate::guest::attest::quote(report_data).map_err(|e| alloc::format!("{e}"))
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let h = self.connect()?;
        let deadline = self.step(IO_TIMEOUT_MS);
        blocking_tcp::send_all(&mut *self.net, h, bytes, deadline).map_err(|e| match e {
            TcpError::ClosedWhileSending => String::from("the key provider closed the connection while the request was sent"),
            e => alloc::format!("{e}"),
        })
    }

    fn receive(&mut self) -> Result<Vec<u8>, String> {
        let h = self.conn.ok_or_else(|| String::from("no provider connection"))?;
        let deadline = self.step(IO_TIMEOUT_MS);
        let mut chunk = alloc::vec![0u8; READ_CHUNK];
        match blocking_tcp::receive(&mut *self.net, h, &mut chunk, deadline) {
            Ok(0) => Err(String::from("the key provider closed the connection before its answer was complete")),
            Ok(n) => {
                chunk.truncate(n);
                Ok(chunk)
            }
            Err(TcpError::ReceiveTimeout { limit_ms }) => {
                Err(alloc::format!("no answer from the key provider within {limit_ms} ms"))
            }
            Err(e) => Err(alloc::format!("{e}")),
        }
    }
}
