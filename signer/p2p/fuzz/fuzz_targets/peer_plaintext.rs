//! What an authenticated peer can send after the handshake and its hello: hostile plaintext
//! (frames, acks, a second hello, junk), written through a real TLS session with participant 1's
//! key into a manager (participant 0) that has one session open. No panic; every delivery comes from participant 1
//! on a channel that is sessionless or open to it, with an in-order sequence.
#![no_main]
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdsigner_p2p::frame::{encode_frame, Control, Hello, PROTOCOL_VERSION};
use tdsigner_p2p::identity::{AccountId, NodeKey, Participant, ParticipantSet, PeerAddr};
use tdsigner_p2p::tls::{client_config, TlsSession};
use tdsigner_p2p::{Action, Channel, Config, ConnId, Event, Manager, ParticipantId};

fn seed(i: u32) -> [u8; 32] {
    let mut s = [7u8; 32];
    s[..4].copy_from_slice(&i.to_le_bytes());
    s
}

fn set() -> ParticipantSet {
    ParticipantSet::new(
        (0..3)
            .map(|i| Participant {
                id: ParticipantId(i),
                account: AccountId::parse(&format!("n{i}.near")).unwrap(),
                tls_key: NodeKey::from_seed(&seed(i)).public_key(),
                addr: PeerAddr::new(&format!("10.0.0.{i}"), 1).unwrap(),
            })
            .collect(),
    )
    .unwrap()
}

fuzz_target!(|data: &[u8]| {
    let cfg = Config {
        max_payload: 4096,
        ..Config::default()
    };
    let mut m = Manager::new(
        ParticipantId(0),
        NodeKey::from_seed(&seed(0)),
        set(),
        cfg,
        ChaCha8Rng::seed_from_u64(1),
        0,
    )
    .unwrap();
    m.open_session(
        Channel::SIGN,
        [1; 32],
        &[ParticipantId(0), ParticipantId(1)],
    );
    let conn = ConnId(3);
    let _ = m.handle_event(0, Event::Accepted { conn });
    let key = Arc::new(NodeKey::from_seed(&seed(1)));
    let mut client = TlsSession::client(
        &client_config(&key, NodeKey::from_seed(&seed(0)).public_key()).unwrap(),
    )
    .unwrap();
    let mut actions = Vec::new();
    let mut rest = data;
    let mut now = 0;
    // Handshake first, then the fuzz input as plaintext in pieces.
    let mut hello = Vec::new();
    let h = Control::Hello(Hello {
        version: PROTOCOL_VERSION,
        claimed: ParticipantId(1),
        incarnation: 3,
        peer_incarnation: 0,
        acks: vec![],
    });
    encode_frame(&mut hello, 0, &[0; 32], 0, &h.encode()).unwrap();
    client.write(&hello).unwrap();
    for round in 0..64 {
        if round >= 3 {
            assert!(
                m.is_connected(ParticipantId(1))
                    || actions.iter().any(|a| matches!(a, Action::Close { .. }))
            );
            let Some((&n, tail)) = rest.split_first() else {
                break;
            };
            let n = (n as usize).min(tail.len());
            let (piece, tail) = tail.split_at(n);
            rest = tail;
            if client.write(piece).is_err() {
                break;
            }
        }
        let out = client.take_outgoing();
        now += 5;
        for a in m.handle_event(now, Event::Received { conn, bytes: &out }) {
            match a {
                Action::Send { bytes, .. } => {
                    let _ = client.receive(&bytes);
                }
                a => actions.push(a),
            }
        }
        if actions.iter().any(|a| matches!(a, Action::Close { .. })) {
            break;
        }
    }
    for a in &actions {
        if let Action::Deliver(msg) = a {
            assert_eq!(msg.from, ParticipantId(1));
            assert!(
                msg.channel == Channel::COORDINATION
                    || (msg.channel == Channel::SIGN && msg.session == [1; 32])
            );
        }
    }
    let mt = m.metrics();
    assert!(mt.messages_delivered <= mt.frames_received);
});
