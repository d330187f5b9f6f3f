//! The boot-time connectivity probe (`probe=HOST:PORT` in the config): once
//! the network is up, resolve HOST if it is a name, open a TCP connection to
//! it and log the outcome. It never affects the node's operation; it lets an
//! operator check from inside the TD that an endpoint is reachable.

use core::net::Ipv4Addr;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;
use tdsigner_node::config::{Endpoint, Host};

use crate::platform::clock;
use crate::net::{Network, Resolved, Resolving};

/// Each phase gives up after this long.
const PHASE_TIMEOUT_MS: u64 = 10_000;

enum Phase {
    WaitForNetwork,
    Resolving(Resolving, u64),
    Connecting(SocketHandle, Ipv4Addr, u64),
    Done,
}

/// The probe's progress.
pub struct Probe {
    target: Endpoint,
    phase: Phase,
}

impl Probe {
    pub fn new(target: Endpoint) -> Probe {
        Probe { target, phase: Phase::WaitForNetwork }
    }

    fn fail(&mut self, why: core::fmt::Arguments) {
        kprintln!("probe: {}:{} failed: {why}", self.target.host, self.target.port);
        self.phase = Phase::Done;
    }

    fn connect(&mut self, net: &mut Network, addr: Ipv4Addr) {
        match net.tcp_connect(addr, self.target.port, 1024) {
            Ok(h) => self.phase = Phase::Connecting(h, addr, clock::now_ms()),
            Err(e) => self.fail(format_args!("{e}")),
        }
    }

    /// Advances the probe; call after every network poll.
    pub fn step(&mut self, net: &mut Network) {
        let now = clock::now_ms();
        match self.phase {
            Phase::Done => {}
            Phase::WaitForNetwork => {
                if net.ipv4().is_none() {
                    return;
                }
                match self.target.host.clone() {
                    Host::Ipv4(addr) => self.connect(net, addr),
                    Host::Name(name) => match net.resolve(&name) {
                        Ok(q) => self.phase = Phase::Resolving(q, now),
                        Err(e) => self.fail(format_args!("{e}")),
                    },
                }
            }
            Phase::Resolving(q, started) => match net.poll_resolve(q) {
                Resolved::Pending if now - started > PHASE_TIMEOUT_MS => {
                    net.cancel_resolve(q);
                    self.fail(format_args!("DNS timed out after {PHASE_TIMEOUT_MS} ms"));
                }
                Resolved::Pending => {}
                Resolved::Failed => self.fail(format_args!("DNS lookup failed")),
                Resolved::Addresses(addrs) => match addrs.first() {
                    Some(addr) => {
                        kprintln!("probe: {} resolved to {addr} in {} ms", self.target.host, now - started);
                        self.connect(net, *addr);
                    }
                    None => self.fail(format_args!("DNS answer has no IPv4 address")),
                },
            },
            Phase::Connecting(h, addr, started) => match net.tcp_state(h) {
                State::Established => {
                    kprintln!("probe: tcp connected to {addr}:{} in {} ms", self.target.port, now - started);
                    net.tcp_remove(h);
                    self.phase = Phase::Done;
                }
                State::Closed | State::TimeWait => {
                    net.tcp_remove(h);
                    self.fail(format_args!("connection to {addr} refused or reset"));
                }
                _ if now - started > PHASE_TIMEOUT_MS => {
                    net.tcp_remove(h);
                    self.fail(format_args!("no connection to {addr} within {PHASE_TIMEOUT_MS} ms"));
                }
                _ => {}
            },
        }
    }
}
