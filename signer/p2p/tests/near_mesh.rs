//! near/mpc's connection rules in `near::mesh`, two meshes wired in memory (sans-IO, no
//! sockets, a simulated clock): both connections of a pair, packets, the redial with the next
//! connection id, a restarted peer locked out until the listener's read timeout frees it (as
//! near behaves), and a TLS failure on an open connection freeing the listener's slot.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tdsigner_p2p::near::mesh::{ConnId, Direction, Input, Mesh, Output, Peer, Stage};
use tdsigner_p2p::near::packet::Packet;
use tdsigner_p2p::NodeKey;

const MAX_FRAME: usize = 1 << 20;

fn key(seed: u8) -> Arc<NodeKey> {
    Arc::new(NodeKey::from_seed(&[seed; 32]))
}

fn mesh(me: u32, base: ConnId) -> Mesh {
    let peers = (0..2u32)
        .map(|id| Peer { id, key: key(id as u8 + 1).public_key(), address: format!("node{id}") })
        .collect();
    Mesh::new(me, &key(me as u8 + 1), peers, MAX_FRAME, base).unwrap()
}

/// Two meshes and the sockets between them.
struct Net {
    nodes: [Mesh; 2],
    /// (node, conn) -> (other node, other conn)
    wires: HashMap<(usize, ConnId), (usize, ConnId)>,
    queue: VecDeque<(usize, Input)>,
    events: Vec<(usize, Output)>,
    now: u64,
    next_accept: ConnId,
}

impl Net {
    fn new() -> Net {
        Net { nodes: [mesh(0, 0), mesh(1, 1000)], wires: HashMap::new(), queue: VecDeque::new(), events: vec![], now: 0, next_accept: 1 << 32 }
    }

    fn carry(&mut self, node: usize, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Dial { conn, .. } => {
                    let other = 1 - node;
                    let accepted = self.next_accept;
                    self.next_accept += 1;
                    self.wires.insert((node, conn), (other, accepted));
                    self.wires.insert((other, accepted), (node, conn));
                    self.queue.push_back((other, Input::Accepted { conn: accepted }));
                    self.queue.push_back((node, Input::Dialed { conn }));
                }
                Output::Transmit { conn, bytes } => {
                    if let Some(&(other, oc)) = self.wires.get(&(node, conn)) {
                        self.queue.push_back((other, Input::Received { conn: oc, bytes }));
                    }
                }
                Output::Close { conn } => {
                    if let Some((other, oc)) = self.wires.remove(&(node, conn)) {
                        self.wires.remove(&(other, oc));
                        self.queue.push_back((other, Input::SocketClosed { conn: oc }));
                    }
                }
                event => self.events.push((node, event)),
            }
        }
    }

    fn run(&mut self) {
        while let Some((node, input)) = self.queue.pop_front() {
            let out = self.nodes[node].handle(self.now, input);
            self.carry(node, out);
        }
    }

    /// Advances the clock by `ms` in 100 ms ticks.
    fn advance(&mut self, ms: u64) {
        for _ in 0..ms / 100 {
            self.now += 100;
            for node in 0..2 {
                let out = self.nodes[node].handle(self.now, Input::Tick);
                self.carry(node, out);
            }
            self.run();
        }
    }

    fn take_events(&mut self) -> Vec<(usize, Output)> {
        std::mem::take(&mut self.events)
    }

    /// `node`'s live sockets, as the wire map knows them.
    fn conns(&self, node: usize) -> Vec<ConnId> {
        self.wires.keys().filter(|(n, _)| *n == node).map(|(_, c)| *c).collect()
    }
}

fn connected(events: &[(usize, Output)], node: usize, direction: Direction) -> Option<u32> {
    events.iter().find_map(|(n, o)| match o {
        Output::Connected { direction: d, handshake, .. } if *n == node && *d == direction => Some(handshake.sender_connection_id),
        _ => None,
    })
}

#[test]
fn a_pair_connects_both_ways_and_packets_flow_on_the_dialed_side() {
    let mut net = Net::new();
    net.advance(200);
    let events = net.take_events();
    for node in 0..2 {
        assert_eq!(connected(&events, node, Direction::Out), Some(0), "{events:?}");
        assert_eq!(connected(&events, node, Direction::In), Some(0), "{events:?}");
        assert!(net.nodes[node].is_bidirectional(1 - node as u32));
    }
    let out = net.nodes[0].send(1, &Packet::IndexerHeight { height: 7 }).unwrap();
    net.carry(0, out);
    net.run();
    let events = net.take_events();
    assert!(events.iter().any(|(n, o)| *n == 1 && matches!(o, Output::Packet { peer: 0, packet: Packet::IndexerHeight { height: 7 }, .. })));
    // Pings every 5 s keep the receive side's 30 s timeout from firing.
    net.advance(40_000);
    let events = net.take_events();
    assert!(events.iter().all(|(_, o)| !matches!(o, Output::Closed { .. })), "{events:?}");
    assert!(events.iter().filter(|(n, o)| *n == 1 && matches!(o, Output::Packet { packet: Packet::Ping, .. })).count() >= 7);
}

#[test]
fn a_closed_connection_is_redialed_at_once_with_the_next_id() {
    let mut net = Net::new();
    net.advance(200);
    net.take_events();
    // Node 0's dialed socket ends (both sides see it).
    let out_conn = net.conns(0).into_iter().find(|c| *c < 1000).unwrap();
    let out = net.nodes[0].handle(net.now, Input::SocketClosed { conn: out_conn });
    net.carry(0, out);
    net.run();
    net.advance(100);
    let events = net.take_events();
    assert_eq!(connected(&events, 1, Direction::In), Some(1), "redial carries id 1: {events:?}");
    assert!(net.nodes[1].is_bidirectional(0));
}

#[test]
fn a_restarted_peer_is_refused_until_the_stale_connection_times_out() {
    let mut net = Net::new();
    net.advance(200);
    net.take_events();
    // Node 0 restarts without closing anything: node 1 still holds its incoming id 0.
    for conn in net.conns(0) {
        if let Some(other) = net.wires.remove(&(0, conn)) {
            net.wires.remove(&other);
        }
    }
    net.nodes[0] = mesh(0, 5000);
    net.advance(3_000);
    let events = net.take_events();
    assert!(
        events.iter().any(|(n, o)| *n == 1 && matches!(o, Output::Rejected { stage: Stage::ConnectionId, .. })),
        "the listener refuses the fresh id 0, below the live connection's: {events:?}"
    );
    assert!(events.iter().any(|(n, o)| *n == 0 && matches!(o, Output::Rejected { stage: Stage::ConnectionId, .. })));
    assert_eq!(connected(&events, 1, Direction::In), None);
    // 30 s without a frame frees the slot; the next retry (same id 0) is accepted.
    net.advance(30_000);
    let events = net.take_events();
    assert!(events.iter().any(|(n, o)| *n == 1 && matches!(o, Output::Closed { direction: Direction::In, .. })));
    assert_eq!(connected(&events, 1, Direction::In), Some(0), "{events:?}");
}

#[test]
fn garbage_on_an_open_connection_frees_the_listeners_slot() {
    let mut net = Net::new();
    net.advance(200);
    net.take_events();
    // Bytes that are not TLS arrive on node 1's accepted connection.
    let accepted = net.conns(1).into_iter().find(|c| *c >= 1 << 32).unwrap();
    let out = net.nodes[1].handle(net.now, Input::Received { conn: accepted, bytes: vec![0x17; 64] });
    net.carry(1, out);
    net.run();
    let events = net.take_events();
    assert!(events.iter().any(|(n, o)| *n == 1 && matches!(o, Output::Closed { direction: Direction::In, .. })), "{events:?}");
    assert!(!net.nodes[1].is_bidirectional(0));
    // Node 0 redials with id 1 and is accepted: the broken connection no longer holds the slot.
    net.advance(200);
    let events = net.take_events();
    assert_eq!(connected(&events, 1, Direction::In), Some(1), "{events:?}");
}
