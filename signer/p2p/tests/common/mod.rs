//! A simulated network for managers: TCP-like links (ordered bytes per direction, delivered in
//! random chunk sizes, links served in random order), with injected connection resets, refused
//! dials and node restarts. Deterministic for a given seed (apart from TLS's own randomness).
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tdsigner_p2p::{
    Action, Channel, Config, ConnId, DialId, Event, Manager, Message, NodeKey, Participant,
    ParticipantId, ParticipantSet, PeerAddr, TlsPublicKey,
};

pub fn seed_of(i: u32) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..4].copy_from_slice(&i.to_le_bytes());
    s[31] = 0x5a;
    s
}

pub fn key_of(i: u32) -> TlsPublicKey {
    NodeKey::from_seed(&seed_of(i)).public_key()
}

pub fn participant(i: u32) -> Participant {
    Participant {
        id: ParticipantId(i),
        account: tdsigner_p2p::AccountId::parse(&format!("node{i}.near")).unwrap(),
        tls_key: key_of(i),
        addr: PeerAddr::parse_host_port(&format!("10.0.0.{}:3000", i + 1)).unwrap(),
    }
}

pub fn set_of(n: u32) -> ParticipantSet {
    ParticipantSet::new((0..n).map(participant).collect()).unwrap()
}

pub fn manager(
    i: u32,
    set: &ParticipantSet,
    config: Config,
    rng_seed: u64,
    now: u64,
) -> Manager<ChaCha8Rng> {
    Manager::new(
        ParticipantId(i),
        NodeKey::from_seed(&seed_of(i)),
        set.clone(),
        config,
        ChaCha8Rng::seed_from_u64(rng_seed),
        now,
    )
    .unwrap()
}

/// One direction of a link.
#[derive(Default)]
struct Pipe {
    bytes: VecDeque<u8>,
    /// The sender closed: after the bytes drain, the receiver gets `Closed`.
    fin: bool,
}

struct Link {
    ends: [(usize, ConnId); 2],
    pipes: [Pipe; 2],
}

pub struct Node {
    pub mgr: Option<Manager<ChaCha8Rng>>,
    pub delivered: Vec<Message>,
    pub ups: u64,
    pub downs: u64,
    pub closes: Vec<tdsigner_p2p::CloseReason>,
    pub restarts: u64,
}

pub struct Sim {
    pub rng: ChaCha8Rng,
    pub now: u64,
    pub nodes: Vec<Node>,
    pub set: ParticipantSet,
    pub config: Config,
    links: Vec<Option<Link>>,
    conn_index: BTreeMap<(usize, ConnId), (usize, usize)>,
    next_conn: u64,
    /// Probability (per million, per step) that a random live link is reset.
    pub reset_ppm: u32,
    /// Probability (per million) that a dial is refused.
    pub refuse_ppm: u32,
    /// Probability (per million, per step) that a random live link dies with only one end told
    /// (the other end keeps a half-open connection until it notices by itself).
    pub half_open_ppm: u32,
    /// Half-open links injected so far.
    pub half_opens: u64,
    /// Which node answers at a participant's address (default: itself).
    pub addr_owner: BTreeMap<PeerAddr, usize>,
    pub bytes_moved: u64,
}

impl Sim {
    pub fn new(n: u32, seed: u64, config: Config) -> Sim {
        let set = set_of(n);
        let mut addr_owner = BTreeMap::new();
        for p in set.iter() {
            addr_owner.insert(p.addr.clone(), p.id.0 as usize);
        }
        let nodes = (0..n)
            .map(|i| Node {
                mgr: Some(manager(
                    i,
                    &set,
                    config.clone(),
                    seed.wrapping_mul(1000).wrapping_add(i as u64),
                    0,
                )),
                delivered: Vec::new(),
                ups: 0,
                downs: 0,
                closes: Vec::new(),
                restarts: 0,
            })
            .collect();
        Sim {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 0,
            nodes,
            set,
            config,
            links: Vec::new(),
            conn_index: BTreeMap::new(),
            next_conn: 1,
            reset_ppm: 0,
            refuse_ppm: 0,
            half_open_ppm: 0,
            half_opens: 0,
            addr_owner,
            bytes_moved: 0,
        }
    }

    pub fn mgr(&mut self, i: usize) -> &mut Manager<ChaCha8Rng> {
        self.nodes[i].mgr.as_mut().expect("node is up")
    }

    fn new_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    pub fn event(&mut self, node: usize, ev: Event<'_>) {
        let now = self.now;
        let Some(m) = self.nodes[node].mgr.as_mut() else {
            return;
        };
        let actions = m.handle_event(now, ev);
        self.apply(node, actions);
    }

    pub fn send(
        &mut self,
        from: usize,
        to: u32,
        channel: Channel,
        session: [u8; 32],
        payload: Vec<u8>,
    ) -> Result<(), tdsigner_p2p::SendError> {
        let now = self.now;
        let actions = self
            .mgr(from)
            .send(now, ParticipantId(to), channel, session, payload)?;
        self.apply(from, actions);
        Ok(())
    }

    pub fn open_session(
        &mut self,
        node: usize,
        channel: Channel,
        session: [u8; 32],
        members: &[ParticipantId],
    ) {
        let actions = self.mgr(node).open_session(channel, session, members);
        self.apply(node, actions);
    }

    pub fn apply(&mut self, node: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Connect { dial, addr, .. } => self.connect(node, dial, addr),
                Action::Send { conn, bytes } => {
                    if let Some(&(l, side)) = self.conn_index.get(&(node, conn)) {
                        if let Some(link) = self.links[l].as_mut() {
                            link.pipes[side].bytes.extend(bytes);
                        }
                    }
                }
                Action::Close { conn, reason } => {
                    self.nodes[node].closes.push(reason);
                    if let Some((l, side)) = self.conn_index.remove(&(node, conn)) {
                        if let Some(link) = self.links[l].as_mut() {
                            link.pipes[side].fin = true;
                            // Bytes towards the closer are discarded.
                            link.pipes[1 - side].bytes.clear();
                            link.ends[side].1 = ConnId(u64::MAX);
                        }
                    }
                }
                Action::Deliver(m) => self.nodes[node].delivered.push(m),
                Action::PeerUp(_) => self.nodes[node].ups += 1,
                Action::PeerDown(_) => self.nodes[node].downs += 1,
            }
        }
    }

    fn connect(&mut self, node: usize, dial: DialId, addr: PeerAddr) {
        let target = self.addr_owner.get(&addr).copied();
        let refused = (self.rng.next_u32() % 1_000_000) < self.refuse_ppm;
        match target {
            Some(t) if !refused && self.nodes[t].mgr.is_some() => {
                let (ca, cb) = (self.new_conn(), self.new_conn());
                let l = self.links.len();
                self.links.push(Some(Link {
                    ends: [(node, ca), (t, cb)],
                    pipes: [Pipe::default(), Pipe::default()],
                }));
                self.conn_index.insert((node, ca), (l, 0));
                self.conn_index.insert((t, cb), (l, 1));
                self.event(t, Event::Accepted { conn: cb });
                self.event(node, Event::Connected { dial, conn: ca });
            }
            _ => self.event(node, Event::ConnectFailed { dial }),
        }
    }

    /// Resets link `l`: both live ends hear `Closed`, bytes in flight are lost.
    pub fn reset_link(&mut self, l: usize) {
        let Some(link) = self.links[l].take() else {
            return;
        };
        for (node, conn) in link.ends {
            if self.conn_index.remove(&(node, conn)).is_some() {
                self.event(node, Event::Closed { conn });
            }
        }
    }

    pub fn live_links(&self) -> Vec<usize> {
        self.links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_some())
            .map(|(i, _)| i)
            .collect()
    }

    /// Crashes node `i` (its links reset) and starts a fresh process with a new incarnation.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].mgr = None;
        for l in 0..self.links.len() {
            let involved = self.links[l]
                .as_ref()
                .is_some_and(|k| k.ends.iter().any(|(n, _)| *n == i));
            if involved {
                self.reset_link(l);
            }
        }
        self.nodes[i].restarts += 1;
        // The new process remembers nothing it received.
        self.nodes[i].delivered.clear();
        let seed = self.rng.next_u64();
        self.nodes[i].mgr = Some(manager(
            i as u32,
            &self.set.clone(),
            self.config.clone(),
            seed,
            self.now,
        ));
    }

    /// One step: advance time, maybe reset a link, deliver one random chunk on one random pipe,
    /// and tick every node.
    pub fn step(&mut self, max_dt: u64) {
        self.now += self.rng.next_u64() % (max_dt + 1);
        if self.reset_ppm > 0 && (self.rng.next_u32() % 1_000_000) < self.reset_ppm {
            let live = self.live_links();
            if !live.is_empty() {
                let l = live[(self.rng.next_u32() as usize) % live.len()];
                self.reset_link(l);
            }
        }
        if self.half_open_ppm > 0 && (self.rng.next_u32() % 1_000_000) < self.half_open_ppm {
            let live = self.live_links();
            if !live.is_empty() {
                let l = live[(self.rng.next_u32() as usize) % live.len()];
                let told = (self.rng.next_u32() % 2) as usize;
                if let Some(link) = self.links[l].take() {
                    self.half_opens += 1;
                    let (node, conn) = link.ends[told];
                    if self.conn_index.remove(&(node, conn)).is_some() {
                        self.event(node, Event::Closed { conn });
                    }
                    // The other end's connection id stays mapped to the dead link: what it sends
                    // is lost and nothing arrives.
                }
            }
        }
        // Pipes with something to do.
        let mut ready = Vec::new();
        for (l, link) in self.links.iter().enumerate() {
            if let Some(link) = link {
                for side in 0..2 {
                    if !link.pipes[side].bytes.is_empty() || link.pipes[side].fin {
                        ready.push((l, side));
                    }
                }
            }
        }
        if !ready.is_empty() {
            for _ in 0..4 {
                let (l, side) = ready[(self.rng.next_u32() as usize) % ready.len()];
                self.move_bytes(l, side);
            }
        }
        for i in 0..self.nodes.len() {
            self.event(i, Event::Tick);
        }
    }

    fn move_bytes(&mut self, l: usize, side: usize) {
        let Some(link) = self.links[l].as_mut() else {
            return;
        };
        let (to_node, to_conn) = link.ends[1 - side];
        let pipe = &mut link.pipes[side];
        if pipe.bytes.is_empty() {
            if pipe.fin {
                self.links[l] = None;
                if self.conn_index.remove(&(to_node, to_conn)).is_some() {
                    self.event(to_node, Event::Closed { conn: to_conn });
                }
            }
            return;
        }
        let max = pipe.bytes.len();
        let n = match self.rng.next_u32() % 4 {
            0 => 1 + (self.rng.next_u32() as usize) % max.min(64),
            1 => max,
            _ => 1 + (self.rng.next_u32() as usize) % max,
        };
        let chunk: Vec<u8> = pipe.bytes.drain(..n).collect();
        self.bytes_moved += n as u64;
        if to_conn.0 != u64::MAX && self.conn_index.contains_key(&(to_node, to_conn)) {
            self.event(
                to_node,
                Event::Received {
                    conn: to_conn,
                    bytes: &chunk,
                },
            );
        }
    }

    /// Steps until `done` holds or `max_steps` pass; returns whether it held.
    pub fn run_until(
        &mut self,
        max_steps: usize,
        max_dt: u64,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> bool {
        for _ in 0..max_steps {
            if done(self) {
                return true;
            }
            self.step(max_dt);
        }
        done(self)
    }

    pub fn all_connected(&self) -> bool {
        let n = self.nodes.len();
        self.nodes.iter().all(|node| {
            node.mgr
                .as_ref()
                .is_some_and(|m| m.connected_peers().len() == n - 1)
        })
    }
}
