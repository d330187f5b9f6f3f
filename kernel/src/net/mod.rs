//! Networking: virtio-net as a smoltcp device, IPv4 by DHCP or static
//! config, the HTTP listener, DNS resolution and TCP client connections.
//!
//! The stack is polled from the main loop; there are no device interrupts.
//! Each listener slot owns one smoltcp TCP socket and serves one request per
//! connection (`Connection: close`), with request heads bounded by
//! `tdsigner_node::http::MAX_HEAD_LEN`.
//!
//! **Layer: net** (above `drivers`). This module owns the smoltcp interface
//! over virtio-net; [`blocking_tcp`] the client wait loops under deadlines;
//! [`http_fetch`] one bounded HTTP GET. It may use `drivers`, `arch` and
//! `platform`, never the program.

pub mod blocking_tcp;
pub mod http_fetch;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::net::Ipv4Addr;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::{dhcpv4, dns, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{DnsQueryType, EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Cidr};
use tdsigner_node::config::NetConfig;
use tdsigner_node::http::{RequestHead, Response, MAX_HEAD_LEN};
use virtio_drivers::device::net::VirtIONetRaw;

use crate::drivers::virtio::hal::KernelHal;
use crate::drivers::virtio::transport::{wait_for_device, PlatformPciTransport};

const QUEUE_SIZE: usize = 16;
const RX_BUFFER_LEN: usize = 2048;
const MTU: usize = 1514;
/// Concurrent HTTP connections served.
const HTTP_SLOTS: usize = 4;
const TCP_BUFFER: usize = 8 * 1024;

type Nic = VirtIONetRaw<KernelHal, PlatformPciTransport, QUEUE_SIZE>;

/// The device and the buffers it holds.
struct NicState {
    nic: Nic,
    /// Receive buffers posted to the device, with their tokens.
    posted: Vec<(u16, Box<[u8]>)>,
    /// The one transmit frame (header + packet); a send completes before the next starts.
    tx: Box<[u8]>,
}

/// virtio-net as a smoltcp device, on `virtio-drivers`' non-blocking calls: its blocking
/// `send` waits for the device without a deadline (and without notifying it when the
/// device's ring says not to), so the kernel waits itself, under [`wait_for_device`]. The
/// RefCell lets an Rx token repost its buffer while a Tx token from the same `receive` call is
/// outstanding.
pub struct VirtioNic {
    state: RefCell<NicState>,
}

pub struct VirtioRx<'a> {
    state: &'a RefCell<NicState>,
    buffer: Box<[u8]>,
    packet: core::ops::Range<usize>,
}

pub struct VirtioTx<'a> {
    state: &'a RefCell<NicState>,
}

impl NicState {
    fn post(&mut self, mut buffer: Box<[u8]>) {
        // SAFETY: the buffer's heap memory stays where it is (only the Box moves, into
        // `posted`) and nothing touches it until `receive_complete` takes it back.
        match unsafe { self.nic.receive_begin(&mut buffer) } {
            Ok(token) => self.posted.push((token, buffer)),
            Err(e) => crate::platform::fatal::fatal(format_args!("virtio-net: cannot post an rx buffer: {e}")),
        }
    }
}

impl RxToken for VirtioRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(self.buffer.get(self.packet.clone()).unwrap_or(&[]));
        self.state.borrow_mut().post(self.buffer);
        result
    }
}

impl TxToken for VirtioTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut state = self.state.borrow_mut();
        let mut frame = core::mem::take(&mut state.tx);
        let header = state.nic.fill_buffer_header(&mut frame).unwrap_or(frame.len());
        let end = header.saturating_add(len).min(frame.len());
        let result = f(frame.get_mut(header..end).unwrap_or(&mut []));
        if end - header == len {
            let packet = frame.get(..end).unwrap_or(&[]);
            // SAFETY: `frame` is neither moved in memory nor touched until `transmit_complete`
            // below, which always runs: the wait either sees a completion or halts the kernel.
            // A full queue (Err) drops the frame, as a NIC would; TCP retransmits.
            if let Ok(token) = unsafe { state.nic.transmit_begin(packet) } {
                wait_for_device("virtio-net", "transmit", || state.nic.poll_transmit().is_some());
                // SAFETY: the same buffer as given to `transmit_begin` for this token.
                if let Err(e) = unsafe { state.nic.transmit_complete(token, packet) } {
                    crate::platform::fatal::fatal(format_args!("virtio-net: transmit completion: {e}"));
                }
            }
        }
        state.tx = frame;
        result
    }
}

impl Device for VirtioNic {
    type RxToken<'a> = VirtioRx<'a> where Self: 'a;
    type TxToken<'a> = VirtioTx<'a> where Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(VirtioRx<'_>, VirtioTx<'_>)> {
        let (buffer, packet) = {
            let mut state = self.state.borrow_mut();
            let token = state.nic.poll_receive()?;
            let Some(at) = state.posted.iter().position(|(t, _)| *t == token) else {
                crate::platform::fatal::fatal(format_args!("virtio-net: the device completed rx token {token}, which was not posted"));
            };
            let (_, mut buffer) = state.posted.swap_remove(at);
            // SAFETY: the buffer given to `receive_begin` for this token.
            match unsafe { state.nic.receive_complete(token, &mut buffer) } {
                Ok((header, len)) => (buffer, header..header.saturating_add(len)),
                Err(_) => {
                    // A malformed completion: repost the buffer and drop the frame.
                    state.post(buffer);
                    return None;
                }
            }
        };
        Some((VirtioRx { state: &self.state, buffer, packet }, VirtioTx { state: &self.state }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<VirtioTx<'_>> {
        self.state.borrow().nic.can_send().then_some(VirtioTx { state: &self.state })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }
}

/// One HTTP connection slot.
struct HttpSlot {
    handle: SocketHandle,
    request: Vec<u8>,
    response: Option<(Vec<u8>, usize)>,
}

/// IPv4 state for the boot log and /health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4State {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Option<Ipv4Addr>,
}

/// The interface, its sockets and the HTTP listener.
pub struct Network {
    device: VirtioNic,
    iface: Interface,
    sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    http: Vec<HttpSlot>,
    http_port: u16,
    dns_override: Option<Ipv4Addr>,
    ipv4: Option<Ipv4State>,
    /// The DNS socket, created once a server is known.
    dns: Option<SocketHandle>,
    /// Next ephemeral port for client connections.
    next_local_port: u16,
}

/// A DNS query in flight.
#[derive(Clone, Copy)]
pub struct Resolving(dns::QueryHandle);

/// Outcome of polling a query.
#[derive(Debug)]
pub enum Resolved {
    Pending,
    Addresses(Vec<Ipv4Addr>),
    Failed,
}

/// Ephemeral port range for outgoing connections (IANA dynamic ports).
const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;
const DNS_QUERY_SLOTS: usize = 4;

/// Network failures.
#[derive(Debug)]
pub enum NetError {
    Init(virtio_drivers::Error),
    Listen(tcp::ListenError),
    /// No IPv4 address or no DNS server yet.
    NotConfigured,
    /// The name cannot be queried (invalid, or no free query slot).
    Query(dns::StartQueryError),
    Connect(tcp::ConnectError),
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetError::Init(e) => write!(f, "virtio-net init: {e}"),
            NetError::Listen(e) => write!(f, "tcp listen: {e:?}"),
            NetError::NotConfigured => write!(f, "network not configured yet (no address or DNS server)"),
            NetError::Query(e) => write!(f, "dns query: {e:?}"),
            NetError::Connect(e) => write!(f, "tcp connect: {e:?}"),
        }
    }
}

/// smoltcp's clock: the kernel's monotonic clock.
pub fn now() -> Instant {
    Instant::from_micros(crate::platform::clock::now_ns() as i64 / 1000)
}

impl Network {
    /// Brings up the NIC and the interface. `seed` randomises TCP initial
    /// sequence numbers and DHCP transaction ids.
    pub fn new(
        transport: PlatformPciTransport,
        net: NetConfig,
        dns: Option<Ipv4Addr>,
        http_port: u16,
        seed: u64,
    ) -> Result<Network, NetError> {
        let nic = Nic::new(transport).map_err(NetError::Init)?;
        let mac = EthernetAddress(nic.mac_address());
        let mut state =
            NicState { nic, posted: Vec::with_capacity(QUEUE_SIZE), tx: vec![0u8; RX_BUFFER_LEN].into_boxed_slice() };
        for _ in 0..QUEUE_SIZE {
            state.post(vec![0u8; RX_BUFFER_LEN].into_boxed_slice());
        }
        let mut device = VirtioNic { state: RefCell::new(state) };
        let mut config = Config::new(HardwareAddress::Ethernet(mac));
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, now());
        let mut sockets = SocketSet::new(Vec::new());

        let mut ipv4 = None;
        let dhcp = match net {
            NetConfig::Dhcp => Some(sockets.add(dhcpv4::Socket::new())),
            NetConfig::Static { address, prefix_len, gateway } => {
                apply_ipv4(&mut iface, address, prefix_len, gateway);
                ipv4 = Some(Ipv4State { address, prefix_len, gateway, dns });
                None
            }
        };
        let mut http = Vec::with_capacity(HTTP_SLOTS);
        for _ in 0..HTTP_SLOTS {
            let socket = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
                tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
            );
            let handle = sockets.add(socket);
            sockets.get_mut::<tcp::Socket>(handle).listen(http_port).map_err(NetError::Listen)?;
            http.push(HttpSlot { handle, request: Vec::new(), response: None });
        }
        let next_local_port = EPHEMERAL_PORTS.start() + (seed % 8192) as u16;
        Ok(Network {
            device,
            iface,
            sockets,
            dhcp,
            http,
            http_port,
            dns_override: dns,
            ipv4,
            dns: None,
            next_local_port,
        })
    }

    /// The MAC address, for the boot log.
    pub fn mac(&self) -> [u8; 6] {
        self.device.state.borrow().nic.mac_address()
    }

    /// Current IPv4 configuration, if any.
    pub fn ipv4(&self) -> Option<Ipv4State> {
        self.ipv4
    }

    /// Runs the stack once (device I/O, timers, DHCP). Returns true when the
    /// IPv4 configuration changed (for logging).
    pub fn poll_stack(&mut self) -> bool {
        let timestamp = now();
        self.iface.poll(timestamp, &mut self.device, &mut self.sockets);
        self.poll_dhcp()
    }

    /// Serves the HTTP listener slots with `route`.
    pub fn serve(&mut self, route: &mut dyn FnMut(&RequestHead) -> Response) {
        self.serve_http(route);
    }

    /// A TCP socket by handle (for the runtime's P2P and RPC connections).
    pub fn tcp(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(handle)
    }

    /// A socket listening on `port` with `buffer` bytes each way.
    pub fn tcp_listen(&mut self, port: u16, buffer: usize) -> Result<SocketHandle, NetError> {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        socket.listen(port).map_err(NetError::Listen)?;
        Ok(self.sockets.add(socket))
    }

    /// Drops a socket (after `close`/`abort`).
    pub fn remove(&mut self, handle: SocketHandle) {
        self.sockets.remove(handle);
    }

    /// How long the main loop may sleep before the stack needs polling.
    pub fn poll_delay(&mut self) -> Duration {
        self.iface.poll_delay(now(), &self.sockets).unwrap_or(Duration::from_millis(10))
    }

    fn poll_dhcp(&mut self) -> bool {
        let Some(handle) = self.dhcp else { return false };
        let event = self.sockets.get_mut::<dhcpv4::Socket>(handle).poll();
        match event {
            None => false,
            Some(dhcpv4::Event::Configured(config)) => {
                let address = config.address.address();
                let prefix_len = config.address.prefix_len();
                apply_ipv4(&mut self.iface, address, prefix_len, config.router);
                let dns = self.dns_override.or_else(|| config.dns_servers.first().copied());
                self.ipv4 = Some(Ipv4State { address, prefix_len, gateway: config.router, dns });
                true
            }
            Some(dhcpv4::Event::Deconfigured) => {
                // smoltcp also reports Deconfigured once at start; only a
                // lost lease is a change worth reporting.
                let had_lease = self.ipv4.is_some();
                self.iface.update_ip_addrs(|addrs| addrs.clear());
                self.iface.routes_mut().remove_default_ipv4_route();
                self.ipv4 = None;
                had_lease
            }
        }
    }

    fn serve_http(&mut self, route: &mut dyn FnMut(&RequestHead) -> Response) {
        for slot in &mut self.http {
            let socket = self.sockets.get_mut::<tcp::Socket>(slot.handle);
            if !socket.is_open() {
                // Closed (served, reset or timed out): listen again.
                slot.request.clear();
                slot.response = None;
                let _ = socket.listen(self.http_port);
                continue;
            }
            if slot.response.is_none() && socket.can_recv() {
                let mut chunk = [0u8; 1024];
                while let Ok(n) = socket.recv_slice(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    let room = (MAX_HEAD_LEN + 1).saturating_sub(slot.request.len());
                    slot.request.extend_from_slice(&chunk[..n.min(room)]);
                    if room <= n {
                        break;
                    }
                }
                let response = match RequestHead::parse(&slot.request) {
                    Ok(None) => None,
                    Ok(Some(head)) => {
                        let include_body = head.method != tdsigner_node::http::Method::Head;
                        Some(route(&head).to_bytes(include_body))
                    }
                    Err(e) => Some(Response::error(e.status()).to_bytes(true)),
                };
                if let Some(bytes) = response {
                    slot.response = Some((bytes, 0));
                }
            }
            if let Some((bytes, sent)) = &mut slot.response {
                if socket.can_send() {
                    if let Ok(n) = socket.send_slice(&bytes[*sent..]) {
                        *sent += n;
                    }
                }
                if *sent == bytes.len() {
                    socket.close();
                }
            } else if socket.state() == tcp::State::CloseWait {
                // The peer closed its side before sending a whole request head.
                socket.close();
            }
        }
    }
}

impl Network {
    /// Starts resolving `name` to IPv4 addresses.
    pub fn resolve(&mut self, name: &str) -> Result<Resolving, NetError> {
        let server = self.ipv4.and_then(|ip| ip.dns).ok_or(NetError::NotConfigured)?;
        let handle = match self.dns {
            Some(h) => {
                self.sockets.get_mut::<dns::Socket>(h).update_servers(&[IpAddress::Ipv4(server)]);
                h
            }
            None => {
                let slots: Vec<Option<dns::DnsQuery>> = (0..DNS_QUERY_SLOTS).map(|_| None).collect();
                let h = self.sockets.add(dns::Socket::new(&[IpAddress::Ipv4(server)], slots));
                self.dns = Some(h);
                h
            }
        };
        let socket = self.sockets.get_mut::<dns::Socket>(handle);
        socket.start_query(self.iface.context(), name, DnsQueryType::A).map(Resolving).map_err(NetError::Query)
    }

    /// Polls a query. Once it returns `Addresses` or `Failed` the query is
    /// finished and must not be polled again (the value is consumed).
    pub fn poll_resolve(&mut self, query: Resolving) -> Resolved {
        let Some(h) = self.dns else { return Resolved::Failed };
        match self.sockets.get_mut::<dns::Socket>(h).get_query_result(query.0) {
            Ok(addrs) => Resolved::Addresses(
                addrs
                    .iter()
                    .filter_map(|a| match a {
                        IpAddress::Ipv4(v4) => Some(*v4),
                    })
                    .collect(),
            ),
            Err(dns::GetQueryResultError::Pending) => Resolved::Pending,
            Err(dns::GetQueryResultError::Failed) => Resolved::Failed,
        }
    }

    /// Abandons a query that is still pending.
    pub fn cancel_resolve(&mut self, query: Resolving) {
        if let Some(h) = self.dns {
            self.sockets.get_mut::<dns::Socket>(h).cancel_query(query.0);
        }
    }

    /// Opens a TCP connection from an ephemeral port; returns its socket.
    pub fn tcp_connect(&mut self, addr: Ipv4Addr, port: u16, buffer: usize) -> Result<SocketHandle, NetError> {
        if self.ipv4.is_none() {
            return Err(NetError::NotConfigured);
        }
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        let local = self.next_local_port;
        self.next_local_port =
            if local >= *EPHEMERAL_PORTS.end() { *EPHEMERAL_PORTS.start() } else { local + 1 };
        socket.connect(self.iface.context(), (IpAddress::Ipv4(addr), port), local).map_err(NetError::Connect)?;
        Ok(self.sockets.add(socket))
    }

    /// State of a client connection.
    pub fn tcp_state(&self, handle: SocketHandle) -> tcp::State {
        self.sockets.get::<tcp::Socket>(handle).state()
    }

    /// Aborts and removes a client connection.
    pub fn tcp_remove(&mut self, handle: SocketHandle) {
        self.sockets.get_mut::<tcp::Socket>(handle).abort();
        self.sockets.remove(handle);
    }
}

fn apply_ipv4(iface: &mut Interface, address: Ipv4Addr, prefix_len: u8, gateway: Option<Ipv4Addr>) {
    iface.update_ip_addrs(|addrs| {
        addrs.clear();
        let _ = addrs.push(IpCidr::Ipv4(Ipv4Cidr::new(address, prefix_len)));
    });
    match gateway {
        Some(gw) => {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        None => {
            iface.routes_mut().remove_default_ipv4_route();
        }
    }
}
