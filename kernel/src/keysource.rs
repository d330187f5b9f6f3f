//! The transport of the `local-sgx` sealing-key source: TD quotes from
//! `attest`, one TCP connection to the host's key provider through smoltcp,
//! every wait bounded. The protocol itself (framing, checks, derivation) is
//! `tdsigner_store::keysource::LocalSgxKeySource`, driven by
//! `tdsigner_node::bootstrap`.
//!
//! Which verifier checks the provider's SGX quote depends on the platform:
//! - `emulated`: `tdsigner_node::provider_quote::EmulatedProviderQuoteVerifier`
//!   (the EMULATED test PKI); every log line says "emulated".
//! - `tdx`: none. Verifying a real provider quote to Intel's root inside the
//!   image (dcap-qvl + collateral) is not done, so `local-sgx` is refused on
//!   TDX before anything runs; an unverified key is never accepted.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;
use tdsigner_node::bootstrap::KeyTransport;
use tdsigner_node::config::{Endpoint, Host};

use crate::net::{Network, Resolved};
use crate::{apic, clock};

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
    started_ms: u64,
}

impl<'n> ProviderTransport<'n> {
    pub fn new(net: &'n mut Network, provider: Endpoint) -> Self {
        ProviderTransport { net, provider, conn: None, started_ms: clock::now_ms() }
    }

    fn pump(&mut self) {
        self.net.poll_stack();
        apic::sleep_us(self.net.poll_delay().total_micros().clamp(1, 1_000));
    }

    fn past(&self, since: u64, limit: u64) -> bool {
        let now = clock::now_ms();
        now - since > limit || now - self.started_ms > EXCHANGE_TIMEOUT_MS
    }

    fn resolve(&mut self) -> Result<Ipv4Addr, String> {
        let name = match &self.provider.host {
            Host::Ipv4(addr) => return Ok(*addr),
            Host::Name(name) => name.clone(),
        };
        let query = self.net.resolve(&name).map_err(|e| alloc::format!("resolving {name}: {e}"))?;
        let start = clock::now_ms();
        loop {
            match self.net.poll_resolve(query) {
                Resolved::Addresses(addrs) => {
                    return addrs.first().copied().ok_or_else(|| alloc::format!("{name} has no IPv4 address"))
                }
                Resolved::Failed => return Err(alloc::format!("DNS lookup of {name} failed")),
                Resolved::Pending if self.past(start, RESOLVE_TIMEOUT_MS) => {
                    self.net.cancel_resolve(query);
                    return Err(alloc::format!("DNS lookup of {name} timed out after {RESOLVE_TIMEOUT_MS} ms"));
                }
                Resolved::Pending => self.pump(),
            }
        }
    }

    fn connect(&mut self) -> Result<SocketHandle, String> {
        if let Some(h) = self.conn {
            return Ok(h);
        }
        let addr = self.resolve()?;
        let port = self.provider.port;
        let h = self.net.tcp_connect(addr, port, SOCKET_BUFFER).map_err(|e| alloc::format!("{addr}:{port}: {e}"))?;
        self.conn = Some(h);
        let start = clock::now_ms();
        loop {
            match self.net.tcp_state(h) {
                State::Established => return Ok(h),
                State::Closed | State::TimeWait | State::CloseWait | State::Closing | State::LastAck => {
                    return Err(alloc::format!("cannot reach the key provider at {addr}:{port}: connection refused or reset"))
                }
                _ if self.past(start, CONNECT_TIMEOUT_MS) => {
                    return Err(alloc::format!(
                        "cannot reach the key provider at {addr}:{port}: no connection within {CONNECT_TIMEOUT_MS} ms"
                    ))
                }
                _ => self.pump(),
            }
        }
    }
}

impl Drop for ProviderTransport<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.conn.take() {
            self.net.tcp_remove(h);
        }
    }
}

impl KeyTransport for ProviderTransport<'_> {
    fn quote(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, String> {
        crate::attest::quote(report_data).map_err(|e| alloc::format!("{e}"))
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let h = self.connect()?;
        let mut sent = 0;
        let start = clock::now_ms();
        while sent < bytes.len() {
            let socket = self.net.tcp(h);
            if !socket.may_send() {
                return Err(String::from("the key provider closed the connection while the request was sent"));
            }
            if socket.can_send() {
                sent += socket.send_slice(&bytes[sent..]).map_err(|e| alloc::format!("send: {e:?}"))?;
            }
            if self.past(start, IO_TIMEOUT_MS) {
                return Err(alloc::format!("request not sent within {IO_TIMEOUT_MS} ms"));
            }
            self.pump();
        }
        Ok(())
    }

    fn receive(&mut self) -> Result<Vec<u8>, String> {
        let h = self.conn.ok_or_else(|| String::from("no provider connection"))?;
        let start = clock::now_ms();
        loop {
            let socket = self.net.tcp(h);
            if socket.can_recv() {
                let mut chunk = alloc::vec![0u8; READ_CHUNK];
                let n = socket.recv_slice(&mut chunk).map_err(|e| alloc::format!("receive: {e:?}"))?;
                if n > 0 {
                    chunk.truncate(n);
                    return Ok(chunk);
                }
            } else if !socket.may_recv() {
                return Err(String::from("the key provider closed the connection before its answer was complete"));
            }
            if self.past(start, IO_TIMEOUT_MS) {
                return Err(alloc::format!("no answer from the key provider within {IO_TIMEOUT_MS} ms"));
            }
            self.pump();
        }
    }
}
