//! Hostile peers against one manager: unregistered keys, a participant claiming another's id,
//! a wrong server at a dialed address, replayed / reordered / misrouted frames from an
//! authenticated peer, oversize frames, and a replayed TLS transcript.

mod common;

use std::sync::Arc;

use common::{key_of, seed_of, set_of};
use rand_chacha::ChaCha8Rng;
use tdsigner_p2p::frame::{encode_frame, Control, Hello, PROTOCOL_VERSION};
use tdsigner_p2p::tls::{client_config, server_config, TlsSession};
use tdsigner_p2p::{
    Action, Channel, CloseReason, Config, ConnId, Event, Manager, Message, NodeKey, ParticipantId,
    SetupError,
};

/// A hand-driven TLS client talking to a manager on one connection.
struct Raw {
    tls: TlsSession,
    /// Bytes the raw client sent (to replay a transcript).
    transcript: Vec<u8>,
    from_manager: Vec<u8>,
}

const CONN: ConnId = ConnId(77);

impl Raw {
    /// A client with key `seed` that expects the manager's (participant `server`) key.
    fn new(seed: [u8; 32], server: u32) -> Raw {
        let key = Arc::new(NodeKey::from_seed(&seed));
        let cfg = client_config(&key, key_of(server)).unwrap();
        Raw {
            tls: TlsSession::client(&cfg).unwrap(),
            transcript: Vec::new(),
            from_manager: Vec::new(),
        }
    }

    /// Exchanges bytes until quiet; returns the manager's non-Send actions.
    fn exchange(&mut self, m: &mut Manager<ChaCha8Rng>, now: u64) -> Vec<Action> {
        let mut other = Vec::new();
        for _ in 0..20 {
            let out = self.tls.take_outgoing();
            if out.is_empty() {
                break;
            }
            self.transcript.extend_from_slice(&out);
            for a in m.handle_event(
                now,
                Event::Received {
                    conn: CONN,
                    bytes: &out,
                },
            ) {
                match a {
                    Action::Send { conn, bytes } => {
                        assert_eq!(conn, CONN);
                        if let Ok(p) = self.tls.receive(&bytes) {
                            self.from_manager.extend(p);
                        }
                    }
                    a => other.push(a),
                }
            }
        }
        other
    }

    fn frame(&mut self, channel: u8, session: [u8; 32], seq: u64, payload: &[u8]) {
        let mut b = Vec::new();
        encode_frame(&mut b, channel, &session, seq, payload).unwrap();
        self.tls.write(&b).unwrap();
    }

    fn hello(&mut self, claimed: u32) {
        let h = Control::Hello(Hello {
            version: PROTOCOL_VERSION,
            claimed: ParticipantId(claimed),
            incarnation: 5,
            peer_incarnation: 0,
            acks: vec![],
        });
        self.frame(0, [0; 32], 0, &h.encode());
    }
}

/// Manager for participant 0 of a 4-set, with an inbound connection accepted.
fn server_side(config: Config) -> Manager<ChaCha8Rng> {
    let set = set_of(4);
    let mut m = common::manager(0, &set, config, 5, 0);
    let acts = m.handle_event(0, Event::Accepted { conn: CONN });
    assert!(acts.is_empty());
    m
}

fn closes(actions: &[Action]) -> Vec<CloseReason> {
    actions
        .iter()
        .filter_map(|a| {
            if let Action::Close { reason, .. } = a {
                Some(reason.clone())
            } else {
                None
            }
        })
        .collect()
}

fn delivered(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| {
            if let Action::Deliver(m) = a {
                Some(m.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn impostor_with_an_unregistered_key_is_rejected() {
    let mut m = server_side(Config::default());
    let mut raw = Raw::new([0x99; 32], 0);
    raw.hello(1);
    let acts = raw.exchange(&mut m, 1);
    let c = closes(&acts);
    assert_eq!(c.len(), 1);
    assert!(
        matches!(&c[0], CloseReason::Tls(e) if e.is_key_refused_here()),
        "{c:?}"
    );
    assert_eq!(m.metrics().auth_rejected_key, 1);
    assert!(delivered(&acts).is_empty());
    assert!(!acts.iter().any(|a| matches!(a, Action::PeerUp(_))));
    // A TLS 1.3 client considers itself done after its Finished; what matters is that the
    // manager never spoke to it at the application layer (no hello).
    assert!(raw.from_manager.is_empty());
}

#[test]
fn participant_claiming_another_id_is_rejected() {
    let mut m = server_side(Config::default());
    // Participant 1's real key, but the hello claims participant 2.
    let mut raw = Raw::new(seed_of(1), 0);
    raw.hello(2);
    raw.frame(Channel::COORDINATION.number(), [0; 32], 1, b"as if from 2");
    let acts = raw.exchange(&mut m, 1);
    assert_eq!(
        closes(&acts),
        vec![CloseReason::ClaimMismatch {
            claimed: ParticipantId(2),
            authenticated: ParticipantId(1)
        }]
    );
    assert_eq!(m.metrics().auth_rejected_claim, 1);
    assert!(delivered(&acts).is_empty());
    assert!(!m.is_connected(ParticipantId(1)) && !m.is_connected(ParticipantId(2)));
}

#[test]
fn dialer_rejects_a_server_that_is_not_the_dialed_participant() {
    for (server_seed, label) in [
        ([0x99u8; 32], "unregistered key"),
        (seed_of(2), "participant 2's key"),
    ] {
        let set = set_of(4);
        let mut m = common::manager(0, &set, Config::default(), 5, 0);
        let dial = m
            .handle_event(0, Event::Tick)
            .into_iter()
            .find_map(|a| match a {
                Action::Connect {
                    dial,
                    peer: ParticipantId(1),
                    ..
                } => Some(dial),
                _ => None,
            })
            .unwrap();
        let mut acts = m.handle_event(0, Event::Connected { dial, conn: CONN });
        let key = Arc::new(NodeKey::from_seed(&server_seed));
        let mut server = TlsSession::server(&server_config(&key, [key_of(0)]).unwrap()).unwrap();
        let mut all = Vec::new();
        for _ in 0..10 {
            let mut next = Vec::new();
            for a in acts {
                match a {
                    Action::Send { bytes, .. } => {
                        let _ = server.receive(&bytes);
                        let out = server.take_outgoing();
                        if !out.is_empty() {
                            next.extend(m.handle_event(
                                1,
                                Event::Received {
                                    conn: CONN,
                                    bytes: &out,
                                },
                            ));
                        }
                    }
                    a => all.push(a),
                }
            }
            acts = next;
        }
        let c = closes(&all);
        assert!(
            matches!(c.as_slice(), [CloseReason::Tls(e)] if e.is_key_refused_here()),
            "{label}: {c:?}"
        );
        assert_eq!(m.metrics().auth_rejected_key, 1, "{label}");
        assert!(!m.is_connected(ParticipantId(1)));
    }
}

#[test]
fn replayed_reordered_and_misrouted_frames_are_dropped_and_counted() {
    let mut m = server_side(Config::default());
    let open = [1u8; 32];
    let closed = [2u8; 32];
    m.open_session(Channel::SIGN, open, &[ParticipantId(0), ParticipantId(1)]);
    m.open_session(
        Channel::TRIPLES,
        open,
        &[ParticipantId(0), ParticipantId(2)],
    );
    m.close_session(Channel::SIGN, closed);
    let mut raw = Raw::new(seed_of(1), 0);
    raw.hello(1);
    let acts = raw.exchange(&mut m, 1);
    assert!(acts.contains(&Action::PeerUp(ParticipantId(1))), "{acts:?}");
    assert!(closes(&acts).is_empty());
    // The manager's hello came back.
    let mut dec = tdsigner_p2p::FrameDecoder::new(1 << 20);
    dec.push(&raw.from_manager).unwrap();
    let f = dec.next_frame().unwrap().unwrap();
    assert!(
        matches!(Control::decode(&f.payload), Ok(Control::Hello(h)) if h.claimed == ParticipantId(0))
    );

    let sign = Channel::SIGN.number();
    raw.frame(sign, open, 1, b"one");
    raw.frame(sign, open, 1, b"one again"); // replay
    raw.frame(sign, open, 3, b"three"); // gap
    raw.frame(sign, open, 2, b"two");
    raw.frame(sign, open, 2, b"two again"); // replay
    raw.frame(sign, closed, 3, b"closed session"); // misrouted (sequence advances)
    raw.frame(Channel::TRIPLES.number(), open, 1, b"not a member"); // misrouted
    raw.frame(sign, open, 4, b"four");
    let acts = raw.exchange(&mut m, 2);
    let d: Vec<Vec<u8>> = delivered(&acts).into_iter().map(|m| m.payload).collect();
    assert_eq!(d, vec![b"one".to_vec(), b"two".to_vec(), b"four".to_vec()]);
    assert!(closes(&acts).is_empty(), "dropping is not closing");
    let mt = m.metrics();
    assert_eq!(
        (mt.frames_replayed, mt.frames_reordered, mt.frames_misrouted),
        (2, 1, 2)
    );
    let pm = m.peer_metrics(ParticipantId(1)).unwrap();
    assert_eq!(
        (pm.frames_replayed, pm.frames_reordered, pm.frames_misrouted),
        (2, 1, 2)
    );
    assert!(delivered(&acts)
        .iter()
        .all(|x| x.from == ParticipantId(1) && x.channel == Channel::SIGN));

    // A control channel acknowledgement of frames never sent is a protocol violation.
    let ack = Control::Ack(vec![(Channel::SIGN, 9)]);
    raw.frame(0, [0; 32], 0, &ack.encode());
    let acts = raw.exchange(&mut m, 3);
    assert!(matches!(
        closes(&acts).as_slice(),
        [CloseReason::ProtocolViolation(_)]
    ));
    assert_eq!(m.metrics().protocol_violations, 1);
    assert!(acts.contains(&Action::PeerDown(ParticipantId(1))));
}

#[test]
fn oversize_frame_closes_the_connection_before_it_is_buffered() {
    let cfg = Config {
        max_payload: 1024,
        ..Config::default()
    };
    let mut m = server_side(cfg);
    let mut raw = Raw::new(seed_of(1), 0);
    raw.hello(1);
    raw.exchange(&mut m, 1);
    assert!(m.is_connected(ParticipantId(1)));
    // Just the length prefix of a 1025-byte payload: refused without waiting for the body.
    let body = (tdsigner_p2p::frame::HEADER_BYTES + 1025) as u32;
    raw.tls.write(&body.to_le_bytes()).unwrap();
    let acts = raw.exchange(&mut m, 2);
    assert_eq!(
        closes(&acts),
        vec![CloseReason::Frame(tdsigner_p2p::FrameError::TooLarge {
            payload_len: 1025,
            max: 1024
        })]
    );
    assert_eq!(m.metrics().frames_oversize, 1);
    assert!(!m.is_connected(ParticipantId(1)));
}

#[test]
fn data_before_hello_and_garbage_control_are_refused() {
    let mut m = server_side(Config::default());
    let mut raw = Raw::new(seed_of(1), 0);
    raw.frame(Channel::COORDINATION.number(), [0; 32], 1, b"no hello");
    let acts = raw.exchange(&mut m, 1);
    assert_eq!(
        closes(&acts),
        vec![CloseReason::ProtocolViolation("data before hello")]
    );
    assert!(delivered(&acts).is_empty());

    let mut m = server_side(Config::default());
    let mut raw = Raw::new(seed_of(1), 0);
    raw.frame(0, [0; 32], 0, &[0xee, 1, 2]);
    let acts = raw.exchange(&mut m, 1);
    assert_eq!(
        closes(&acts),
        vec![CloseReason::ProtocolViolation("malformed control message")]
    );

    let mut m = server_side(Config::default());
    let mut raw = Raw::new(seed_of(1), 0);
    let h = Control::Hello(Hello {
        version: 9,
        claimed: ParticipantId(1),
        incarnation: 5,
        peer_incarnation: 0,
        acks: vec![],
    });
    raw.frame(0, [0; 32], 0, &h.encode());
    let acts = raw.exchange(&mut m, 1);
    assert_eq!(closes(&acts), vec![CloseReason::VersionMismatch(9)]);
}

#[test]
fn replayed_tls_transcript_gets_nowhere() {
    let mut m = server_side(Config::default());
    let mut raw = Raw::new(seed_of(1), 0);
    raw.hello(1);
    raw.frame(Channel::COORDINATION.number(), [0; 32], 1, b"once");
    let acts = raw.exchange(&mut m, 1);
    assert_eq!(delivered(&acts).len(), 1);
    let transcript = raw.transcript.clone();
    // Same bytes on a fresh connection: the server's new randomness breaks the handshake.
    let c2 = ConnId(78);
    m.handle_event(2, Event::Accepted { conn: c2 });
    let acts = m.handle_event(
        2,
        Event::Received {
            conn: c2,
            bytes: &transcript,
        },
    );
    assert!(delivered(&acts).is_empty());
    assert!(
        matches!(closes(&acts).as_slice(), [CloseReason::Tls(_)]),
        "{acts:?}"
    );
    assert!(
        m.is_connected(ParticipantId(1)),
        "the real connection is untouched"
    );
}

#[test]
fn handshake_timeout_and_unauthenticated_flood_are_bounded() {
    let cfg = Config {
        max_unauthenticated_inbound: 2,
        connect_timeout_ms: 1_000,
        ..Config::default()
    };
    let set = set_of(3);
    let mut m = common::manager(2, &set, cfg, 1, 0);
    for c in 1..=2 {
        assert!(m
            .handle_event(0, Event::Accepted { conn: ConnId(c) })
            .is_empty());
    }
    let acts = m.handle_event(0, Event::Accepted { conn: ConnId(3) });
    assert_eq!(closes(&acts), vec![CloseReason::TooManyUnauthenticated]);
    let acts = m.handle_event(1_001, Event::Tick);
    assert_eq!(
        closes(&acts),
        vec![CloseReason::HandshakeTimeout, CloseReason::HandshakeTimeout]
    );
    assert_eq!(m.metrics().handshake_timeouts, 2);
}

#[test]
fn manager_refuses_a_set_that_registers_another_key_for_it() {
    let set = set_of(3);
    let e = Manager::new(
        ParticipantId(1),
        NodeKey::from_seed(&[0x42; 32]),
        set.clone(),
        Config::default(),
        common_rng(),
        0,
    )
    .unwrap_err();
    assert!(matches!(e, SetupError::KeyMismatch { .. }));
    let e = Manager::new(
        ParticipantId(7),
        NodeKey::from_seed(&seed_of(7)),
        set,
        Config::default(),
        common_rng(),
        0,
    )
    .unwrap_err();
    assert_eq!(e, SetupError::NotInSet(ParticipantId(7)));
}

fn common_rng() -> ChaCha8Rng {
    rand_chacha::rand_core::SeedableRng::seed_from_u64(1)
}

#[test]
fn removing_a_peer_from_the_set_disconnects_it_and_refuses_it() {
    let mut m = server_side(Config::default());
    let mut raw = Raw::new(seed_of(3), 0);
    raw.hello(3);
    raw.exchange(&mut m, 1);
    assert!(m.is_connected(ParticipantId(3)));
    // Sent but never acknowledged by the raw peer.
    m.send(
        1,
        ParticipantId(3),
        Channel::COORDINATION,
        [0; 32],
        b"x".to_vec(),
    )
    .unwrap();
    let smaller =
        tdsigner_p2p::ParticipantSet::new((0..3).map(common::participant).collect()).unwrap();
    let acts = m.update_participants(2, smaller).unwrap();
    assert_eq!(closes(&acts), vec![CloseReason::PeerRemoved]);
    assert!(acts.contains(&Action::PeerDown(ParticipantId(3))));
    assert_eq!(m.metrics().dropped_peer_removed, 1);
    // It cannot come back: its key is no longer accepted.
    m.handle_event(3, Event::Accepted { conn: CONN });
    let mut raw = Raw::new(seed_of(3), 0);
    raw.hello(3);
    let acts = raw.exchange(&mut m, 3);
    assert!(matches!(closes(&acts).as_slice(), [CloseReason::Tls(e)] if e.is_key_refused_here()));
    assert_eq!(
        m.send(4, ParticipantId(3), Channel::SIGN, [0; 32], vec![]),
        Err(tdsigner_p2p::SendError::UnknownPeer(ParticipantId(3)))
    );
}
