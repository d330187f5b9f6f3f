//! The handshake input path: hostile bytes arriving on a connection the manager accepted (it is
//! the TLS server) or dialed (it is the TLS client, after its ClientHello), in pieces chosen by
//! the input, with ticks in between. No panic; an unauthenticated peer is never connected and
//! never delivers anything.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tdsigner_p2p::identity::{AccountId, NodeKey, Participant, ParticipantSet, PeerAddr};
use tdsigner_p2p::{Action, Config, ConnId, Event, Manager, ParticipantId};

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
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let me = if mode & 1 == 0 { 1 } else { 0 };
    let mut m = Manager::new(
        ParticipantId(me),
        NodeKey::from_seed(&seed(me)),
        set(),
        Config::default(),
        ChaCha8Rng::seed_from_u64(1),
        0,
    )
    .unwrap();
    let conn = ConnId(9);
    let mut actions = Vec::new();
    if mode & 1 == 0 {
        actions.extend(m.handle_event(0, Event::Accepted { conn }));
    } else {
        // Participant 0 dials participant 1.
        let dial = m
            .handle_event(0, Event::Tick)
            .into_iter()
            .find_map(|a| match a {
                Action::Connect { dial, .. } => Some(dial),
                _ => None,
            });
        let Some(dial) = dial else { return };
        actions.extend(m.handle_event(0, Event::Connected { dial, conn }));
    }
    let mut now = 0;
    while let Some((&n, tail)) = rest.split_first() {
        let n = (n as usize).min(tail.len());
        let (piece, tail) = tail.split_at(n);
        rest = tail;
        now += 10;
        actions.extend(m.handle_event(now, Event::Received { conn, bytes: piece }));
        actions.extend(m.handle_event(now, Event::Tick));
    }
    assert!(actions
        .iter()
        .all(|a| !matches!(a, Action::Deliver(_) | Action::PeerUp(_))));
    assert!(m.connected_peers().is_empty());
});
