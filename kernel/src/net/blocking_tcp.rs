//! Blocking TCP client steps over smoltcp, for code that waits on one
//! exchange at a time: the sealing-key exchange at boot (`keysource`), RPC
//! calls (`runtime`) and the collateral fetch (`http_fetch`).
//!
//! It owns the wait loops and their deadlines: resolve a configured
//! [`Host`], connect, send everything, receive a chunk, close. Every wait
//! polls through a [`Pump`], so the caller decides what else moves meanwhile
//! (only the stack at boot; the whole runtime, P2P included, during RPC), and
//! every wait ends at a [`Deadline`]. Errors are a [`TcpError`]; callers that
//! promise particular log texts build them from its variants.
//!
//! The connectivity probe (`probe`) is not here: it is a state machine
//! stepped by the main loop and never blocks.

use alloc::string::String;
use core::fmt;
use core::net::Ipv4Addr;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{RecvError, SendError, State};
use tdsigner_node::config::Host;

use crate::platform::clock;
use crate::net::{NetError, Network, Resolved};

/// What moves bytes while a blocking step waits.
pub trait Pump {
    /// The network the connection lives on.
    fn net(&mut self) -> &mut Network;
    /// Moves bytes once, then sleeps briefly if nothing is due, so a waiting
    /// guest does not spin the host's CPU.
    fn advance(&mut self);
}

/// At boot nothing but the stack needs to move.
impl Pump for Network {
    fn net(&mut self) -> &mut Network {
        self
    }

    fn advance(&mut self) {
        self.poll_stack();
        crate::arch::apic::sleep_us(self.poll_delay().total_micros().clamp(1, 1_000));
    }
}

/// A point on the monotonic clock, with the limit it stands for (for messages).
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at_ms: u64,
    limit_ms: u64,
}

impl Deadline {
    /// `limit_ms` from now.
    pub fn after(limit_ms: u64) -> Deadline {
        Deadline { at_ms: clock::now_ms().saturating_add(limit_ms), limit_ms }
    }

    /// Whichever of the two comes first (a per-step limit inside a total one).
    pub fn within(self, outer: Deadline) -> Deadline {
        if outer.at_ms < self.at_ms {
            outer
        } else {
            self
        }
    }

    fn passed(&self) -> bool {
        clock::now_ms() > self.at_ms
    }
}

/// Why a step failed.
#[derive(Debug)]
pub enum TcpError {
    /// The DNS query could not be started.
    ResolveStart { name: String, cause: NetError },
    /// The DNS server answered with an error (or the query was lost).
    ResolveFailed { name: String },
    /// The answer had no A record.
    NoAddress { name: String },
    /// No answer before the deadline.
    ResolveTimeout { name: String, limit_ms: u64 },
    /// smoltcp refused to open the socket.
    Socket { addr: Ipv4Addr, port: u16, cause: NetError },
    /// The peer refused or reset the handshake.
    Refused { addr: Ipv4Addr, port: u16 },
    /// No handshake before the deadline.
    ConnectTimeout { addr: Ipv4Addr, port: u16, limit_ms: u64 },
    /// The peer stopped accepting data before everything was sent.
    ClosedWhileSending,
    /// smoltcp refused the data.
    Send(SendError),
    /// Not everything was sent before the deadline.
    SendTimeout { limit_ms: u64 },
    /// smoltcp failed to hand over received data.
    Receive(RecvError),
    /// Nothing arrived before the deadline.
    ReceiveTimeout { limit_ms: u64 },
}

impl TcpError {
    /// Whether a deadline ended the step (rather than the peer or the stack).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            TcpError::ResolveTimeout { .. }
                | TcpError::ConnectTimeout { .. }
                | TcpError::SendTimeout { .. }
                | TcpError::ReceiveTimeout { .. }
        )
    }
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpError::ResolveStart { name, cause } => write!(f, "resolving {name}: {cause}"),
            TcpError::ResolveFailed { name } => write!(f, "DNS lookup of {name} failed"),
            TcpError::NoAddress { name } => write!(f, "{name} has no IPv4 address"),
            TcpError::ResolveTimeout { name, limit_ms } => write!(f, "DNS lookup of {name} timed out after {limit_ms} ms"),
            TcpError::Socket { addr, port, cause } => write!(f, "{addr}:{port}: {cause}"),
            TcpError::Refused { addr, port } => write!(f, "{addr}:{port}: connection refused or reset"),
            TcpError::ConnectTimeout { addr, port, limit_ms } => {
                write!(f, "{addr}:{port}: no connection within {limit_ms} ms")
            }
            TcpError::ClosedWhileSending => f.write_str("the peer closed the connection while the request was sent"),
            TcpError::Send(e) => write!(f, "send: {e:?}"),
            TcpError::SendTimeout { limit_ms } => write!(f, "request not sent within {limit_ms} ms"),
            TcpError::Receive(e) => write!(f, "receive: {e:?}"),
            TcpError::ReceiveTimeout { limit_ms } => write!(f, "nothing received within {limit_ms} ms"),
        }
    }
}

/// The IPv4 address of `host`: itself, or the first A record of the name.
pub fn resolve<P: Pump + ?Sized>(p: &mut P, host: &Host, deadline: Deadline) -> Result<Ipv4Addr, TcpError> {
    let name = match host {
        Host::Ipv4(addr) => return Ok(*addr),
        Host::Name(name) => name,
    };
    let query = p.net().resolve(name).map_err(|cause| TcpError::ResolveStart { name: name.clone(), cause })?;
    loop {
        match p.net().poll_resolve(query) {
            Resolved::Addresses(addrs) => {
                return addrs.first().copied().ok_or_else(|| TcpError::NoAddress { name: name.clone() })
            }
            Resolved::Failed => return Err(TcpError::ResolveFailed { name: name.clone() }),
            Resolved::Pending if deadline.passed() => {
                p.net().cancel_resolve(query);
                return Err(TcpError::ResolveTimeout { name: name.clone(), limit_ms: deadline.limit_ms });
            }
            Resolved::Pending => p.advance(),
        }
    }
}

/// Opens a connection and waits for the handshake. On failure the socket is
/// already gone; on success the caller ends it with [`close`].
pub fn connect<P: Pump + ?Sized>(
    p: &mut P,
    addr: Ipv4Addr,
    port: u16,
    buffer: usize,
    deadline: Deadline,
) -> Result<SocketHandle, TcpError> {
    let handle = p.net().tcp_connect(addr, port, buffer).map_err(|cause| TcpError::Socket { addr, port, cause })?;
    loop {
        match p.net().tcp_state(handle) {
            State::Established => return Ok(handle),
            // States a connection only reaches after the peer refused, reset or hung up.
            State::Closed | State::TimeWait | State::CloseWait | State::Closing | State::LastAck => {
                close(p, handle);
                return Err(TcpError::Refused { addr, port });
            }
            _ if deadline.passed() => {
                close(p, handle);
                return Err(TcpError::ConnectTimeout { addr, port, limit_ms: deadline.limit_ms });
            }
            _ => p.advance(),
        }
    }
}

/// Queues all of `data` on the connection (as the socket buffer frees up).
pub fn send_all<P: Pump + ?Sized>(p: &mut P, handle: SocketHandle, mut data: &[u8], deadline: Deadline) -> Result<(), TcpError> {
    while !data.is_empty() {
        let socket = p.net().tcp(handle);
        if !socket.may_send() {
            return Err(TcpError::ClosedWhileSending);
        }
        if socket.can_send() {
            let n = socket.send_slice(data).map_err(TcpError::Send)?;
            data = data.get(n..).unwrap_or_default();
        }
        if deadline.passed() {
            return Err(TcpError::SendTimeout { limit_ms: deadline.limit_ms });
        }
        p.advance();
    }
    Ok(())
}

/// Waits for received bytes and copies up to `buf.len()` of them. `Ok(0)`:
/// the peer has closed its side and everything it sent has been read.
pub fn receive<P: Pump + ?Sized>(p: &mut P, handle: SocketHandle, buf: &mut [u8], deadline: Deadline) -> Result<usize, TcpError> {
    loop {
        let socket = p.net().tcp(handle);
        if socket.can_recv() {
            let n = socket.recv_slice(buf).map_err(TcpError::Receive)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
        } else if !socket.may_recv() {
            return Ok(0);
        }
        if deadline.passed() {
            return Err(TcpError::ReceiveTimeout { limit_ms: deadline.limit_ms });
        }
        p.advance();
    }
}

/// Ends the connection at once (abort) and frees its socket.
pub fn close<P: Pump + ?Sized>(p: &mut P, handle: SocketHandle) {
    p.net().tcp_remove(handle);
}
